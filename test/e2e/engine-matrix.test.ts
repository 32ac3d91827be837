import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../domain/manifest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { pathWithReleaseTools, startDatabaseInstance, type DatabaseRelease } from '../../stack/database-instance';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, fingerprintDatabases, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { createFeatureDatabase, FEATURES_DATABASE } from '../support/feature-database';
import { AWKWARD_DATABASE, AWKWARD_TABLE, createAwkwardDatabase, loadSakila } from '../support/sample-data';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * The logical round trip on every engine of the family, each with its own tools on the worker's
 * PATH, as a worker image built for it has them: Sakila (views, triggers, routines, events,
 * fulltext), names that need quoting with every byte in blobs, and the feature database (JSON,
 * generated and invisible columns, spatial, partitions, a foreign key cycle, CHECK, MyISAM).
 * Each snapshot records its replication position, and a restore into a server that has executed
 * nothing takes it, while an overwrite into a server with its own history leaves that alone.
 */
let stack: E2eStack;
const hostPath = process.env.PATH ?? '';

interface EngineCase {
  name: string;
  release: DatabaseRelease;
  gtid?: boolean;
  /** For the sources: MariaDB writes a binary log only when asked. */
  sourceArgs?: string[];
  version: RegExp;
}

const ENGINES: EngineCase[] = [
  { name: 'MariaDB 10.11', release: 'mariadb-10.11', sourceArgs: ['--log-bin=binlog'], version: /^10\.11\.\d+-MariaDB/ },
  { name: 'MariaDB 11.8', release: 'mariadb-11.8', sourceArgs: ['--log-bin=binlog'], version: /^11\.8\.\d+-MariaDB/ },
  { name: 'MySQL 9.7 with GTIDs', release: 'mysql-9.7', gtid: true, version: /^9\.7\.\d+/ },
  { name: 'MySQL 9.7 without GTIDs', release: 'mysql-9.7', gtid: false, version: /^9\.7\.\d+/ },
];

const DATABASES = ['sakila', AWKWARD_DATABASE, FEATURES_DATABASE];

