import { describe, expect, it } from 'vitest';
import { describeGtidPlan, planGtidRestore } from '../../domain/gtid-restore';

const MYSQL_SET = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77';

describe('planGtidRestore', () => {
  it('makes an empty MySQL target with GTIDs on take the snapshot set', () => {
    const plan = planGtidRestore({
      snapshotFlavor: 'mysql',
      position: { gtidExecuted: MYSQL_SET },
      target: { flavor: 'mysql', gtidMode: 'ON', gtidExecuted: '' },
      galera: false,
    });
    expect(plan).toEqual({ action: 'adopt', flavor: 'mysql', gtidSet: MYSQL_SET });
    expect(describeGtidPlan(plan)).toBe(`target took the snapshot's GTID set as gtid_purged (${MYSQL_SET})`);
  });

  it('leaves a MySQL target with a history of its own, GTIDs off, or a snapshot without a set alone', () => {
    const base = { snapshotFlavor: 'mysql' as const, position: { gtidExecuted: MYSQL_SET }, galera: false };
    expect(planGtidRestore({ ...base, target: { flavor: 'mysql', gtidMode: 'ON', gtidExecuted: 'aaaa:1-3' } })).toMatchObject({
      action: 'leave',
      reason: expect.stringMatching(/not empty/),
    });
    expect(planGtidRestore({ ...base, target: { flavor: 'mysql', gtidMode: 'OFF', gtidExecuted: '' } })).toMatchObject({
      action: 'leave',
      reason: expect.stringMatching(/gtid_mode OFF/),
    });
    expect(planGtidRestore({ ...base, position: undefined, target: { flavor: 'mysql', gtidMode: 'ON', gtidExecuted: '' } })).toMatchObject({
      action: 'leave',
    });
    expect(planGtidRestore({ ...base, galera: true, target: { flavor: 'mysql', gtidMode: 'ON', gtidExecuted: '' } })).toMatchObject({
      action: 'leave',
      reason: expect.stringMatching(/Galera/),
    });
  });

  it('makes a MariaDB target without GTID history take the position as gtid_slave_pos, and leaves one with history alone', () => {
    const base = { snapshotFlavor: 'mariadb' as const, position: { gtidBinlogPos: '0-1-42' }, galera: false };
    expect(planGtidRestore({ ...base, target: { flavor: 'mariadb', gtidBinlogPos: '', gtidSlavePos: '' } })).toEqual({
      action: 'adopt',
      flavor: 'mariadb',
      gtidPos: '0-1-42',
    });
    expect(planGtidRestore({ ...base, target: { flavor: 'mariadb', gtidBinlogPos: '0-2-5', gtidSlavePos: '' } })).toMatchObject({
      action: 'leave',
    });
    expect(planGtidRestore({ ...base, target: { flavor: 'mariadb', gtidBinlogPos: '', gtidSlavePos: '0-1-3' } })).toMatchObject({
      action: 'leave',
    });
  });

  it('never carries GTIDs across flavours', () => {
    expect(
      planGtidRestore({
        snapshotFlavor: 'mysql',
        position: { gtidExecuted: MYSQL_SET },
        target: { flavor: 'mariadb', gtidBinlogPos: '', gtidSlavePos: '' },
        galera: false,
      }),
    ).toMatchObject({ action: 'leave', reason: expect.stringMatching(/another server flavour/) });
  });
});
