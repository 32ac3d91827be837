import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Progress } from '../../domain/progress';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { parseManifest } from '../../domain/manifest';
import { resolveBackupConfiguration, resolveTarget, type ResourceSet } from '../../domain/resource-set';
import { backupLockWorkflowId } from '../../domain/session-ids';
import { diffFingerprints } from '../../stack/database-fingerprint';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, fingerprintDatabases, rootConnection, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { killLeftovers, stillRunning, type ProcessInfo, type WorkerProcess } from '../support/worker-process';
import {
  activityEvents,
  activityRecords,
  generateDatabase,
  listIncompleteUploads,
  objectBytes,
  onlyActivity,
  pushedMetric,
  resultUnlessWorkerExits,
  secondsSince,
  startStackWorker,
  stopStack,
  tablesIn,
  waitForUploadedParts,
} from './fault-harness';

/**
 * Cancellation end to end, against the real servers and a `dbkeep worker` process: a backup
 * session cancelled from the client while its dump uploads, a restore session cancelled while
 * it applies, and the worker process sent SIGTERM mid-dump. Each must stop its child
 * processes, abort its multipart upload, leave no snapshot behind and free the configuration
 * for the next session; the heartbeats a running session shows are checked on the way.
 *
 * The dumps are held at a known point by a table lock: `LOCK TABLES … WRITE` on a one-row
 * table that sorts after `ledger_2` makes mariadb-dump wait for its metadata lock with the
 * first tables dumped and uploading, for as long as the test needs, whatever the machine's
 * speed. `FLUSH TABLES WITH READ LOCK` on the restore target holds a restore's client the same
 * way. Needs the built CLI (`npm run build`; `npm test` builds).
 */
let stack: E2eStack;
let source: MariaDbInstance;
let restoreTarget: MariaDbInstance;
let client: DbkeepClient;
let resources: ResourceSet;
const workers: WorkerProcess[] = [];
const orphans: ProcessInfo[] = [];
const heldLocks: Connection[] = [];

// Four tables of ~40 MiB of SQL. While the dump waits after one of them, about 8.4 MB has reached
// the uploader (the compressor holds the rest), right at the 8 MiB part size; after two, about 20 MB.
const LEDGER_DUMP_MIB = 160;
const ORDERS_DUMP_MIB = 24;
/** Sort right after ledger_2 and ledger_3: a dump held at the first has two tables uploaded, at the second three. */
const FIRST_GATE = 'ledger_2_gate';
const SECOND_GATE = 'ledger_3_gate';
const TOOLS = ['mariadb-dump', 'mariadb', 'zstd', 'dbkeep-fetch'];
// SIGTERM waits out the worker's 20 s shutdown grace, then 5 s of backoff and a whole dump.
const SIGTERM_TEST_TIMEOUT_MS = 150_000;

const startWorker = (name: string) => startStackWorker(stack, client.taskQueue, name, workers);

/** The dump, restore and compression tools running under the worker now. */
function toolsUnder(worker: WorkerProcess): ProcessInfo[] {
  const tools = worker.descendants().filter((p) => TOOLS.includes(p.command));
  orphans.push(...tools);
  return tools;
}

/**
 * Holds a lock on `instance` over its own connection until released (or the test ends: a
 * failed test must not leave the next one waiting on its lock); `sql` takes it.
 */
async function holdLock(instance: MariaDbInstance, sql: string): Promise<{ release(): Promise<void> }> {
  const connection = await rootConnection(instance);
  await connection.query(sql);
  heldLocks.push(connection);
  return { release: () => releaseLock(connection) };
}

async function releaseLock(connection: Connection): Promise<void> {
  if (!heldLocks.includes(connection)) return;
  heldLocks.splice(heldLocks.indexOf(connection), 1);
  await connection.end();
}

const closeGate = (table: string) => holdLock(source, `LOCK TABLES ledger.\`${table}\` WRITE`);

/** Waits until a session of `instance` waits for a lock, its statement matching `statement` (LIKE). */
async function waitForLockWait(instance: MariaDbInstance, statement: string, timeoutMs = 60_000): Promise<void> {
  const connection = await rootConnection(instance);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [[row]] = await connection.query<RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for%lock%' AND INFO LIKE ? AND ID <> CONNECTION_ID()",
        [statement],
      );
      if (Number(row?.n) > 0) return;
      if (Date.now() > deadline)
        throw new Error(`no session of ${instance.host}:${instance.port} waited on a lock running ${statement} within ${timeoutMs} ms`);
      await sleep(100);
    }
  } finally {
    await connection.end();
  }
}