async function readManifest(configuration: string, snapshotId: string): Promise<Manifest> {
  const object = await stack.s3.send(
    new GetObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/${configuration}/${snapshotId}/manifest.json` }),
  );
  const parsed = parseManifest(await object.Body!.transformToString());
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.manifest;
}

function sourceConfiguration(configuration: string, source: MariaDbInstance, databases: string[]) {
  // With restore drills: the dump's fingerprint is recorded on every engine.
  const resources = stack.resources(
    stack.targetDocument('source', source),
    configurationDocument(configuration, { target: 'source', databases, verification: {} }),
  );
  return resolveBackupConfiguration(resources, configuration);
}

async function backup(configuration: string, source: MariaDbInstance, databases: string[]): Promise<string> {
  const result = await (await stack.client.backupNow(sourceConfiguration(configuration, source, databases))).result();
  if (result.outcome !== 'succeeded') throw new Error(`backup of ${configuration} skipped`);
  return result.snapshotId;
}

async function restore(configuration: string, snapshotId: string, into: MariaDbInstance, overwrite = false) {
  const resources = stack.resources(stack.targetDocument('restored', into), configurationDocument(configuration, { target: 'restored' }));
  const handle = await stack.client.restore({
    repository: resolveBackupConfiguration(resources, configuration).repository,
    configuration,
    target: resolveTarget(resources, 'restored'),
    selector: { snapshotId },
    overwrite,
  });
  return handle.result();
}

beforeAll(async () => {
  stack = await startE2eStack();
});

afterAll(async () => {
  process.env.PATH = hostPath;
  await stack?.stop();
});

describe.each(ENGINES)('$name', ({ name, release, gtid, sourceArgs, version }) => {
  const configuration = `matrix-${release.replace('.', '-')}${gtid === false ? '-nogtid' : ''}`;
  let source: MariaDbInstance;
  let snapshotId: string;

  beforeAll(async () => {
    // The in-process worker spawns the tools it finds on PATH: this engine's, as on its image.
    process.env.PATH = pathWithReleaseTools(release, hostPath);
    source = await stack.startDatabase({ release, gtid, extraArgs: sourceArgs });
    await loadSakila(source);
    await createAwkwardDatabase(source);
    await createFeatureDatabase(source);
  });

  afterAll(() => {
    process.env.PATH = hostPath;
  });

  it('backs up with its own dump tool, recording the server and its replication position', async () => {
    snapshotId = await backup(configuration, source, DATABASES);
    const manifest = await readManifest(configuration, snapshotId);
    expect(manifest.server.version).toMatch(version);
    expect(manifest.server.flavor).toBe(source.engine);
    expect(manifest.tools.dump).toMatch(
      source.engine === 'mysql' ? /^mysqldump .*9\.7\./ : new RegExp(`^mariadb-dump .*${release.slice(8)}\\.`),
    );
    if (source.engine === 'mysql') {
      const [row] = await rootQuery(source, 'SELECT @@GLOBAL.gtid_executed AS executed');
      // Nothing writes to the source after the backup: its set is the snapshot's.
      expect(manifest.replication?.gtidExecuted ?? '').toBe(gtid ? String(row!.executed).replace(/\s+/g, '') : '');
      expect(manifest.replication?.binlogFile).toMatch(/\.\d{6}$/);
    } else {
      const [row] = await rootQuery(source, 'SELECT @@GLOBAL.gtid_binlog_pos AS pos');
      expect(manifest.replication).toMatchObject({ gtidBinlogPos: String(row!.pos), binlogFile: 'binlog.000001' });
    }
  });

  it(`proves the snapshot restorable in a drill: a scratch ${name} server of the worker's own matches its recorded fingerprint`, async () => {
    const drill = await stack.client.verify(sourceConfiguration(configuration, source, DATABASES), { snapshotId });
    const outcome = await drill.result();
    expect(outcome).toMatchObject({ snapshotId, passed: true, differences: [] });
    expect(outcome.tables).toBeGreaterThan(20);
  });

  it(`restores into an empty ${name} with identical fingerprints, and the target takes the snapshot's GTID position`, async () => {
    const target = await stack.startDatabase({ release, gtid });
    // A new replica: nothing executed (the stack's own user statements are forgotten).
    if (release === 'mysql-9.7') await rootQuery(target, 'RESET BINARY LOGS AND GTIDS');
    const result = await restore(configuration, snapshotId, target);
    expect(await fingerprintDatabases(target, DATABASES)).toEqual(await fingerprintDatabases(source, DATABASES));
    const manifest = await readManifest(configuration, snapshotId);
    if (source.engine === 'mysql' && gtid) {
      expect(result.gtid).toMatch(/took the snapshot's GTID set/);
      const [row] = await rootQuery(
        target,
        `SELECT GTID_SUBSET('${manifest.replication!.gtidExecuted}', @@GLOBAL.gtid_executed) AS taken, @@GLOBAL.gtid_executed AS executed`,
      );
      expect(Number(row!.taken)).toBe(1);
      // Applied without the binary log: the target's history is the snapshot's, nothing of its own.
      expect(String(row!.executed).replace(/\s+/g, '')).toBe(manifest.replication!.gtidExecuted);
    } else if (source.engine === 'mariadb') {
      expect(result.gtid).toMatch(/took the snapshot's GTID position as gtid_slave_pos/);
      const [row] = await rootQuery(target, 'SELECT @@GLOBAL.gtid_slave_pos AS pos');
      expect(String(row!.pos)).toBe(manifest.replication!.gtidBinlogPos);
    } else {
      expect(result.gtid).toMatch(/left alone/);
    }
  });

  it('overwrites a target with a history of its own from the same snapshot, twice, leaving its GTID state alone', async () => {
    const target = await stack.startDatabase({ release, gtid, extraArgs: sourceArgs });
    await rootQuery(target, 'CREATE DATABASE sakila');
    await rootQuery(target, 'CREATE TABLE sakila.mine (id INT PRIMARY KEY)');
    const gtidBefore = await rootQuery(
      target,
      release === 'mysql-9.7' ? 'SELECT @@GLOBAL.gtid_purged AS g' : 'SELECT @@GLOBAL.gtid_slave_pos AS g',
    );
    for (const attempt of [1, 2]) {
      const result = await restore(configuration, snapshotId, target, true);
      expect(result.gtid, `restore ${attempt}`).toMatch(/left alone/);
      expect(await fingerprintDatabases(target, DATABASES)).toEqual(await fingerprintDatabases(source, DATABASES));
    }
    expect(
      await rootQuery(target, release === 'mysql-9.7' ? 'SELECT @@GLOBAL.gtid_purged AS g' : 'SELECT @@GLOBAL.gtid_slave_pos AS g'),
    ).toEqual(gtidBefore);
  });

  it('refuses a Target whose engine names the other family, at once, naming both', async () => {
    const wrong = release === 'mysql-9.7' ? 'mariadb' : 'mysql';
    const document = stack.targetDocument('source', source) as { spec: Record<string, unknown> };
    document.spec.engine = wrong;
    const resources = stack.resources(
      document,
      configurationDocument(`${configuration}-wrong`, { target: 'source', databases: ['sakila'] }),
    );
    const failure = await workflowFailureOf(
      (await stack.client.backupNow(resolveBackupConfiguration(resources, `${configuration}-wrong`))).result(),
    );
    expect(failure.type).toBe('EngineMismatch');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(
      new RegExp(`says engine: ${wrong}, but the server is ${source.engine === 'mysql' ? 'MySQL' : 'MariaDB'}`),
    );
  });
});

