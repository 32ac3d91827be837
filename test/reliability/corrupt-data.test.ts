import { copyFileSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSnapshotId } from '../../domain/snapshot-id';
import { resolveBackupConfiguration, resolveTarget, type ResourceSet } from '../../domain/resource-set';
import { API_VERSION } from '../../domain/resources';
import { diffFingerprints, fingerprintDatabase } from '../../stack/database-fingerprint';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { runDbkeep } from '../support/cli-runner';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { activityRecords, generateDatabase, onlyActivity, stopStack } from './fault-harness';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * Damaged repositories. A flipped byte in a stored data object makes a restore refuse before
 * it touches the target (ChecksumMismatch, naming the snapshot); on MinIO's own disk the
 * server's bitrot protection gets there first. Manifests that do not parse or do not match
 * their folder or data are skipped by listing and reported, through the client and the CLI.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let target: MariaDbInstance;
let set: ResourceSet;
let resourcesFile: string;
const fsRepositoryDir = () => path.join(stack.dir, 'fs-repository');

async function databasesOn(instance: MariaDbInstance): Promise<string[]> {
  const connection = await rootConnection(instance);
  try {
    const [rows] = await connection.query<import('mysql2/promise').RowDataPacket[]>('SHOW DATABASES');
    return rows.map((r) => String(r.Database));
  } finally {
    await connection.end();
  }
}

async function dropShopOnTarget(): Promise<void> {
  const connection = await rootConnection(target);
  try {
    await connection.query('DROP DATABASE IF EXISTS shop');
  } finally {
    await connection.end();
  }
}

async function fingerprintOf(instance: MariaDbInstance, database: string) {
  const connection = await rootConnection(instance);
  try {
    return await fingerprintDatabase(connection, database);
  } finally {
    await connection.end();
  }
}

async function backup(configuration: string): Promise<string> {
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(set, configuration))).result();
  if (result.outcome !== 'succeeded') throw new Error(`backup of ${configuration} skipped`);
  return result.snapshotId;
}

function startRestore(configuration: string, snapshotId: string, overwrite = false, parallel?: number) {
  return stack.client.restore({
    repository: resolveBackupConfiguration(set, configuration).repository,
    configuration,
    target: resolveTarget(set, 'restored'),
    selector: { snapshotId },
    overwrite,
    parallel,
  });
}

/** Inverts one bit in the middle of a file, in place: same size, so only a hash can tell. */
function flipOneBit(file: string): void {
  const bytes = readFileSync(file);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  writeFileSync(file, bytes);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  target = await stack.startMariaDb();
  // About 2 MiB of SQL, ~0.6 MB stored: above MinIO's inline limit, so it has a part file on disk.
  await generateDatabase(source, 'shop', 2);
  const documents = [
    { apiVersion: API_VERSION, kind: 'Repository', metadata: { name: 'local' }, spec: { filesystem: { path: fsRepositoryDir() } } },
    stack.targetDocument('shop-db', source),
    stack.targetDocument('restored', target),
    configurationDocument('shop-fs', { target: 'shop-db', repository: 'local', databases: ['shop'] }),
    configurationDocument('shop-s3', { target: 'shop-db', databases: ['shop'] }),
    configurationDocument('catalog', { target: 'shop-db', repository: 'local', databases: ['shop'] }),
  ];
  set = stack.resources(...documents);
  resourcesFile = path.join(stack.dir, 'resources.yaml');
  writeFileSync(resourcesFile, stack.resourcesYaml(...documents));
});

afterAll(async () => {
  await stopStack(stack);
});