const waitForDumpAtGate = (table: string) => waitForLockWait(source, `%FROM \`${table}\`%`);

/** The progress the session's running activity last heartbeated, once it satisfies `wanted`. */
async function waitForProgress(
  workflowId: string,
  wanted: (p: Progress) => boolean,
  timeoutMs = 30_000,
): Promise<{ activity: string; attempt: number; progress: Progress }> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const { activity } = await client.describeSession(workflowId);
    last = activity;
    if (activity?.progress && wanted(activity.progress))
      return { activity: activity.name, attempt: activity.attempt, progress: activity.progress };
    if (Date.now() > deadline)
      throw new Error(`${workflowId}: no heartbeat as wanted within ${timeoutMs} ms; last seen ${JSON.stringify(last)}`);
    await sleep(250);
  }
}

/**
 * After a cancellation at `sinceMs`: seconds until each condition first held (polled every
 * 100 ms), or undefined for those that never did within `timeoutMs`.
 */
async function secondsUntil<K extends string>(
  sinceMs: number,
  conditions: Record<K, () => Promise<boolean> | boolean>,
  timeoutMs = 20_000,
): Promise<Record<K, number | undefined>> {
  const seen = {} as Record<K, number | undefined>;
  const names = Object.keys(conditions) as K[];
  const deadline = Date.now() + timeoutMs;
  while (names.some((n) => seen[n] === undefined) && Date.now() < deadline) {
    for (const name of names) if (seen[name] === undefined && (await conditions[name]())) seen[name] = secondsSince(sinceMs);
    await sleep(100);
  }
  return seen;
}

async function sessionClosed(workflowId: string): Promise<boolean> {
  return (await stack.client.temporal.workflow.getHandle(workflowId).describe()).status.name !== 'RUNNING';
}

const noIncompleteUpload = async () => (await listIncompleteUploads(stack.s3, stack.bucket)).length === 0;

/** How the session's result() ended: it must be the cancellation, not a failure of the work. */
async function cancellationOf(result: Promise<unknown>): Promise<WorkflowFailedError> {
  const error = await result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  return error as WorkflowFailedError;
}

beforeAll(async () => {
  stack = await startE2eStack();
  // Its own task queue: only the worker processes this file starts serve it.
  client = new DbkeepClient(stack.client.temporal, `cancel-${randomBytes(4).toString('hex')}`);
  source = await stack.startMariaDb();
  restoreTarget = await stack.startMariaDb();
  await generateDatabase(source, 'ledger', LEDGER_DUMP_MIB);
  await generateDatabase(source, 'orders', ORDERS_DUMP_MIB);
  const connection = await rootConnection(source);
  try {
    for (const gate of [FIRST_GATE, SECOND_GATE]) {
      await connection.query(
        `CREATE TABLE ledger.\`${gate}\` (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO ledger.\`${gate}\` VALUES (1)`,
      );
    }
  } finally {
    await connection.end();
  }
  resources = stack.resources(
    stack.targetDocument('ledger-db', source),
    stack.targetDocument('orders-db', source),
    stack.targetDocument('orders-copy', restoreTarget),
    configurationDocument('ledger', { target: 'ledger-db', databases: ['ledger'] }),
    configurationDocument('orders', { target: 'orders-db', databases: ['orders'] }),
  );
  await startWorker('main');
});

afterEach(async () => {
  for (const connection of [...heldLocks]) await releaseLock(connection).catch(() => undefined);
});

afterAll(async () => {
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await killLeftovers(orphans);
  await stopStack(stack);
});

const ledger = () => resolveBackupConfiguration(resources, 'ledger');
const backupMetric = (configuration: string) =>
  pushedMetric(stack.pushgateway.url, 'dbkeep_session_success', { kind: 'backup', configuration });

