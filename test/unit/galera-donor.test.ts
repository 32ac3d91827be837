import { describe, expect, it } from 'vitest';
import { chooseGaleraDonor, type GaleraNodeState } from '../../domain/galera-donor';

const synced = (address: string, isPrimary = false): GaleraNodeState => ({
  address,
  isPrimary,
  localState: 4,
  ready: true,
  clusterStatus: 'Primary',
});

describe('chooseGaleraDonor', () => {
  it('prefers a synced node that is not the write primary, in the given order', () => {
    const choice = chooseGaleraDonor([synced('db-0:3306', true), synced('db-1:3306'), synced('db-2:3306')]);
    expect(choice).toMatchObject({ donor: { address: 'db-1:3306' } });
    expect('reason' in choice && choice.reason).toContain('not the write primary');
  });

  it('skips nodes that are donating, joining, not ready, outside the primary component or unreachable', () => {
    const nodes: GaleraNodeState[] = [
      synced('db-0:3306', true),
      { ...synced('db-1:3306'), localState: 2 },
      { ...synced('db-2:3306'), ready: false },
      { ...synced('db-3:3306'), clusterStatus: 'non-Primary' },
      { address: 'db-4:3306', isPrimary: false, unreachable: 'ECONNREFUSED' },
      synced('db-5:3306'),
    ];
    expect(chooseGaleraDonor(nodes)).toMatchObject({ donor: { address: 'db-5:3306' } });
  });

  it('falls back to the primary when it is the only synced node, and says so', () => {
    const choice = chooseGaleraDonor([synced('db-0:3306', true), { ...synced('db-1:3306'), localState: 1 }]);
    expect(choice).toMatchObject({ donor: { address: 'db-0:3306' } });
    expect('reason' in choice && choice.reason).toContain('the write primary, no other node is synced');
  });

  it('explains every node when none can be used', () => {
    const choice = chooseGaleraDonor([
      { ...synced('db-0:3306', true), localState: 2 },
      { address: 'db-1:3306', isPrimary: false },
      { address: 'db-2:3306', isPrimary: false, unreachable: 'ETIMEDOUT' },
    ]);
    expect(choice).toEqual({
      problem:
        'no synced Galera node to back up from: db-0:3306 (write primary): wsrep_local_state=2 (Donor/Desynced), wsrep_ready=ON, wsrep_cluster_status=Primary; ' +
        'db-1:3306: not a Galera node (no wsrep status); db-2:3306: unreachable (ETIMEDOUT)',
    });
    expect(
      chooseGaleraDonor([
        { ...synced('db-0:3306'), localState: 5 },
        { ...synced('db-1:3306'), localState: 3, ready: false, clusterStatus: undefined },
      ]),
    ).toEqual({
      problem:
        'no synced Galera node to back up from: db-0:3306: wsrep_local_state=5, wsrep_ready=ON, wsrep_cluster_status=Primary; ' +
        'db-1:3306: wsrep_local_state=3 (Joined), wsrep_ready=OFF, wsrep_cluster_status=?',
    });
    expect(chooseGaleraDonor([])).toEqual({ problem: 'no synced Galera node to back up from: no nodes' });
  });
});