describe('a flipped byte in a stored data object', () => {
  let damagedSnapshot: Promise<string> | undefined;
  /** One snapshot of the filesystem repository with a bit flipped in its data, shared by the tests that need it. */
  const filesystemSnapshotWithFlippedBit = () =>
    (damagedSnapshot ??= backup('shop-fs').then((id) => {
      flipOneBit(path.join(fsRepositoryDir(), 'shop-fs', id, 'dump.sql.zst'));
      return id;
    }));

  it('on a filesystem repository: the restore refuses with ChecksumMismatch naming the snapshot, and creates nothing', async () => {
    const snapshotId = await filesystemSnapshotWithFlippedBit();

    const handle = await startRestore('shop-fs', snapshotId);
    const failure = await workflowFailureOf(handle.result());
    expect(failure).toMatchObject({ type: 'ChecksumMismatch', nonRetryable: true });
    expect(failure.message).toContain(`shop-fs/${snapshotId}`);
    expect(failure.message).toContain('nothing was applied');
    expect(await databasesOn(target)).not.toContain('shop');

    // Permanent: failed on its first attempt, not retried against the same bad bytes.
    const restore = onlyActivity(await activityRecords(stack.client.temporal, handle.workflowId), 'restoreFromSnapshot');
    expect(restore).toMatchObject({ outcome: 'failed', attempt: 1, failure: { type: 'ChecksumMismatch', nonRetryable: true } });
  });

  it('with --overwrite into a target holding the database: refused before dropping anything', async () => {
    const snapshotId = await filesystemSnapshotWithFlippedBit();
    const connection = await rootConnection(target);
    await connection.query(
      'CREATE DATABASE shop; CREATE TABLE shop.keep_me (id INT PRIMARY KEY, note TEXT); INSERT INTO shop.keep_me VALUES (1, "still here")',
    );
    await connection.end();
    const before = await fingerprintOf(target, 'shop');

    const failure = await workflowFailureOf((await startRestore('shop-fs', snapshotId, true)).result());
    expect(failure).toMatchObject({ type: 'ChecksumMismatch' });
    expect(failure.message).toContain(snapshotId);
    expect(diffFingerprints(before, await fingerprintOf(target, 'shop'))).toEqual([]);

    await dropShopOnTarget();
  });

  it('with a parallel restore: refused with ChecksumMismatch before dropping anything, staged segments removed', async () => {
    const snapshotId = await filesystemSnapshotWithFlippedBit();
    const connection = await rootConnection(target);
    await connection.query(
      'CREATE DATABASE shop; CREATE TABLE shop.keep_me (id INT PRIMARY KEY, note TEXT); INSERT INTO shop.keep_me VALUES (1, "still here")',
    );
    await connection.end();
    const before = await fingerprintOf(target, 'shop');

    const handle = await startRestore('shop-fs', snapshotId, true, 2);
    const failure = await workflowFailureOf(handle.result());
    expect(failure).toMatchObject({ type: 'ChecksumMismatch', nonRetryable: true });
    expect(failure.message).toContain(`shop-fs/${snapshotId}`);
    expect(failure.message).toContain('nothing was applied');
    expect(diffFingerprints(before, await fingerprintOf(target, 'shop'))).toEqual([]);
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith(`dbkeep-restore-${process.pid}-`))).toEqual([]);

    await dropShopOnTarget();
  });

  it('on S3, the object replaced through the S3 API with one bit flipped: ChecksumMismatch naming the snapshot, nothing applied', async () => {
    await dropShopOnTarget();
    const snapshotId = await backup('shop-s3');
    const key = `dbkeep/shop-s3/${snapshotId}/dump.sql.zst`;
    const { GetObjectCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const stored = Buffer.from(
      await (await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }))).Body!.transformToByteArray(),
    );
    stored[Math.floor(stored.length / 2)]! ^= 0x01;
    // A valid object to S3 (its own checksums match): only the manifest's SHA-256 can tell.
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: stored }));

    const handle = await startRestore('shop-s3', snapshotId);
    const failure = await workflowFailureOf(handle.result());
    expect(failure).toMatchObject({ type: 'ChecksumMismatch', nonRetryable: true });
    expect(failure.message).toContain(`shop-s3/${snapshotId}`);
    expect(failure.message).toContain(`s3://${stack.bucket}/${key}`);
    expect(failure.message).toContain('nothing was applied');
    expect(await databasesOn(target)).not.toContain('shop');
    const restore = onlyActivity(await activityRecords(stack.client.temporal, handle.workflowId), 'restoreFromSnapshot');
    expect(restore).toMatchObject({ outcome: 'failed', attempt: 1 });
  });

  it("on MinIO's own disk: nothing is applied to the target (MinIO's bitrot protection refuses the read)", async () => {
    await dropShopOnTarget();
    const s3SnapshotId = await backup('shop-s3');
    const objectDir = path.join(stack.minio.dataDir, stack.bucket, 'dbkeep', 'shop-s3', s3SnapshotId, 'dump.sql.zst');
    const part = filesUnder(objectDir).find((file) => file.endsWith('part.1'));
    if (!part) throw new Error(`MinIO kept the object inline, no part file under ${objectDir}: make the database bigger`);
    flipOneBit(part);

    const handle = await startRestore('shop-s3', s3SnapshotId);
    // Wait for the first attempt's verdict: a failed session, or an attempt retried after a read error.
    const deadline = Date.now() + 60_000;
    let seen = await stack.client.describeSession(handle.workflowId);
    while (seen.runStatus === 'RUNNING' && !(seen.activity?.name === 'restoreFromSnapshot' && seen.activity.lastFailure)) {
      if (Date.now() > deadline) throw new Error('the restore neither failed nor retried within 60 s');
      await sleep(250);
      seen = await stack.client.describeSession(handle.workflowId);
    }
    const verdict =
      seen.runStatus === 'RUNNING'
        ? `read failed and is retried as transient (attempt ${seen.activity!.attempt}): ${seen.activity!.lastFailure}`
        : `session ${seen.runStatus}: ${seen.status?.error}`;
    console.log(`corrupt-data: MinIO bitrot: ${verdict}`);
    expect(await databasesOn(target)).not.toContain('shop');
    // MinIO's refusal stays transient (its 503 SlowDownRead also means drives briefly offline),
    // but the failure names the snapshot and the object it could not read.
    expect(seen.runStatus).toBe('RUNNING');
    expect(seen.activity?.lastFailure).toContain(
      `snapshot shop-s3/${s3SnapshotId}: reading s3://${stack.bucket}/dbkeep/shop-s3/${s3SnapshotId}/dump.sql.zst: `,
    );

    if (seen.runStatus === 'RUNNING') {
      await handle.cancel();
      await handle.result().catch(() => undefined);
    }
    expect(await databasesOn(target)).not.toContain('shop');
  });
});

