import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillOutcomeSchema } from '../../domain/drill-outcome';
import { dumpFingerprintSchema } from '../../domain/dump-fingerprint';
import { parseManifest, type Manifest } from '../../domain/manifest';
import { RESTORE_DRILL_WORKFLOW_TYPE } from '../../domain/restore-drill-input';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { drillScheduleIdFor, drillWorkflowId } from '../../domain/session-ids';
import type { scheduledRestoreDrill } from '../../workflows';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { runDbkeep } from '../support/cli-runner';
import { configurationDocument, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { createFeatureDatabase, FEATURES_DATABASE } from '../support/feature-database';
import { createAwkwardDatabase, AWKWARD_DATABASE } from '../support/sample-data';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver';
import { pollUntil } from '../support/poll';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * Restore drills on MariaDB 10.11: a logical backup of a configuration with spec.verification
 * records its dump's fingerprint; `dbkeep verify` restores the snapshot into a scratch server of
 * the worker's own, dumps it again and compares, stores the outcome beside the snapshot and
 * leaves no scratch server or directory behind. A stored object altered afterwards fails on its
 * SHA-256; one whose content was altered before upload (re-stored with a valid SHA-256) fails on
 * the fingerprint, naming the table. A physical snapshot's drill prepares it, starts the server
 * on it, checks every table and reads every row; altered afterwards, it fails on its SHA-256.
 */
let stack: E2eStack;
let source: MariaDbInstance;
const configuration = 'drilled';
const DATABASES = [FEATURES_DATABASE, AWKWARD_DATABASE];

let receiver: HttpReceiver;

const resources = () =>
  stack.resources(
    stack.targetDocument('source', source),
    configurationDocument(configuration, {
      target: 'source',
      databases: DATABASES,
      verification: {},
      notifications: { webhooks: [{ url: { file: path.join(stack.dir, 'drill-webhook-url') }, events: ['drillFailure'] }] },
    }),
  );

async function backup(): Promise<string> {
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(resources(), configuration))).result();
  if (result.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
  return result.snapshotId;
}

const objectKey = (snapshotId: string, file: string, of = configuration) => `dbkeep/${of}/${snapshotId}/${file}`;

async function readObject(key: string): Promise<Buffer> {
  const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

async function readManifest(snapshotId: string, of = configuration): Promise<Manifest> {
  const parsed = parseManifest((await readObject(objectKey(snapshotId, 'manifest.json', of))).toString('utf8'));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.manifest;
}

/** Scratch directories and servers of drills still there: none once a drill has ended. */
function drillLeftovers(): string[] {
  const directories = readdirSync(tmpdir()).filter((entry) => entry.startsWith('dbkeep-drill-'));
  const servers = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return execFileSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'utf8' }).includes('dbkeep-drill-');
      } catch {
        return false;
      }
    });
  return [...directories, ...servers.map((pid) => `process ${pid}`)];
}

beforeAll(async () => {
  stack = await startE2eStack();
  // With a binary log, so the backup's dump records its position (a comment the drill's dump has not).
  source = await stack.startDatabase({ extraArgs: ['--log-bin=binlog', '--server-id=1'] });
  await createFeatureDatabase(source);
  await createAwkwardDatabase(source);
  receiver = await startHttpReceiver(() => 200);
  writeFileSync(path.join(stack.dir, 'drill-webhook-url'), `${receiver.url}/drills`);
});

afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

