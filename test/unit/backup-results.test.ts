import { describe, expect, it } from 'vitest';
import { buildManifest, type DumpResult, type PreflightResult } from '../../domain/backup-results';
import { parseManifest, serializeManifest } from '../../domain/manifest';
import { backupConfigurationSpecSchema, repositorySpecSchema } from '../../domain/resources';

const preflight: PreflightResult = {
  configuration: backupConfigurationSpecSchema.parse({
    target: 'prod-db',
    repository: 'local',
    compression: { algorithm: 'zstd', level: 3 },
  }),
  repository: repositorySpecSchema.parse({ filesystem: { path: '/var/backups/dbkeep' } }),
  engine: 'mariadb',
  flavor: 'mariadb',
  version: '11.4.3-MariaDB',
  serverId: 7,
  binaryLog: { enabled: true, positionReadable: true },
  databases: ['shop', 'crm'],
  source: { host: 'db.internal', port: 3306, address: 'db.internal:3306' },
};

const dump: DumpResult = {
  file: 'dump.sql.zst',
  storedBytes: 1234,
  rawBytes: 98765,
  sha256: 'a'.repeat(64),
  startedAt: '2026-11-21T16:17:04.123Z',
  completedAt: '2026-11-21T16:18:00.000Z',
  tools: { dump: 'mariadb-dump from 11.4.3-MariaDB', compressor: 'zstd v1.5.5' },
  dbkeepVersion: '0.1.0',
};

const names = {
  snapshotId: '20261121T161704123Z-3f9a1c',
  configuration: 'nightly',
  repository: 'local',
  target: { name: 'prod-db', engine: 'mariadb' as const },
};

const galera = {
  node: 'db-1.internal:3306',
  clusterStateUuid: 'c0ffee00-0000-0000-0000-000000000001',
  lastCommitted: 41,
  reason: 'synced',
};

describe('buildManifest', () => {
  it('records the preflight, the dump and the parsed configuration, and the catalog accepts it', () => {
    const manifest = buildManifest({ ...names, preflight, dump });
    expect(manifest).toEqual({
      formatVersion: 1,
      snapshotId: names.snapshotId,
      configuration: 'nightly',
      repository: 'local',
      target: { name: 'prod-db', engine: 'mariadb', address: 'db.internal:3306' },
      server: { flavor: 'mariadb', version: '11.4.3-MariaDB', serverId: 7 },
      method: 'logical',
      startedAt: dump.startedAt,
      completedAt: dump.completedAt,
      databases: ['shop', 'crm'],
      compression: { algorithm: 'zstd', level: 3 },
      data: { file: 'dump.sql.zst', storedBytes: 1234, rawBytes: 98765, sha256: 'a'.repeat(64) },
      tools: dump.tools,
      dbkeepVersion: '0.1.0',
    });
    expect(parseManifest(serializeManifest(manifest))).toEqual({ ok: true, manifest });
  });

  it('carries the replication position, encryption and fingerprint the dump recorded', () => {
    const recorded: DumpResult = {
      ...dump,
      replication: { binlogFile: 'binlog.000003', binlogPosition: 1042, gtidBinlogPos: '0-1-17' },
      encryption: { method: 'age', recipients: ['age1qqq'] },
      fingerprint: { file: 'fingerprint.json.age', sha256: 'b'.repeat(64) },
    };
    const manifest = buildManifest({ ...names, preflight, dump: recorded });
    expect(manifest).toMatchObject({
      replication: recorded.replication,
      encryption: recorded.encryption,
      fingerprint: recorded.fingerprint,
    });
    expect(parseManifest(serializeManifest(manifest)).ok).toBe(true);
  });

  it('bounds a Galera snapshot by the donor position before the dump and, in the same cluster history, after it', () => {
    const after = buildManifest({
      ...names,
      preflight: { ...preflight, galera },
      dump: { ...dump, galera: { clusterStateUuid: galera.clusterStateUuid, lastCommitted: 45 } },
    });
    expect(after.galera).toEqual({
      node: galera.node,
      clusterStateUuid: galera.clusterStateUuid,
      lastCommitted: 41,
      lastCommittedAtEnd: 45,
    });
    const otherHistory = buildManifest({
      ...names,
      preflight: { ...preflight, galera },
      dump: { ...dump, galera: { clusterStateUuid: 'c0ffee00-0000-0000-0000-000000000002', lastCommitted: 3 } },
    });
    expect(otherHistory.galera).toEqual({ node: galera.node, clusterStateUuid: galera.clusterStateUuid, lastCommitted: 41 });
    const unread = buildManifest({ ...names, preflight: { ...preflight, galera }, dump });
    expect(unread.galera).not.toHaveProperty('lastCommittedAtEnd');
  });

  it('takes the method from the configuration the preflight parsed', () => {
    const physical = { ...preflight, configuration: { ...preflight.configuration, method: 'physical' as const } };
    expect(buildManifest({ ...names, preflight: physical, dump }).method).toBe('physical');
  });
});