describe('damaged manifests', () => {
  const id = (second: number, suffix: string) => formatSnapshotId(new Date(Date.UTC(2026, 0, 1, 0, 0, second)), suffix);
  const damaged = {
    garbage: id(1, '00000a'),
    wrongTypes: id(2, '00000b'),
    otherFolder: id(3, '00000c'),
    wrongSize: id(4, '00000d'),
    missingData: id(5, '00000e'),
  };
  const unfinished = id(6, '00000f');
  let valid: string;

  beforeAll(async () => {
    valid = await backup('catalog');
    const folder = (snapshot: string) => path.join(fsRepositoryDir(), 'catalog', snapshot);
    const manifest = JSON.parse(readFileSync(path.join(folder(valid), 'manifest.json'), 'utf8')) as Record<string, any>;
    const write = (snapshot: string, manifestText: string | undefined, withData = true) => {
      mkdirSync(folder(snapshot), { recursive: true });
      if (manifestText !== undefined) writeFileSync(path.join(folder(snapshot), 'manifest.json'), manifestText);
      if (withData) copyFileSync(path.join(folder(valid), 'dump.sql.zst'), path.join(folder(snapshot), 'dump.sql.zst'));
    };
    write(damaged.garbage, '{ "formatVersion": 1, "snapshotId": ');
    write(
      damaged.wrongTypes,
      JSON.stringify({ ...manifest, snapshotId: damaged.wrongTypes, data: { ...manifest.data, storedBytes: '12' } }),
    );
    write(damaged.otherFolder, JSON.stringify(manifest));
    write(damaged.wrongSize, JSON.stringify({ ...manifest, snapshotId: damaged.wrongSize }));
    truncateSync(path.join(folder(damaged.wrongSize), 'dump.sql.zst'), manifest.data.storedBytes - 1);
    write(damaged.missingData, JSON.stringify({ ...manifest, snapshotId: damaged.missingData }), false);
    // A session that never committed: data without a manifest is not a snapshot, and not a problem either.
    write(unfinished, undefined);
  });

  it('are skipped by listing and reported with a reason, never thrown', async () => {
    const listed = await stack.client.listSnapshots(set.repositories.get('local')!, 'catalog');
    expect(listed.snapshots.map((s) => s.snapshotId)).toEqual([valid]);
    expect(listed.total).toBe(1);
    const reasons = Object.fromEntries(listed.problems.map((p) => [p.snapshotId, p.reason]));
    expect(Object.keys(reasons).sort()).toEqual(Object.values(damaged).sort());
    expect(reasons[damaged.garbage]).toMatch(/not JSON/);
    expect(reasons[damaged.wrongTypes]).toMatch(/data\.storedBytes/);
    expect(reasons[damaged.otherFolder]).toMatch(new RegExp(`describes catalog/${valid}`));
    expect(reasons[damaged.wrongSize]).toMatch(/bytes, manifest says/);
    expect(reasons[damaged.missingData]).toMatch(/missing/);
  });

  it('are reported by `dbkeep snapshots` on stderr, one line each, while the valid snapshot is listed', async () => {
    const env = { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address, DBKEEP_TASK_QUEUE: stack.taskQueue };
    const result = await runDbkeep(['snapshots', '-f', resourcesFile, '--config', 'catalog'], { env, cwd: stack.dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(valid);
    for (const snapshot of [...Object.values(damaged), unfinished]) expect(result.stdout).not.toContain(snapshot);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(Object.keys(damaged).length);
    for (const snapshot of Object.values(damaged)) {
      expect(lines.filter((line) => line.startsWith(`dbkeep: skipped damaged snapshot ${snapshot}: `))).toHaveLength(1);
    }
    expect(result.stderr).not.toContain('    at ');
  });

  it('refuses a restore of a damaged snapshot as SnapshotNotFound, saying it is damaged', async () => {
    await dropShopOnTarget();
    const failure = await workflowFailureOf((await startRestore('catalog', damaged.wrongSize)).result());
    expect(failure).toMatchObject({ type: 'SnapshotNotFound', nonRetryable: true });
    expect(failure.message).toContain(damaged.wrongSize);
    expect(failure.message).toContain('damaged');
    expect(await databasesOn(target)).not.toContain('shop');
  });
});