it('records the fingerprint of a logical snapshot, and a drill restores it into a scratch server that matches it', async () => {
  const snapshotId = await backup();
  const manifest = await readManifest(snapshotId);
  expect(manifest.fingerprint).toEqual({ file: 'fingerprint.json', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const fingerprint = dumpFingerprintSchema.parse(
    JSON.parse((await readObject(objectKey(snapshotId, 'fingerprint.json'))).toString('utf8')),
  );
  expect(fingerprint.tables[`${FEATURES_DATABASE}.docs`]?.rows).toBe(3);

  const outcome = await (await stack.client.verify(resolveBackupConfiguration(resources(), configuration))).result();
  expect(outcome).toMatchObject({ snapshotId, passed: true, differences: [] });
  expect(outcome.tables).toBe(Object.keys(fingerprint.tables).length);
  expect(outcome.restoredBytes).toBe(manifest.data.rawBytes);
  expect(outcome.restoreSeconds).toBeGreaterThan(0);
  expect(JSON.parse((await readObject(objectKey(snapshotId, 'verification.json'))).toString('utf8'))).toEqual(outcome);
  expect(drillLeftovers()).toEqual([]);
  // The snapshot's listing shows its last drill.
  const [listed] = (await stack.client.listSnapshots(resolveBackupConfiguration(resources(), configuration).repository, configuration))
    .snapshots;
  expect(listed?.lastVerification).toEqual({
    verifiedAt: outcome.verifiedAt,
    passed: true,
    durationSeconds: outcome.durationSeconds,
    restoreSeconds: outcome.restoreSeconds,
  });
});

it('dbkeep verify --snapshot runs one from the command line', async () => {
  const [latest] = (await stack.client.listSnapshots(resolveBackupConfiguration(resources(), configuration).repository, configuration))
    .snapshots;
  const file = path.join(stack.dir, 'drilled.yaml');
  writeFileSync(
    file,
    stack.resourcesYaml(
      stack.targetDocument('source', source),
      configurationDocument(configuration, { target: 'source', databases: DATABASES, verification: {} }),
    ),
  );
  const env = { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address, DBKEEP_TASK_QUEUE: stack.taskQueue };
  const cli = await runDbkeep(['verify', '-f', file, '--config', configuration, '--snapshot', latest!.snapshotId, '--wait'], {
    env,
    cwd: stack.dir,
  });
  expect(cli.code, cli.stderr).toBe(0);
  expect(cli.stdout).toMatch(
    new RegExp(`^snapshot ${latest!.snapshotId} passed its restore drill: \\d+ table\\(s\\) and every object as recorded`),
  );
  const listed = await runDbkeep(['snapshots', '-f', file, '--config', configuration], { env, cwd: stack.dir });
  expect(listed.stdout).toMatch(new RegExp(`^${latest!.snapshotId} .* passed \\S+ \\(restore \\d+\\.\\d s\\)$`, 'm'));
});

it('fails the drill of a stored object altered afterwards on its SHA-256', async () => {
  const snapshotId = await backup();
  const manifest = await readManifest(snapshotId);
  const data = await readObject(objectKey(snapshotId, manifest.data.file));
  data[data.length - 10] = data[data.length - 10]! ^ 0xff;
  await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: objectKey(snapshotId, manifest.data.file), Body: data }));
  const failure = await workflowFailureOf(
    (await stack.client.verify(resolveBackupConfiguration(resources(), configuration), { snapshotId })).result(),
  );
  expect(failure).toMatchObject({ type: 'ChecksumMismatch', nonRetryable: true });
  // A finding about the snapshot: recorded, so `dbkeep snapshots` shows the failed drill.
  const recorded = drillOutcomeSchema.parse(JSON.parse((await readObject(objectKey(snapshotId, 'verification.json'))).toString('utf8')));
  expect(recorded).toMatchObject({ snapshotId, proof: 'fingerprint', passed: false, differences: [failure.message] });
  expect(drillLeftovers()).toEqual([]);
});

it('fails the drill of a dump altered before upload, re-stored with a valid SHA-256, on the fingerprint, naming the table', async () => {
  const snapshotId = await backup();
  const manifest = await readManifest(snapshotId);
  const sql = execFileSync('zstd', ['-d', '-c'], {
    input: await readObject(objectKey(snapshotId, manifest.data.file)),
    maxBuffer: 1 << 28,
  }).toString('utf8');
  expect(sql).toContain('the quick brown fox');
  const altered = execFileSync('zstd', ['-c', '-q'], {
    input: Buffer.from(sql.replace('the quick brown fox', 'the quick brown cat')),
    maxBuffer: 1 << 28,
  });
  await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: objectKey(snapshotId, manifest.data.file), Body: altered }));
  const { createHash } = await import('node:crypto');
  const rewritten: Manifest = {
    ...manifest,
    data: { ...manifest.data, storedBytes: altered.length, sha256: createHash('sha256').update(altered).digest('hex') },
  };
  await stack.s3.send(
    new PutObjectCommand({ Bucket: stack.bucket, Key: objectKey(snapshotId, 'manifest.json'), Body: JSON.stringify(rewritten) }),
  );
  const failure = await workflowFailureOf(
    (await stack.client.verify(resolveBackupConfiguration(resources(), configuration), { snapshotId })).result(),
  );
  expect(failure).toMatchObject({ type: 'DrillFailed', nonRetryable: true });
  expect(failure.message).toBe(
    `snapshot ${snapshotId} failed its restore drill: table ${FEATURES_DATABASE}.docs: same 3 rows, different data`,
  );
  const recorded = JSON.parse((await readObject(objectKey(snapshotId, 'verification.json'))).toString('utf8')) as { passed: boolean };
  expect(recorded.passed).toBe(false);
  expect(drillLeftovers()).toEqual([]);
  // Both failed drills were told to the webhook that asked for drillFailure, and nothing else was.
  const told = await pollUntil(
    async () => receiver.requests.map((r) => JSON.parse(r.body) as { event: string; snapshotId: string; error: string }),
    (messages) => messages.length >= 2,
    { what: 'the failed drills at the webhook', timeoutMs: 60_000 },
  );
  expect(told.map((m) => m.event)).toEqual(['drillFailure', 'drillFailure']);
  expect(told.find((m) => m.snapshotId === snapshotId)).toMatchObject({ error: failure.message });
});