describe('across versions and families', () => {
  afterAll(() => {
    process.env.PATH = hostPath;
  });

  it('backs up and restores MariaDB 11.8 with a worker whose tools are MariaDB 10.11 (one major version behind)', async () => {
    process.env.PATH = pathWithReleaseTools('mariadb-10.11', hostPath);
    const source = await stack.startDatabase({ release: 'mariadb-11.8' });
    await createAwkwardDatabase(source);
    await createFeatureDatabase(source);
    const snapshotId = await backup('old-tools', source, [AWKWARD_DATABASE, FEATURES_DATABASE]);
    expect((await readManifest('old-tools', snapshotId)).tools.dump).toMatch(/10\.11\./);
    const target = await stack.startDatabase({ release: 'mariadb-11.8' });
    await restore('old-tools', snapshotId, target);
    expect(await fingerprintDatabases(target, [AWKWARD_DATABASE, FEATURES_DATABASE])).toEqual(
      await fingerprintDatabases(source, [AWKWARD_DATABASE, FEATURES_DATABASE]),
    );
  });

  it('restores a MariaDB 11.8 snapshot into MariaDB 10.11, whose uca1400 collations 11.8 dumps use', async () => {
    process.env.PATH = pathWithReleaseTools('mariadb-10.11', hostPath);
    const source = await stack.startDatabase({ release: 'mariadb-11.8', extraArgs: ['--log-bin=binlog'] });
    await createAwkwardDatabase(source);
    await createFeatureDatabase(source);
    const databases = [AWKWARD_DATABASE, FEATURES_DATABASE];
    const snapshotId = await backup('newer-mariadb', source, databases);
    const target = await stack.startDatabase({ release: 'mariadb-10.11' });
    await restore('newer-mariadb', snapshotId, target);
    // CHECKSUM TABLE of the JSON table differs between the two versions for the same rows: its rows are compared instead.
    const withoutDocsChecksum = async (instance: MariaDbInstance) => {
      const fingerprints = await fingerprintDatabases(instance, databases);
      delete fingerprints[FEATURES_DATABASE]!.tables.docs;
      return fingerprints;
    };
    expect(await withoutDocsChecksum(target)).toEqual(await withoutDocsChecksum(source));
    const docs = `SELECT id, body, title, summary, hidden FROM ${FEATURES_DATABASE}.docs ORDER BY id`;
    expect(await rootQuery(target, docs)).toEqual(await rootQuery(source, docs));
  });

  it("refuses a MySQL 9.7 snapshot into MariaDB 10.11, which lacks MySQL's default collation, before touching it, and migrates into MariaDB 11.8", async () => {
    process.env.PATH = pathWithReleaseTools('mysql-9.7', hostPath);
    const source = await stack.startDatabase({ release: 'mysql-9.7', gtid: true });
    await createAwkwardDatabase(source);
    const snapshotId = await backup('mysql-to-mariadb', source, [AWKWARD_DATABASE]);

    process.env.PATH = pathWithReleaseTools('mariadb-10.11', hostPath);
    const old = await stack.startDatabase({ release: 'mariadb-10.11' });
    await createAwkwardDatabase(old);
    await rootQuery(
      old,
      `INSERT INTO \`${AWKWARD_DATABASE.replace(/`/g, '``')}\`.\`${AWKWARD_TABLE.replace(/`/g, '``')}\` (id) VALUES (99)`,
    );
    const before = await fingerprintDatabases(old, [AWKWARD_DATABASE]);
    const schemasBefore = await rootQuery(old, 'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY 1');
    // Applied, the dump would stop at its first statement naming utf8mb4_0900_ai_ci (ERROR 1273): refused before the keep step.
    const failure = await workflowFailureOf(restore('mysql-to-mariadb', snapshotId, old, true));
    expect(failure).toMatchObject({ type: 'IncompatibleSnapshot', nonRetryable: true });
    expect(failure.message).toMatch(
      /MySQL 9\.7\.\d+.*utf8mb4_0900_ai_ci.*MariaDB 10\.11\.\d+\S* does not know them.*Restore it into MariaDB 11\.8/,
    );
    expect(await fingerprintDatabases(old, [AWKWARD_DATABASE])).toEqual(before);
    expect(await rootQuery(old, 'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY 1')).toEqual(schemasBefore);

    process.env.PATH = pathWithReleaseTools('mariadb-11.8', hostPath);
    const current = await stack.startDatabase({ release: 'mariadb-11.8' });
    const result = await restore('mysql-to-mariadb', snapshotId, current);
    expect(result.gtid).toMatch(/another server flavour/);
    expect((await fingerprintDatabases(current, [AWKWARD_DATABASE]))[AWKWARD_DATABASE]!.tables).toEqual(
      (await fingerprintDatabases(source, [AWKWARD_DATABASE]))[AWKWARD_DATABASE]!.tables,
    );
  });

  it("fails at once, naming the tool and what provides it, when the worker lacks the engine's dump tool", async () => {
    const source = await stack.startDatabase({ release: 'mysql-9.7' });
    await createAwkwardDatabase(source);
    // A worker image with zstd only.
    const bin = mkdtempSync(path.join(stack.dir, 'bin-'));
    symlinkSync(execFileSync('which', ['zstd']).toString().trim(), path.join(bin, 'zstd'));
    process.env.PATH = bin;
    try {
      const resources = stack.resources(
        stack.targetDocument('source', source),
        configurationDocument('no-tools', { target: 'source', databases: [AWKWARD_DATABASE] }),
      );
      const failure = await workflowFailureOf((await stack.client.backupNow(resolveBackupConfiguration(resources, 'no-tools'))).result());
      expect(failure.type).toBe('ToolNotFound');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toBe(
        "mysqldump (the mysql dump tool) is not on the worker's PATH: its image needs MySQL's client tools, for engines mysql and percona-xtradb (Debian: mysql-client-core)",
      );
    } finally {
      process.env.PATH = hostPath;
    }
  });

  it('refuses a MariaDB snapshot into MySQL before touching it', async () => {
    process.env.PATH = pathWithReleaseTools('mariadb-10.11', hostPath);
    const source = await stack.startDatabase({ release: 'mariadb-10.11' });
    await createAwkwardDatabase(source);
    const snapshotId = await backup('mariadb-to-mysql', source, [AWKWARD_DATABASE]);
    process.env.PATH = pathWithReleaseTools('mysql-9.7', hostPath);
    const target = await stack.startDatabase({ release: 'mysql-9.7' });
    const failure = await workflowFailureOf(restore('mariadb-to-mysql', snapshotId, target));
    expect(failure.type).toBe('IncompatibleSnapshot');
    expect(failure.message).toMatch(/MariaDB dump .* does not load into MySQL 9\.7/);
    expect(
      await rootQuery(
        target,
        `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')`,
      ),
    ).toEqual([]);
  });
});

