import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { generateSyntheticDatabase, planSyntheticDatabase } from '../../bench/synthetic-database';
import { isPidAlive, stopPid } from '../../pipeline/managed-process';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { rootConnection, type E2eStack } from '../support/e2e-stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

/**
 * What the fault-injection files share: data big enough for a dump to be caught mid-upload,
 * direct reads of the S3 server (incomplete multipart uploads, parts, object hashes), and
 * reads of workflow histories (attempts, failures, their types).
 */

/**
 * Stops the stack; if that has not finished within `timeoutMs` (a worker whose shutdown waits
 * for an activity that hangs holds up the rest of the stack's own cleanup), kills its servers
 * by pid and removes its directory, so a failing file never leaves servers behind.
 */
export async function stopStack(stack: E2eStack | undefined, timeoutMs = 90_000): Promise<void> {
  if (!stack) return;
  const timer = new AbortController();
  const stopped = await Promise.race([stack.stop().then(() => true), sleep(timeoutMs, false, { signal: timer.signal }).catch(() => false)]);
  timer.abort();
  if (stopped) return;
  for (const pid of [stack.minio.pid, stack.pushgateway.pid, stack.temporal.pid]) await stopPid(pid, 'SIGKILL').catch(() => undefined);
  rmSync(stack.dir, { recursive: true, force: true });
}

/**
 * Fills `database` with the benchmark's generated tables, about `dumpMiB` MiB of
 * mariadb-dump output, generated inside the server (INSERT ... SELECT doubling), so it takes
 * seconds rather than the minutes a client sending rows would.
 */
export async function generateDatabase(instance: MariaDbInstance, database: string, dumpMiB: number): Promise<void> {
  const connection = await rootConnection(instance);
  try {
    await generateSyntheticDatabase(connection, { ...planSyntheticDatabase(dumpMiB), database });
  } finally {
    await connection.end();
  }
}

export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiated?: Date;
}

/**
 * Every incomplete multipart upload in the bucket. No Prefix on purpose: MinIO answers
 * ListMultipartUploads with a prefix only for an exact object key, so `Prefix: "dbkeep/"`
 * always lists nothing there, whatever is pending.
 */
export async function listIncompleteUploads(s3: S3Client, bucket: string): Promise<IncompleteUpload[]> {
  const uploads: IncompleteUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
    for (const upload of page.Uploads ?? []) {
      uploads.push({ key: upload.Key!, uploadId: upload.UploadId!, initiated: upload.Initiated });
    }
    if (!page.IsTruncated) return uploads;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

/**
 * Waits until a multipart upload of `key` holds at least `parts` parts: the dump is then
 * demonstrably mid-upload, which a heartbeat (sent every 2 s) cannot show as precisely.
 */
export async function waitForUploadedParts(s3: S3Client, bucket: string, key: string, parts: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    for (const upload of (listed.Uploads ?? []).filter((u) => u.Key === key)) {
      const uploaded = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }));
      if ((uploaded.Parts ?? []).length >= parts) return;
    }
    await sleep(100);
  }
  throw new Error(`no multipart upload of ${key} reached ${parts} parts within ${timeoutMs} ms`);
}

export async function objectBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const chunks: Buffer[] = [];
  for await (const chunk of response.Body as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function objectSha256(s3: S3Client, bucket: string, key: string): Promise<{ sha256: string; bytes: number }> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.Body as Readable) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export interface FailureInfo {
  message: string;
  type?: string;
  nonRetryable: boolean;
  /** Every message down the cause chain, outermost first. */
  chain: string[];
}

/** One activity of a workflow, as its history tells it. */
export interface ActivityRecord {
  activityType: string;
  /** The attempt that started last (the history records only the last start of a retried activity). */
  attempt?: number;
  /** The failure of the attempt before the last one, recorded on the last start. */
  lastFailure?: FailureInfo;
  outcome: 'completed' | 'failed' | 'timedOut' | 'canceled' | 'pending';
  failure?: FailureInfo;
  scheduledAtMs: number;
  startedAtMs?: number;
  closedAtMs?: number;
}

function timestampMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!ts) return undefined;
  return Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

function failureInfo(failure: temporal.api.failure.v1.IFailure | null | undefined): FailureInfo | undefined {
  if (!failure) return undefined;
  const chain: string[] = [];
  let application: temporal.api.failure.v1.IApplicationFailureInfo | undefined;
  for (let current: typeof failure | null | undefined = failure; current; current = current.cause) {
    chain.push(current.message ?? '');
    application ??= current.applicationFailureInfo ?? undefined;
  }
  return {
    message: failure.message ?? '',
    type: application?.type ?? undefined,
    nonRetryable: application?.nonRetryable ?? false,
    chain,
  };
}