it('drills every second snapshot by itself with everyN: 2', async () => {
  const everySecond = 'drilled-every-2';
  const set = stack.resources(
    stack.targetDocument('source', source),
    configurationDocument(everySecond, { target: 'source', databases: [FEATURES_DATABASE], verification: { everyN: 2 } }),
  );
  const drillOf = (snapshotId: string) => stack.client.temporal.workflow.getHandle(drillWorkflowId(everySecond, snapshotId));
  const drilled: boolean[] = [];
  for (let session = 1; session <= 4; session++) {
    const result = await (await stack.client.backupNow(resolveBackupConfiguration(set, everySecond))).result();
    if (result.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
    // A due drill was started before the session ended; it is awaited here, so the next session sees its outcome.
    const drill = await drillOf(result.snapshotId)
      .result()
      .then((outcome) => outcome.passed)
      .catch((error: Error) => (/not found/i.test(error.message) ? undefined : Promise.reject(error)));
    drilled.push(drill === true);
    // Started by an activity, not as the session's child: its end can never race the session's.
    if (drill !== undefined) {
      const description = await drillOf(result.snapshotId).describe();
      expect(description.type).toBe(RESTORE_DRILL_WORKFLOW_TYPE);
      expect(description.parentExecution).toBeUndefined();
    }
  }
  expect(drilled).toEqual([false, true, false, true]);
});

it('keeps a drill schedule of its own with spec.verification.schedule, which drills the newest snapshot, and removes it with the field', async () => {
  const scheduled = 'drilled-on-schedule';
  const set = (verification: object) =>
    stack.resources(
      stack.targetDocument('source', source),
      configurationDocument(scheduled, { target: 'source', databases: [FEATURES_DATABASE], verification }),
    );
  const drilledSchedule = set({ schedule: { cron: '0 4 * * 0', timezone: 'Europe/Berlin' } });
  const apply = async (resources: ReturnType<typeof set>) => (await stack.client.applyResources(resources))[0]?.drillSchedule;
  expect(await apply(drilledSchedule)).toBe('created');
  expect(await apply(drilledSchedule)).toBe('unchanged');
  const schedule = stack.client.temporal.schedule.getHandle(drillScheduleIdFor(scheduled));
  expect((await schedule.describe()).spec.timezone).toBe('Europe/Berlin');

  const backupNow = async () => {
    const result = await (await stack.client.backupNow(resolveBackupConfiguration(drilledSchedule, scheduled))).result();
    if (result.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
    return result.snapshotId;
  };
  const older = await backupNow();
  const newest = await backupNow();
  await schedule.trigger();
  const run = await pollUntil(
    async () => (await schedule.describe()).info.recentActions.at(-1)?.action.workflow,
    (workflow) => workflow !== undefined,
    { what: 'the drill schedule starting its workflow', timeoutMs: 30_000 },
  );
  expect(run!.workflowId).toMatch(new RegExp(`^verify/${scheduled}/scheduled-`));
  const result = await stack.client.temporal.workflow.getHandle<typeof scheduledRestoreDrill>(run!.workflowId).result();
  expect(result).toMatchObject({ drilled: { snapshotId: newest, passed: true } });
  // The drill itself is the snapshot's, as `dbkeep verify` names it; the older snapshot has none.
  expect(await stack.client.temporal.workflow.getHandle(drillWorkflowId(scheduled, newest)).result()).toMatchObject({ passed: true });
  const listed = (await stack.client.listSnapshots(resolveBackupConfiguration(drilledSchedule, scheduled).repository, scheduled)).snapshots;
  expect(listed.map((s) => [s.snapshotId, s.lastVerification?.passed])).toEqual([
    [newest, true],
    [older, undefined],
  ]);

  await pollUntil(
    async () => {
      for await (const summary of stack.client.temporal.schedule.list())
        if (summary.scheduleId === drillScheduleIdFor(scheduled)) return true;
      return false;
    },
    (visible) => visible,
    { what: 'the drill schedule in the listing', timeoutMs: 30_000 },
  );
  expect(await apply(set({}))).toBe('deleted');
  await expect(schedule.describe()).rejects.toThrow(/not found/i);
});

describe('a physical snapshot', () => {
  const physical = 'drilled-physical';
  const physicalResources = () => {
    const target = stack.targetDocument('source', source) as { spec: Record<string, unknown> };
    target.spec.datadir = source.datadir;
    return stack.resources(target, configurationDocument(physical, { target: 'source', method: 'physical', verification: {} }));
  };
  const physicalBackup = async () => {
    const result = await (await stack.client.backupNow(resolveBackupConfiguration(physicalResources(), physical))).result();
    if (result.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
    return result.snapshotId;
  };

  /** `database.table` → its rows, for every base table of the source's user databases. */
  async function sourceRowCounts(): Promise<Record<string, number>> {
    const tables = await rootQuery(
      source,
      `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name FROM information_schema.TABLES
       WHERE TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema') AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')`,
    );
    const counts: Record<string, number> = {};
    for (const { db, name } of tables) {
      const [row] = await rootQuery(
        source,
        `SELECT COUNT(*) AS n FROM ${mysql.escapeId(String(db), true)}.${mysql.escapeId(String(name), true)}`,
      );
      counts[`${String(db)}.${String(name)}`] = Number(row!.n);
    }
    return counts;
  }

  it('is drilled: prepared and started on, every base table passes CHECK TABLE, every row is read, and the row counts are stored', async () => {
    const snapshotId = await physicalBackup();
    const manifest = await readManifest(snapshotId, physical);
    expect(manifest.method).toBe('physical');
    expect(manifest.fingerprint).toBeUndefined();
    expect(manifest.databases).toEqual(expect.arrayContaining(DATABASES));
    const expected = await sourceRowCounts();
    expect(expected[`${FEATURES_DATABASE}.docs`]).toBe(3);

    const outcome = await (await stack.client.verify(resolveBackupConfiguration(physicalResources(), physical))).result();
    expect(outcome).toMatchObject({ snapshotId, proof: 'physical-integrity', passed: true, differences: [] });
    expect(outcome.tables).toBe(Object.keys(expected).length);
    expect(outcome.restoredBytes).toBe(manifest.data.rawBytes);
    expect(outcome.restoreSeconds).toBeGreaterThan(0);
    // The workflow's result leaves the per-table record out; verification.json has it.
    expect(outcome.restoredFingerprint).toBeUndefined();
    const stored = drillOutcomeSchema.parse(
      JSON.parse((await readObject(objectKey(snapshotId, 'verification.json', physical))).toString('utf8')),
    );
    const { restoredFingerprint, ...summary } = stored;
    expect(summary).toEqual(outcome);
    expect(Object.fromEntries(Object.entries(restoredFingerprint!.tables).map(([table, { rows }]) => [table, rows]))).toEqual(expected);
    expect(restoredFingerprint!.definitions[`${FEATURES_DATABASE}: view doc_titles`]).toMatch(/^[0-9a-f]{64}$/);
    expect(drillLeftovers()).toEqual([]);
  });

  it('fails its drill on the SHA-256 when its stored object was altered afterwards, and leaves no scratch server or directory', async () => {
    const snapshotId = await physicalBackup();
    const manifest = await readManifest(snapshotId, physical);
    const key = objectKey(snapshotId, manifest.data.file, physical);
    const data = await readObject(key);
    data[data.length - 10] = data[data.length - 10]! ^ 0xff;
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: data }));
    const failure = await workflowFailureOf(
      (await stack.client.verify(resolveBackupConfiguration(physicalResources(), physical), { snapshotId })).result(),
    );
    expect(failure).toMatchObject({ type: 'ChecksumMismatch', nonRetryable: true });
    expect(failure.message).toContain(`snapshot ${snapshotId}: data object does not match its manifest (sha256)`);
    const recorded = drillOutcomeSchema.parse(
      JSON.parse((await readObject(objectKey(snapshotId, 'verification.json', physical))).toString('utf8')),
    );
    expect(recorded).toMatchObject({ snapshotId, proof: 'physical-integrity', passed: false, differences: [failure.message] });
    expect(drillLeftovers()).toEqual([]);
  });
});