describe('backup session cancelled while its dump uploads', () => {
  it('kills the dump tools, aborts the upload, commits nothing, reports Failed and success=0, and releases the lock', async () => {
    const worker = workers[0]!;
    const gate = await closeGate(FIRST_GATE);
    const handle = await client.backupNow(ledger());
    const snapshotId = handle.workflowId.split('/')[2]!;
    await waitForUploadedParts(stack.s3, stack.bucket, `dbkeep/ledger/${snapshotId}/dump.sql.zst`, 1);
    await waitForDumpAtGate(FIRST_GATE);
    const tools = toolsUnder(worker);
    expect(tools.map((t) => t.command).sort()).toEqual(['mariadb-dump', 'zstd']);

    const cancelledAt = Date.now();
    await handle.cancel(); // what `temporal workflow cancel` sends
    // Checked in this order each round, so a later one seen in the same round came no earlier.
    const took = await secondsUntil(cancelledAt, {
      toolsGone: () => stillRunning(tools).length === 0,
      uploadAborted: noIncompleteUpload,
      lockReleased: () => sessionClosed(backupLockWorkflowId('ledger')),
      sessionClosed: () => sessionClosed(handle.workflowId),
    });
    console.log(`cancellation: backup cancelled mid-upload; seconds after cancel(): ${JSON.stringify(took)}`);
    expect(took.toolsGone).toBeLessThan(10);
    expect(took.uploadAborted).toBeLessThan(10);
    expect(took.sessionClosed).toBeLessThan(10);
    // The session ends, and frees the configuration, only once its dump has really stopped.
    expect(took.lockReleased).toBeGreaterThanOrEqual(took.toolsGone!);
    expect(took.sessionClosed).toBeGreaterThanOrEqual(Math.max(took.toolsGone!, took.uploadAborted!));
    await cancellationOf(handle.result());
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(toolsUnder(worker)).toEqual([]);
    await gate.release();

    // The dump was asked to cancel, and confirmed it.
    const [dump] = await activityEvents(stack.client.temporal, handle.workflowId, 'dumpToRepository');
    console.log(`cancellation: dump activity events ${JSON.stringify(dump?.map((e) => e.type))}`);
    expect(dump?.map((e) => e.type)).toEqual(['Scheduled', 'CancelRequested', 'Started', 'Canceled']);

    // The session's own view: Failed, saying it was cancelled, in the dump step.
    const status = await client.status(handle.workflowId);
    console.log(`cancellation: the cancelled backup's status ${JSON.stringify(status)}`);
    expect(status).toMatchObject({ phase: 'Failed', snapshotId });
    expect(status.error).toBe('the session was cancelled');
    expect(status.steps.find((s) => s.name === 'dump')).toMatchObject({ failed: true });

    // Nothing of the snapshot is stored: no data object, no manifest; nothing is listed.
    expect(await stack.listKeys('ledger/')).toEqual([]);
    const listed = await stack.client.listSnapshots(resources.repositories.get('repo')!, 'ledger');
    expect(listed).toMatchObject({ snapshots: [], problems: [] });

    expect(await backupMetric('ledger')).toBe(0);
    // The lock went with the session.
    const lock = await stack.client.temporal.workflow.getHandle(backupLockWorkflowId('ledger')).describe();
    expect(lock.status.name).not.toBe('RUNNING');
  });

  it('runs the next backup of the configuration, which heartbeats its phase and growing byte counts and succeeds', async () => {
    const first = await closeGate(FIRST_GATE);
    const second = await closeGate(SECOND_GATE);
    // Not refused, not skipped: the cancelled session's lock is free.
    const handle = await client.backupNow(ledger());
    await waitForDumpAtGate(FIRST_GATE);
    const atFirst = await waitForProgress(handle.workflowId, (p) => p.bytesWritten > 0);
    await first.release();
    await waitForDumpAtGate(SECOND_GATE);
    const atSecond = await waitForProgress(
      handle.workflowId,
      (p) => p.bytesRead > atFirst.progress.bytesRead && p.bytesWritten > atFirst.progress.bytesWritten,
    );
    console.log(`cancellation: heartbeats at the first gate ${JSON.stringify(atFirst)}, at the second ${JSON.stringify(atSecond)}`);
    for (const seen of [atFirst, atSecond])
      expect(seen).toMatchObject({ activity: 'dumpToRepository', attempt: 1, progress: { phase: 'dumping' } });
    await second.release();

    const result = await resultUnlessWorkerExits(handle, workers[0]!);
    expect(result).toMatchObject({ outcome: 'succeeded', databases: ['ledger'] });
    if (result.outcome !== 'succeeded') return;
    // The whole dump went further than the heartbeats at the gates.
    expect(result.rawBytes).toBeGreaterThan(atSecond.progress.bytesRead);
    expect(result.storedBytes).toBeGreaterThan(atSecond.progress.bytesWritten);
    expect(await backupMetric('ledger')).toBe(1);
    expect(await listIncompleteUploads(stack.s3, stack.bucket)).toEqual([]);
  });
});

