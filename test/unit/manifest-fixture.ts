import { createHash } from 'node:crypto';
import type { Manifest } from '../../domain/manifest';

/** A valid manifest for `data`, stored uncompressed; override any field. */
export function manifestFor(
  { snapshotId, ...overrides }: Partial<Manifest> & { snapshotId: string },
  data: Buffer = Buffer.from('CREATE DATABASE shop;\n'),
): Manifest {
  return {
    formatVersion: 1,
    snapshotId,
    configuration: 'nightly',
    repository: 'local',
    target: { name: 'prod-db', engine: 'mariadb', address: 'db.internal:3306' },
    server: { version: '11.4.3-MariaDB', serverId: 1 },
    method: 'logical',
    startedAt: '2026-11-21T16:17:04.123Z',
    completedAt: '2026-11-21T16:18:00.000Z',
    databases: ['shop'],
    compression: { algorithm: 'none' },
    data: {
      file: 'dump.sql',
      storedBytes: data.length,
      rawBytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    },
    tools: { dump: 'mariadb-dump from 11.4.3-MariaDB' },
    dbkeepVersion: '0.1.0',
    ...overrides,
  };
}
