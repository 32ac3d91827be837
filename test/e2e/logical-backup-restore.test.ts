import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { RowDataPacket } from 'mysql2/promise';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../domain/manifest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { diffFingerprints, fingerprintDatabase } from '../../stack/database-fingerprint';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { allHistoriesJson, configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { AWKWARD_DATABASE, awkwardRows, createAwkwardDatabase, loadSakila } from '../support/sample-data';
import { workflowFailureOf } from '../support/workflow-failure';

let stack: E2eStack;
let source: MariaDbInstance;

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  await loadSakila(source);
  await createAwkwardDatabase(source);
});

afterAll(async () => {
  await stack?.stop();
});

async function fingerprintOf(instance: MariaDbInstance, database: string) {
  const connection = await rootConnection(instance);
  try {
    return await fingerprintDatabase(connection, database);
  } finally {
    await connection.end();
  }
}

async function backup(configuration: string, spec: Record<string, unknown>, target = source) {
  const resources = stack.resources(
    stack.targetDocument('source', target),
    configurationDocument(configuration, { target: 'source', ...spec }),
  );
  const handle = await stack.client.backupNow(resolveBackupConfiguration(resources, configuration));
  const result = await handle.result();
  if (result.outcome !== 'succeeded') throw new Error(`backup of ${configuration} was skipped for ${result.runningSession}`);
  return { handle, resources, result };
}

async function restore(
  configuration: string,
  into: MariaDbInstance,
  options: { snapshotId?: string; at?: string; overwrite?: boolean; parallel?: number; database?: string } = {},
) {
  const resources = stack.resources(stack.targetDocument('restored', into), configurationDocument(configuration, { target: 'restored' }));
  const handle = await stack.client.restore({
    repository: resolveBackupConfiguration(resources, configuration).repository,
    configuration,
    target: resolveTarget(resources, 'restored'),
    selector: options.snapshotId ? { snapshotId: options.snapshotId } : { targetRecoveryTime: options.at },
    overwrite: options.overwrite,
    parallel: options.parallel,
    database: options.database,
  });
  return handle.result();
}