describe('restore session cancelled while it applies', () => {
  it('kills the mariadb client, ends cancelled with the target as it was before, and a restore afterwards makes it identical', async () => {
    const worker = workers[0]!;
    const backup = await resultUnlessWorkerExits(await client.backupNow(resolveBackupConfiguration(resources, 'orders')), worker);
    if (backup.outcome !== 'succeeded') throw new Error('backup skipped');
    const restoreOptions = {
      repository: resources.repositories.get('repo')!,
      configuration: 'orders',
      target: resolveTarget(resources, 'orders-copy'),
      selector: { snapshotId: backup.snapshotId },
    };
    const handle = await client.restore(restoreOptions);
    // Half applied (the second of four tables exists), then held: every write waits for the read lock.
    const deadline = Date.now() + 60_000;
    while ((await tablesIn(restoreTarget, 'orders')) < 2) {
      if (Date.now() > deadline) throw new Error('the restore never got to the second table');
      await sleep(100);
    }
    const readLock = await holdLock(restoreTarget, 'FLUSH TABLES WITH READ LOCK');
    await waitForLockWait(restoreTarget, '%');
    const applying = await waitForProgress(handle.workflowId, (p) => p.phase === 'applying' && p.bytesWritten > 0);
    const tools = toolsUnder(worker);
    // dbkeep-fetch, reading the object from MinIO into zstd, runs too unless it already wrote the whole object into the pipe.
    expect(
      tools
        .map((t) => t.command)
        .filter((command) => command !== 'dbkeep-fetch')
        .sort(),
    ).toEqual(['mariadb', 'zstd']);

    const cancelledAt = Date.now();
    await handle.cancel();
    const stopped = await secondsUntil(cancelledAt, { toolsGone: () => stillRunning(tools).length === 0 });
    expect(stopped.toolsGone).toBeLessThan(10);
    // The session then drops what the cancelled apply left, which waits for the read lock like any write.
    expect(await sessionClosed(handle.workflowId)).toBe(false);
    await readLock.release();
    const closed = await secondsUntil(cancelledAt, { sessionClosed: () => sessionClosed(handle.workflowId) });
    console.log(
      `cancellation: restore cancelled while applying (${JSON.stringify(applying.progress)}); seconds after cancel(): ${JSON.stringify({ ...stopped, ...closed })}`,
    );
    expect(closed.sessionClosed).toBeLessThan(20);
    await cancellationOf(handle.result());
    expect(toolsUnder(worker)).toEqual([]);
    const [restore] = await activityEvents(stack.client.temporal, handle.workflowId, 'restoreFromSnapshot');
    expect(restore?.map((e) => e.type)).toEqual(['Scheduled', 'CancelRequested', 'Started', 'Canceled']);
    const status = await client.status(handle.workflowId);
    console.log(`cancellation: the cancelled restore's status ${JSON.stringify(status)}`);
    expect(status).toMatchObject({ phase: 'Failed', snapshotId: backup.snapshotId });
    expect(status.error).toBe('the session was cancelled');
    expect(await pushedMetric(stack.pushgateway.url, 'dbkeep_session_success', { kind: 'restore', configuration: 'orders' })).toBe(0);

    // The target had no `orders` before: the half-applied one is gone, and a new restore makes it identical.
    expect(await tablesIn(restoreTarget, 'orders')).toBe(0);
    const expected = await fingerprintDatabases(source, ['orders']);
    const again = await resultUnlessWorkerExits(await client.restore(restoreOptions), worker);
    expect(again).toMatchObject({ snapshotId: backup.snapshotId, databases: ['orders'] });
    expect(diffFingerprints(expected.orders!, (await fingerprintDatabases(restoreTarget, ['orders'])).orders!)).toEqual([]);
  });
});