/** The activities of a workflow, in the order they were scheduled. */
export async function activityRecords(client: Client, workflowId: string): Promise<ActivityRecord[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byScheduledId = new Map<string, ActivityRecord>();
  for (const event of history.events ?? []) {
    const at = timestampMs(event.eventTime) ?? 0;
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      byScheduledId.set(String(event.eventId), { activityType: scheduled.activityType?.name ?? '', outcome: 'pending', scheduledAtMs: at });
      continue;
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const record = byScheduledId.get(String(started.scheduledEventId));
      if (record)
        Object.assign(record, { attempt: started.attempt ?? undefined, lastFailure: failureInfo(started.lastFailure), startedAtMs: at });
      continue;
    }
    const closing =
      (event.activityTaskCompletedEventAttributes && {
        outcome: 'completed' as const,
        attrs: event.activityTaskCompletedEventAttributes,
        failure: undefined,
      }) ||
      (event.activityTaskFailedEventAttributes && {
        outcome: 'failed' as const,
        attrs: event.activityTaskFailedEventAttributes,
        failure: event.activityTaskFailedEventAttributes.failure,
      }) ||
      (event.activityTaskTimedOutEventAttributes && {
        outcome: 'timedOut' as const,
        attrs: event.activityTaskTimedOutEventAttributes,
        failure: event.activityTaskTimedOutEventAttributes.failure,
      }) ||
      (event.activityTaskCanceledEventAttributes && {
        outcome: 'canceled' as const,
        attrs: event.activityTaskCanceledEventAttributes,
        failure: undefined,
      });
    if (closing) {
      const record = byScheduledId.get(String(closing.attrs.scheduledEventId));
      if (record) Object.assign(record, { outcome: closing.outcome, failure: failureInfo(closing.failure), closedAtMs: at });
    }
  }
  return [...byScheduledId.values()];
}

/** The one activity of a type a session ran; fails the test when there is not exactly one. */
export function onlyActivity(records: readonly ActivityRecord[], activityType: string): ActivityRecord {
  const matching = records.filter((r) => r.activityType === activityType);
  if (matching.length !== 1) {
    throw new Error(
      `expected one ${activityType} activity, found ${matching.length}: ${JSON.stringify(records.map((r) => r.activityType))}`,
    );
  }
  return matching[0]!;
}

