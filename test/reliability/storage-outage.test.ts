import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { describeFailure } from '../../clients/failure-description';
import { resolveBackupConfiguration, type ResourceSet } from '../../domain/resource-set';
import { isPidAlive } from '../../pipeline/managed-process';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { startMinio, type MinioServer } from '../../stack/minio-server';
import { configurationDocument, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import {
  activityRecords,
  expectWorkerAlive,
  generateDatabase,
  listIncompleteUploads,
  objectSha256,
  onlyActivity,
  pushedMetric,
  resultUnlessWorkerExits,
  secondsSince,
  stopStack,
  waitForUploadedParts,
} from './fault-harness';

/**
 * The S3 server (MinIO) stops in the middle of a dump upload. Back within the retry window,
 * the session succeeds on a retried attempt; gone for longer than the configuration's
 * `timeout`, the session fails, says why, pushes success=0 and leaves nothing listed. The
 * worker is its own process, as users run it (build first; `npm test` does).
 */
let stack: E2eStack;
let source: MariaDbInstance;
let client: DbkeepClient;
let worker: WorkerProcess | undefined;
/** The MinIO running now on the stack's port and data dir; replaced on every restart. */
let minio: MinioServer | undefined;
const startedHere: MinioServer[] = [];

const DUMP_MIB = 200;
const BOUNDED_TIMEOUT = '30s';

function resources(configuration: string, spec: Record<string, unknown> = {}): ResourceSet {
  return stack.resources(
    stack.targetDocument('ledger-db', source),
    configurationDocument(configuration, { target: 'ledger-db', databases: ['ledger'], ...spec }),
  );
}

async function stopMinio(): Promise<void> {
  await (minio ?? stack.minio).stop();
  minio = undefined;
}

/** MinIO again on the same port and data directory, as a restarted server would be. */
async function restartMinio(): Promise<void> {
  minio = await startMinio({
    dir: path.join(stack.dir, 'minio'),
    port: stack.minio.port,
    accessKey: readFileSync(path.join(stack.dir, 's3-access-key'), 'utf8'),
    secretKey: stack.s3SecretKey,
  });
  startedHere.push(minio);
}

beforeAll(async () => {
  stack = await startE2eStack();
  client = new DbkeepClient(stack.client.temporal, `outage-${randomBytes(4).toString('hex')}`);
  source = await stack.startMariaDb();
  await generateDatabase(source, 'ledger', DUMP_MIB);
  worker = await startWorkerProcess({
    dir: stack.dir,
    address: stack.temporal.address,
    namespace: stack.temporal.namespace,
    taskQueue: client.taskQueue,
    name: 'outage',
    pushgatewayUrl: stack.pushgateway.url,
  });
});

afterAll(async () => {
  await worker?.stop().catch(() => undefined);
  for (const server of startedHere) await server.stop().catch(() => undefined);
  await stopStack(stack);
});

describe('S3 server stopped mid-upload and started again within the retry window', () => {
  it('succeeds on a retried attempt with one complete snapshot', async () => {
    const set = resources('ledger');
    const handle = await client.backupNow(resolveBackupConfiguration(set, 'ledger'));
    const snapshotId = handle.workflowId.split('/')[2]!;
    const dataKey = `dbkeep/ledger/${snapshotId}/dump.sql.zst`;
    await waitForUploadedParts(stack.s3, stack.bucket, dataKey, 1);
    const stoppedAt = Date.now();
    await stopMinio();
    await sleep(2_000);
    await restartMinio();
    console.log(`storage-outage: MinIO was down for ${secondsSince(stoppedAt)} s`);

    const result = await resultUnlessWorkerExits(handle, worker!, 90_000);
    expect(result).toMatchObject({ outcome: 'succeeded', snapshotId });
    if (result.outcome !== 'succeeded') return;

    // The outage was a transient failure: retried with backoff, not failed at once.
    const dump = onlyActivity(await activityRecords(stack.client.temporal, handle.workflowId), 'dumpToRepository');
    console.log(`storage-outage: dump attempt ${dump.attempt}, previous attempt failed with: ${dump.lastFailure?.chain.join(' <- ')}`);
    expect(dump.outcome).toBe('completed');
    expect(dump.attempt).toBeGreaterThan(1);
    expect(dump.lastFailure).toMatchObject({ nonRetryable: false });
    // The failure names the object and S3's error, not the AbortError of the body it stopped reading.
    const previous = dump.lastFailure?.chain.join(' <- ') ?? '';
    expect(previous).toContain(`uploading s3://${stack.bucket}/${dataKey}: `);
    expect(previous).not.toMatch(/operation was aborted|Upload aborted/);

    expect(await stack.listKeys('ledger/')).toEqual([`ledger/${snapshotId}/dump.sql.zst`, `ledger/${snapshotId}/manifest.json`]);
    expect(await objectSha256(stack.s3, stack.bucket, dataKey)).toEqual({ sha256: result.sha256, bytes: result.storedBytes });
    const listed = await stack.client.listSnapshots(set.repositories.get('repo')!, 'ledger');
    expect(listed.snapshots.map((s) => s.snapshotId)).toEqual([snapshotId]);
  });

  it('leaves no incomplete multipart upload of the interrupted attempt once the server is back', async () => {
    // The interrupted attempt could not abort its upload while the server was down.
    expect(await listIncompleteUploads(stack.s3, stack.bucket)).toEqual([]);
  });
});

describe('S3 server stopped for good', () => {
  it(`fails the session after spec.timeout (${BOUNDED_TIMEOUT}), pushes success=0 and lists nothing`, async () => {
    expectWorkerAlive(worker!);
    const set = resources('ledger-bounded', { timeout: BOUNDED_TIMEOUT });
    const uploadsBefore = (await listIncompleteUploads(stack.s3, stack.bucket)).length;
    const handle = await client.backupNow(resolveBackupConfiguration(set, 'ledger-bounded'));
    const snapshotId = handle.workflowId.split('/')[2]!;
    await waitForUploadedParts(stack.s3, stack.bucket, `dbkeep/ledger-bounded/${snapshotId}/dump.sql.zst`, 1);
    const stoppedAt = Date.now();
    await stopMinio();

    const error = await resultUnlessWorkerExits(handle, worker!, 90_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    const failedAfter = secondsSince(stoppedAt);
    if (!(error instanceof WorkflowFailedError)) throw error;
    const failure = describeFailure(error);
    const status = await client.status(handle.workflowId);
    const dump = onlyActivity(await activityRecords(stack.client.temporal, handle.workflowId), 'dumpToRepository');
    console.log(
      `storage-outage: session failed ${failedAfter} s after MinIO stopped, after ${dump.attempt} dump attempts; ` +
        `failure: ${failure.type ?? '(no type)'}: ${failure.message}; status.error: ${status.error}`,
    );
    expect(status.phase).toBe('Failed');
    expect(dump.outcome).not.toBe('completed');
    expect(dump.attempt).toBeGreaterThan(1);
    expect(isPidAlive(worker!.pid)).toBe(true);
    // Bounded by the timeout with all retries, not by 5 attempts of 24 hours.
    expect(failedAfter).toBeLessThan(90);
    // The error says what was unreachable, so the user knows where to look.
    expect(status.error).toMatch(new RegExp(`127\\.0\\.0\\.1:${stack.minio.port}|s3://${stack.bucket}`));
    // …and which object it was writing.
    expect(status.error).toMatch(new RegExp(`^uploading s3://${stack.bucket}/dbkeep/ledger-bounded/${snapshotId}/`));

    const labels = { job: 'dbkeep', kind: 'backup', configuration: 'ledger-bounded', repository: 'repo', target: 'ledger-db' };
    expect(await pushedMetric(stack.pushgateway.url, 'dbkeep_session_success', labels)).toBe(0);

    await restartMinio();
    const listed = await stack.client.listSnapshots(set.repositories.get('repo')!, 'ledger-bounded');
    expect(listed).toMatchObject({ snapshots: [], total: 0, problems: [] });
    expect((await stack.listKeys('ledger-bounded/')).filter((key) => key.endsWith('manifest.json'))).toEqual([]);
    // At most the interrupted attempt's upload can remain (it could not be aborted while the server
    // was down, and no later attempt of the session reached it); the README's lifecycle rule
    // (AbortIncompleteMultipartUpload) removes such leftovers. Seen here: 0.
    const uploadsAfter = await listIncompleteUploads(stack.s3, stack.bucket);
    console.log(`storage-outage: incomplete multipart uploads left by the failed session: ${uploadsAfter.length - uploadsBefore}`);
    expect(uploadsAfter.length - uploadsBefore).toBeLessThanOrEqual(1);
    expect(uploadsAfter.filter((upload) => !upload.key.startsWith(`dbkeep/ledger-bounded/${snapshotId}/`)).length).toBe(uploadsBefore);
  });
});