describe('worker process sent SIGTERM mid-dump', () => {
  it(
    'exits within its shutdown grace, fails the attempt, aborts the upload, and the retry on a new worker commits one snapshot',
    async () => {
      const worker = workers[0]!;
      const gate = await closeGate(FIRST_GATE);
      const handle = await client.backupNow(ledger());
      const snapshotId = handle.workflowId.split('/')[2]!;
      const dataKey = `dbkeep/ledger/${snapshotId}/dump.sql.zst`;
      // Should no part appear, the session's status, its pending activity (scheduled or started,
      // its last progress), the worker's tools and the source's sessions tell where the dump was.
      await waitForUploadedParts(stack.s3, stack.bucket, dataKey, 1).catch(async (error: unknown) => {
        const described = await handle.describe().catch(() => undefined);
        const session = await client.describeSession(handle.workflowId).catch(() => undefined);
        const sourceSessions = await rootQuery(
          source,
          "SELECT USER AS user, COMMAND AS command, STATE AS state, LEFT(INFO, 80) AS info FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Sleep'",
        ).catch(() => []);
        throw new Error(
          `${(error as Error).message}; session: ${JSON.stringify(session)}; pending: ${JSON.stringify(
            described?.raw.pendingActivities?.map((a) => ({
              type: a.activityType?.name,
              state: a.state,
              attempt: a.attempt,
              lastFailure: a.lastFailure?.message,
            })),
          )}; worker tools: ${JSON.stringify(toolsUnder(worker).map((t) => t.command))}; source sessions: ${JSON.stringify(sourceSessions)}`,
        );
      });
      await waitForDumpAtGate(FIRST_GATE);
      const tools = toolsUnder(worker);
      expect(tools.map((t) => t.command).sort()).toEqual(['mariadb-dump', 'zstd']);

      // The dump is held at the gate, so it cannot finish within the grace: it must be cancelled.
      const sigtermAt = Date.now();
      await worker.stop();
      const exitedAfter = secondsSince(sigtermAt);
      expect(exitedAfter).toBeLessThan(25);
      expect(stillRunning(tools)).toEqual([]);
      const after = await secondsUntil(sigtermAt, {
        uploadAborted: noIncompleteUpload,
        attemptFailed: async () => ((await handle.describe()).raw.pendingActivities ?? []).some((a) => a.lastFailure),
      });
      console.log(`cancellation: SIGTERM mid-dump; worker exited after ${exitedAfter} s; seconds after SIGTERM: ${JSON.stringify(after)}`);
      expect(after.uploadAborted).toBeLessThan(25);
      // The attempt was reported by the worker, long before the 30 s heartbeat timeout would have.
      expect(after.attemptFailed).toBeLessThan(25);
      const [pending] = (await handle.describe()).raw.pendingActivities ?? [];
      expect(pending?.activityType?.name).toBe('dumpToRepository');
      console.log(`cancellation: the SIGTERMed attempt's failure: ${pending?.lastFailure?.message}`);
      expect(pending?.lastFailure?.message).toMatch(/shutting down/i);
      expect(pending?.lastFailure?.message).not.toMatch(/heartbeat/i);
      await gate.release();

      const next = await startWorker('after-sigterm');
      const result = await resultUnlessWorkerExits(handle, next);
      console.log(`cancellation: the session completed ${secondsSince(sigtermAt)} s after SIGTERM`);
      expect(result).toMatchObject({ outcome: 'succeeded', snapshotId });
      if (result.outcome !== 'succeeded') return;
      const dump = onlyActivity(await activityRecords(stack.client.temporal, handle.workflowId), 'dumpToRepository');
      expect(dump).toMatchObject({ outcome: 'completed', attempt: 2 });
      expect(dump.lastFailure?.chain.join(' ')).not.toMatch(/heartbeat/i);

      // Exactly one snapshot of this session (beside the previous test's), its object the manifest's.
      const keys = (await stack.listKeys('ledger/')).filter((k) => k.startsWith(`ledger/${snapshotId}/`));
      expect(keys).toEqual([`ledger/${snapshotId}/dump.sql.zst`, `ledger/${snapshotId}/manifest.json`]);
      const manifest = parseManifest(
        (await objectBytes(stack.s3, stack.bucket, `dbkeep/ledger/${snapshotId}/manifest.json`)).toString('utf8'),
      );
      if (!manifest.ok) throw new Error(manifest.reason);
      const stored = await objectBytes(stack.s3, stack.bucket, dataKey);
      expect(stored.length).toBe(manifest.manifest.data.storedBytes);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(manifest.manifest.data.sha256);
      expect(await listIncompleteUploads(stack.s3, stack.bucket)).toEqual([]);
    },
    SIGTERM_TEST_TIMEOUT_MS,
  );
});