/** The Pushgateway's exposition: the value of `metric` in the group carrying `labels`. */
export async function pushedMetric(pushgatewayUrl: string, metric: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${pushgatewayUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${metric}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** How a session that should fail at once actually went, seen without waiting out retries. */
export type SessionVerdict =
  | { kind: 'closed'; runStatus: string }
  | { kind: 'retrying'; activityType: string; attempt: number; lastFailure: string }
  | { kind: 'workflowTaskFailing'; message: string };

/**
 * Polls a session until it closes, or until it shows it is retrying something (an activity on
 * attempt 2 or more, or a workflow task that failed): a permanent failure must close it on
 * the first attempt, and this tells which way it went within seconds rather than after the
 * retry policy's minutes.
 */
export async function sessionVerdict(client: Client, workflowId: string, timeoutMs = 60_000): Promise<SessionVerdict> {
  const handle = client.workflow.getHandle(workflowId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') return { kind: 'closed', runStatus: description.status.name };
    const retried = (description.raw.pendingActivities ?? []).find((a) => (a.attempt ?? 1) > 1);
    if (retried) {
      return {
        kind: 'retrying',
        activityType: retried.activityType?.name ?? '',
        attempt: retried.attempt ?? 0,
        lastFailure: retried.lastFailure?.message ?? '',
      };
    }
    const history = await handle.fetchHistory();
    const failedTask = (history.events ?? []).find((e) => e.workflowTaskFailedEventAttributes);
    if (failedTask) {
      return { kind: 'workflowTaskFailing', message: failedTask.workflowTaskFailedEventAttributes?.failure?.message ?? '' };
    }
    if (Date.now() > deadline) throw new Error(`session ${workflowId} neither closed nor retried within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/**
 * The session's result, or a failure naming the worker process and quoting its log as soon as
 * that process exits: the only worker gone, no retry would ever run and the test would hang.
 * Past `timeoutMs` it fails too, saying what the session is waiting for (its pending activity,
 * attempt and last failure). Either way the session is then terminated, so nothing keeps
 * polling for it after the test.
 */
export async function resultUnlessWorkerExits<R>(
  handle: {
    workflowId: string;
    result(): Promise<R>;
    terminate(reason?: string): Promise<unknown>;
    describe(): Promise<{ raw: { pendingActivities?: temporal.api.workflow.v1.IPendingActivityInfo[] | null } }>;
  },
  worker: WorkerProcess,
  timeoutMs = 150_000,
): Promise<R> {
  const watchdog = new AbortController();
  const deadline = Date.now() + timeoutMs;
  let stopped: Error | undefined;
  const exited = (async (): Promise<never> => {
    while (isPidAlive(worker.pid) && Date.now() < deadline) await sleep(250, undefined, { signal: watchdog.signal });
    stopped = isPidAlive(worker.pid) ? await stillRunningError(handle, timeoutMs) : workerExitError(worker);
    await handle.terminate(stopped.message.split('\n')[0]).catch(() => undefined);
    throw stopped;
  })();
  try {
    // Terminating the session also ends result(): that rejection is the reason given above.
    const result = handle.result().catch((error: unknown) => {
      throw stopped ?? error;
    });
    return await Promise.race([result, exited]);
  } finally {
    watchdog.abort();
    exited.catch(() => undefined);
  }
}

async function stillRunningError(handle: Parameters<typeof resultUnlessWorkerExits>[0], timeoutMs: number): Promise<Error> {
  const pending = await handle.describe().then(
    (d) =>
      (d.raw.pendingActivities ?? []).map(
        (a) => `${a.activityType?.name} attempt ${a.attempt}${a.lastFailure ? `, last failure: ${a.lastFailure.message}` : ''}`,
      ),
    (error: unknown) => [`(describe failed: ${String(error)})`],
  );
  return new Error(
    `session ${handle.workflowId} still running after ${timeoutMs / 1000} s; pending: ${pending.join('; ') || 'no activity'}`,
  );
}

/** Fails at once, with the end of its log, when the worker process is gone. */
export function expectWorkerAlive(worker: WorkerProcess): void {
  if (!isPidAlive(worker.pid)) throw workerExitError(worker);
}

function workerExitError(worker: WorkerProcess): Error {
  const log = readFileSync(worker.logFile, 'utf8').trimEnd().split('\n').slice(-25).join('\n');
  return new Error(`the dbkeep worker (pid ${worker.pid}) exited during the session; end of its log:\n${log}`);
}

/** Elapsed seconds since `startedMs`, one decimal, for the timings the files print. */
export function secondsSince(startedMs: number): number {
  return Math.round((Date.now() - startedMs) / 100) / 10;
}

/** One history event of an activity: its type as the history names it, and when it happened. */
export interface ActivityEvent {
  type: 'Scheduled' | 'Started' | 'CancelRequested' | 'Completed' | 'Failed' | 'TimedOut' | 'Canceled';
  atMs: number;
  failure?: FailureInfo;
}

/**
 * The history events of each activity of a type, in order, grouped by scheduled event: how a
 * cancellation went (CancelRequested, then Canceled once the activity confirmed it), which
 * activityRecords, keeping only the outcome, does not tell.
 */
export async function activityEvents(client: Client, workflowId: string, activityType: string): Promise<ActivityEvent[][]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byScheduledId = new Map<string, ActivityEvent[]>();
  for (const event of history.events ?? []) {
    const atMs = timestampMs(event.eventTime) ?? 0;
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      if (scheduled.activityType?.name === activityType) byScheduledId.set(String(event.eventId), [{ type: 'Scheduled', atMs }]);
      continue;
    }
    const related: Array<
      [ActivityEvent['type'], { scheduledEventId?: unknown } | null | undefined, temporal.api.failure.v1.IFailure | null | undefined]
    > = [
      ['Started', event.activityTaskStartedEventAttributes, event.activityTaskStartedEventAttributes?.lastFailure],
      ['CancelRequested', event.activityTaskCancelRequestedEventAttributes, undefined],
      ['Completed', event.activityTaskCompletedEventAttributes, undefined],
      ['Failed', event.activityTaskFailedEventAttributes, event.activityTaskFailedEventAttributes?.failure],
      ['TimedOut', event.activityTaskTimedOutEventAttributes, event.activityTaskTimedOutEventAttributes?.failure],
      ['Canceled', event.activityTaskCanceledEventAttributes, undefined],
    ];
    for (const [type, attrs, failure] of related) {
      const events = attrs ? byScheduledId.get(String(attrs.scheduledEventId)) : undefined;
      if (events) events.push({ type, atMs, failure: failureInfo(failure) });
    }
  }
  return [...byScheduledId.values()];
}

/**
 * A `dbkeep worker` process on the stack's Temporal server and Pushgateway, serving `taskQueue`,
 * recorded in `workers` so the file's afterAll stops it whatever happened.
 */
export async function startStackWorker(stack: E2eStack, taskQueue: string, name: string, workers: WorkerProcess[]): Promise<WorkerProcess> {
  const worker = await startWorkerProcess({
    dir: stack.dir,
    address: stack.temporal.address,
    namespace: stack.temporal.namespace,
    taskQueue,
    name,
    pushgatewayUrl: stack.pushgateway.url,
  });
  workers.push(worker);
  return worker;
}

/** How many tables `database` has on the instance now (a restore's progress, seen from the target). */
export async function tablesIn(instance: MariaDbInstance, database: string): Promise<number> {
  const connection = await rootConnection(instance);
  try {
    const [[row]] = await connection.query<import('mysql2/promise').RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
      [database],
    );
    return Number(row?.n);
  } finally {
    await connection.end();
  }
}