describe('logical backup and restore through Temporal, MinIO and MariaDB', () => {
  it('backs Sakila up and restores it with identical tables, views, triggers, routines and events', async () => {
    const { result } = await backup('sakila', { databases: ['sakila'] });
    expect(result.databases).toEqual(['sakila']);

    // Exactly the data object and the manifest, and the stored bytes hash to the manifest's SHA-256.
    const keys = await stack.listKeys('sakila/');
    expect(keys).toEqual([`sakila/${result.snapshotId}/dump.sql.zst`, `sakila/${result.snapshotId}/manifest.json`]);
    const manifestText = await readObject(`dbkeep/sakila/${result.snapshotId}/manifest.json`);
    const parsed = parseManifest(manifestText.toString('utf8'));
    if (!parsed.ok) throw new Error(parsed.reason);
    const data = await readObject(`dbkeep/sakila/${result.snapshotId}/dump.sql.zst`);
    expect(createHash('sha256').update(data).digest('hex')).toBe(parsed.manifest.data.sha256);
    expect(data.length).toBe(parsed.manifest.data.storedBytes);
    expect(parsed.manifest.server.version).toMatch(/MariaDB/);
    expect(parsed.manifest.tools.dump).toMatch(/mariadb-dump|Distrib/);

    const listed = await stack.client.listSnapshots(stack.resources().repositories.get('repo')!, 'sakila');
    expect(listed.snapshots.map((s) => s.snapshotId)).toEqual([result.snapshotId]);

    const target = await stack.startMariaDb();
    const restored = await restore('sakila', target, { snapshotId: result.snapshotId });
    expect(restored.snapshotId).toBe(result.snapshotId);
    const expected = await fingerprintOf(source, 'sakila');
    expect(Object.keys(expected.tables)).toHaveLength(16);
    expect(Object.keys(expected.views)).toHaveLength(7);
    expect(Object.keys(expected.triggers)).toHaveLength(6);
    expect(Object.keys(expected.routines)).toHaveLength(6);
    expect(Object.keys(expected.events)).toHaveLength(1);
    expect(diffFingerprints(expected, await fingerprintOf(target, 'sakila'))).toEqual([]);
  });

  it('restores tables in parallel (parallel: 3) into a target identical to the source, and one database of several in parallel', async () => {
    const { result } = await backup('parallel', { databases: ['sakila', AWKWARD_DATABASE] });
    const target = await stack.startMariaDb();
    const restored = await restore('parallel', target, { snapshotId: result.snapshotId, parallel: 3 });
    expect(restored.databases).toEqual(['sakila', AWKWARD_DATABASE]);
    for (const database of ['sakila', AWKWARD_DATABASE]) {
      expect(diffFingerprints(await fingerprintOf(source, database), await fingerprintOf(target, database))).toEqual([]);
    }
    // The staged segments live in the worker's TMPDIR (this process's: the worker runs in it) only for the length of the restore.
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith(`dbkeep-restore-${process.pid}-`))).toEqual([]);

    const oneDatabase = await stack.startMariaDb();
    await restore('parallel', oneDatabase, { snapshotId: result.snapshotId, parallel: 2, database: AWKWARD_DATABASE });
    expect(diffFingerprints(await fingerprintOf(source, AWKWARD_DATABASE), await fingerprintOf(oneDatabase, AWKWARD_DATABASE))).toEqual([]);
    const connection = await rootConnection(oneDatabase);
    try {
      const [rows] = await connection.query<RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'sakila'",
      );
      expect(rows[0]!.n).toBe(0);
    } finally {
      await connection.end();
    }
  });

  it('round-trips names that need quoting, utf8mb4 text, binary blobs and NULLs byte for byte', async () => {
    const { result } = await backup('awkward', { databases: [AWKWARD_DATABASE], compression: { algorithm: 'zstd', level: 1 } });
    const target = await stack.startMariaDb();
    await restore('awkward', target, { snapshotId: result.snapshotId });

    const [before, after] = await Promise.all(
      [source, target].map(async (instance) => {
        const connection = await rootConnection(instance);
        try {
          return await awkwardRows(connection);
        } finally {
          await connection.end();
        }
      }),
    );
    expect(after).toHaveLength(5);
    expect(after).toEqual(before);
    expect(diffFingerprints(await fingerprintOf(source, AWKWARD_DATABASE), await fingerprintOf(target, AWKWARD_DATABASE))).toEqual([]);
  });

  it('restores the newest snapshot at or before targetRecoveryTime', async () => {
    const first = (await backup('timeline', { databases: [AWKWARD_DATABASE] })).result;
    const between = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = (await backup('timeline', { databases: [AWKWARD_DATABASE] })).result;
    const target = await stack.startMariaDb();

    expect((await restore('timeline', target, { at: between })).snapshotId).toBe(first.snapshotId);
    expect((await restore('timeline', target, { overwrite: true })).snapshotId).toBe(second.snapshotId);
    const before = await workflowFailureOf(restore('timeline', target, { at: '2000-01-01T00:00:00Z', overwrite: true }));
    expect(before.type).toBe('SnapshotNotFound');
  });

  it('refuses a restore into a target that holds the databases unless overwrite, and changes nothing', async () => {
    const { result } = await backup('refuse', { databases: ['sakila'] });
    const target = await stack.startMariaDb();
    const connection = await rootConnection(target);
    try {
      await connection.query('CREATE DATABASE sakila');
      await connection.query('CREATE TABLE sakila.keep_me (id INT PRIMARY KEY, note TEXT)');
      await connection.query("INSERT INTO sakila.keep_me VALUES (1, 'precious'), (2, 'data')");
    } finally {
      await connection.end();
    }
    const untouched = await fingerprintOf(target, 'sakila');

    const failure = await workflowFailureOf(restore('refuse', target, { snapshotId: result.snapshotId }));
    expect(failure.type).toBe('RestoreTargetNotEmpty');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('"sakila" (1 objects)');
    expect(failure.message).toContain('overwrite');
    expect(diffFingerprints(untouched, await fingerprintOf(target, 'sakila'))).toEqual([]);

    await restore('refuse', target, { snapshotId: result.snapshotId, overwrite: true });
    expect(diffFingerprints(await fingerprintOf(source, 'sakila'), await fingerprintOf(target, 'sakila'))).toEqual([]);
  });

  it('fails a backup with a wrong password as non-retryable within seconds, leaving no snapshot', async () => {
    const resources = stack.resources(
      stack.targetDocument('source', source, 'not-the-password'),
      configurationDocument('wrong-password', { target: 'source' }),
    );
    const started = Date.now();
    const handle = await stack.client.backupNow(resolveBackupConfiguration(resources, 'wrong-password'));
    const failure = await workflowFailureOf(handle.result());
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(failure.type).toBe('AuthenticationFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('access denied for user "root"');
    expect(failure.message).not.toContain('not-the-password');

    const status = await stack.client.status(handle.workflowId);
    expect(status.phase).toBe('Failed');
    expect(status.steps.map((s) => [s.name, s.failed])).toEqual([
      ['admission', undefined],
      ['preflight', true],
    ]);
    expect(await stack.listKeys('wrong-password/')).toEqual([]);
  });

  it("keeps every session's history small: a handful of activities, each payload well under 64 KB", async () => {
    let sessions = 0;
    for await (const execution of stack.client.temporal.workflow.list({ query: "WorkflowType IN ('backupSession', 'restoreSession')" })) {
      const { events } = await stack.client.temporal.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      const scheduled = events!.filter((event) => event.activityTaskScheduledEventAttributes);
      // Whatever the database's size: preflight, dump, commit, retention, metrics (or restore's four).
      expect(scheduled.length, execution.workflowId).toBeLessThanOrEqual(6);
      expect(events!.length, execution.workflowId).toBeLessThan(80);
      const payloadBytes: number[] = [];
      JSON.stringify(events, (key, value: unknown) => {
        if (key === 'payloads' && Array.isArray(value))
          payloadBytes.push(...value.map((p: { data?: Uint8Array | null }) => p.data?.length ?? 0));
        return value;
      });
      expect(Math.max(...payloadBytes), execution.workflowId).toBeLessThan(16 * 1024);
      sessions++;
    }
    expect(sessions).toBeGreaterThanOrEqual(8);
  });

  // Last: it reads the histories of every session the tests above ran.
  it('keeps database passwords and the S3 secret key out of every workflow history', async () => {
    const { workflows, json } = await allHistoriesJson(stack);
    expect(workflows).toBeGreaterThanOrEqual(10);
    // Payloads really are decoded: the inputs' configuration names and secret references are there.
    // (Booleans rather than toContain: a failure must not print every history.)
    expect(json.includes('"configuration":"awkward"'), 'decoded inputs are searched').toBe(true);
    expect(json.includes('"env":"DBKEEP_E2E_S3_SECRET_KEY"'), 'secret references are in the inputs').toBe(true);
    expect(stack.passwords.length).toBeGreaterThanOrEqual(4);
    for (const password of stack.passwords) expect(json.includes(password), 'a database password is in a history').toBe(false);
    expect(json.includes('not-the-password'), 'the wrong password is in a history').toBe(false);
    expect(json.includes(stack.s3SecretKey), 'the S3 secret key is in a history').toBe(false);
  });
});

async function readObject(key: string): Promise<Buffer> {
  const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}
