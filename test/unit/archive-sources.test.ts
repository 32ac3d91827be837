import { describe, expect, it } from 'vitest';
import { archiveSourceCandidates } from '../../domain/binlog-archive';
import type { Named, TargetSpec } from '../../domain/resources';

const galera: Named<TargetSpec> = {
  name: 'galera',
  spec: {
    engine: 'mariadb',
    host: '10.0.0.1',
    port: 3306,
    user: 'backup',
    galera: {
      members: [
        { host: '10.0.0.1', port: 3306 },
        { host: '10.0.0.2', port: 3306 },
        { host: '10.0.0.3', port: 3307 },
      ],
      ignoreGlobalPriv: true,
    },
  },
};
const address = (node: Named<TargetSpec>) => `${node.spec.host}:${node.spec.port}`;

describe('archiveSourceCandidates', () => {
  it("tries the Target's host, then every other member of its Galera cluster, each once", () => {
    const candidates = archiveSourceCandidates(galera);
    expect(candidates[0]).toBe(galera);
    expect(candidates.map(address)).toEqual(['10.0.0.1:3306', '10.0.0.2:3306', '10.0.0.3:3307']);
    expect(candidates.every((node) => node.name === 'galera' && node.spec.user === 'backup')).toBe(true);
  });

  it('keeps following the member it switched to while that one answers', () => {
    const member = archiveSourceCandidates(galera)[2]!;
    expect(archiveSourceCandidates(galera, member).map(address)).toEqual(['10.0.0.3:3307', '10.0.0.1:3306', '10.0.0.2:3306']);
  });

  it('has only the Target itself when it is no cluster, and never a member over the socket of the host', () => {
    const single: Named<TargetSpec> = { name: 'db', spec: { engine: 'mariadb', socket: '/run/mysqld.sock', port: 3306, user: 'root' } };
    expect(archiveSourceCandidates(single)).toEqual([single]);
    const onSocket = { ...galera, spec: { ...galera.spec, socket: '/run/mysqld.sock' } };
    expect(
      archiveSourceCandidates(onSocket)
        .slice(1)
        .every((node) => node.spec.socket === undefined),
    ).toBe(true);
  });
});