describe('a physical backup of MariaDB 11.8 with its own mariadb-backup', () => {
  afterAll(() => {
    process.env.PATH = hostPath;
  });

  it('restores into 3 replica volumes, each a data directory MariaDB 11.8 starts on with the source data', async () => {
    // The replica workers are processes of their own: they inherit this PATH, as Jobs of the same image would.
    process.env.PATH = pathWithReleaseTools('mariadb-11.8', hostPath);
    const source = await stack.startDatabase({ release: 'mariadb-11.8', extraArgs: ['--log-bin=binlog'] });
    await createAwkwardDatabase(source);
    await createFeatureDatabase(source);
    const databases = [AWKWARD_DATABASE, FEATURES_DATABASE];
    const document = stack.targetDocument('source', source) as { spec: Record<string, unknown> };
    document.spec.datadir = source.datadir;
    const resources = stack.resources(document, configurationDocument('physical-11-8', { target: 'source', method: 'physical' }));
    const backup = await (await stack.client.backupNow(resolveBackupConfiguration(resources, 'physical-11-8'))).result();
    if (backup.outcome !== 'succeeded') throw new Error('backup skipped');
    const manifest = await readManifest('physical-11-8', backup.snapshotId);
    expect(manifest.tools.dump).toMatch(/^mariadb-backup .*11\.8\./);
    // Where the copy stands in the binary log, as mariadb-backup reported it: nothing wrote since.
    const [position] = await rootQuery(source, 'SELECT @@GLOBAL.gtid_binlog_pos AS pos');
    expect(manifest.replication).toMatchObject({ binlogFile: 'binlog.000001', gtidBinlogPos: String(position!.pos) });

    const root = path.join(stack.dir, 'volumes-11-8');
    const handle = await stack.client.restoreIntoVolumes({
      repository: resources.repositories.get('repo')!,
      configuration: 'physical-11-8',
      selector: { snapshotId: backup.snapshotId },
      replicas: 3,
      volumeTemplate: path.join(root, 'replica-${POD_ORDINAL}'),
    });
    const restored = await handle.result();
    expect(restored.replicas.map((r) => r.ordinal)).toEqual([0, 1, 2]);
    const expected = await fingerprintDatabases(source, databases);
    for (const replica of restored.replicas) {
      expect(replica.preparedWith).toMatch(/11\.8\./);
      const server = await startDatabaseInstance({
        release: 'mariadb-11.8',
        dir: path.join(root, `run-${replica.ordinal}`),
        existingDatadir: replica.volume,
        rootPassword: source.rootPassword,
      });
      try {
        expect(await fingerprintDatabases(server, databases), replica.volume).toEqual(expected);
      } finally {
        await server.stop();
      }
    }
  });
});
