import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { isPidAlive } from '../../pipeline/managed-process';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { startTemporalDevServer, type TemporalDevServer } from '../../stack/temporal-dev-server';
import type { BackupSessionResult } from '../../workflows/backup-session';
import { configurationDocument, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import {
  activityRecords,
  generateDatabase,
  objectBytes,
  onlyActivity,
  secondsSince,
  stopStack,
  waitForUploadedParts,
} from './fault-harness';

/**
 * The Temporal server is stopped in the middle of a backup session and started again on the
 * same port with the same SQLite file (`--db-filename`, as `dbkeep dev up` runs it). The
 * worker process and the client reconnect on their own; the session resumes where its
 * history says it was and completes. MinIO and MariaDB come from the e2e stack; this file
 * runs its own persistent Temporal dev server next to the stack's in-memory one.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let temporal: TemporalDevServer | undefined;
let client: DbkeepClient | undefined;
let worker: WorkerProcess | undefined;

const DUMP_MIB = 200;
const temporalDir = () => path.join(stack.dir, 'temporal-persistent');

/** Same dir, SQLite file and port every time: what a restarted server (or `dbkeep dev up`) gets. */
async function startPersistentTemporal(port?: number): Promise<TemporalDevServer> {
  return startTemporalDevServer({ dir: temporalDir(), dbFile: path.join(temporalDir(), 'temporal.db'), port });
}

/** The result, waiting through the moments the frontend is unreachable. */
async function resultThroughOutages(workflowId: string, timeoutMs: number): Promise<BackupSessionResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await client!.temporal.workflow.getHandle<() => Promise<BackupSessionResult>>(workflowId).result();
    } catch (error) {
      const unavailable = /UNAVAILABLE|ECONNREFUSED|Connection dropped|channel/i.test(String(error));
      if (!unavailable || Date.now() > deadline) throw error;
      await sleep(500);
    }
  }
}

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  await generateDatabase(source, 'ledger', DUMP_MIB);
  temporal = await startPersistentTemporal();
  client = await DbkeepClient.connect({
    address: temporal.address,
    namespace: temporal.namespace,
    taskQueue: `restart-${randomBytes(4).toString('hex')}`,
  });
  worker = await startWorkerProcess({
    dir: stack.dir,
    address: temporal.address,
    namespace: temporal.namespace,
    taskQueue: client.taskQueue,
    name: 'restart',
  });
});

afterAll(async () => {
  await worker?.stop().catch(() => undefined);
  await client?.close().catch(() => undefined);
  await temporal?.stop().catch(() => undefined);
  await stopStack(stack);
});

describe('Temporal server restarted mid-session', () => {
  it('resumes the session from its persisted history and completes it', async () => {
    const resources = stack.resources(
      stack.targetDocument('ledger-db', source),
      configurationDocument('ledger', { target: 'ledger-db', databases: ['ledger'] }),
    );
    const handle = await client!.backupNow(resolveBackupConfiguration(resources, 'ledger'));
    const snapshotId = handle.workflowId.split('/')[2]!;
    const dataKey = `dbkeep/ledger/${snapshotId}/dump.sql.zst`;
    await waitForUploadedParts(stack.s3, stack.bucket, dataKey, 1);

    const port = Number(temporal!.address.split(':')[1]);
    const stoppedAt = Date.now();
    await temporal!.stop();
    temporal = undefined;
    await sleep(2_000);
    temporal = await startPersistentTemporal(port);
    console.log(`temporal-restart: Temporal was unreachable for ${secondsSince(stoppedAt)} s`);

    const result = await resultThroughOutages(handle.workflowId, 150_000);
    console.log(`temporal-restart: session completed ${secondsSince(stoppedAt)} s after Temporal was stopped`);
    expect(result).toMatchObject({ outcome: 'succeeded', snapshotId });
    if (result.outcome !== 'succeeded') return;

    // The same run carried on: no new run, the status query answers from the restored history.
    const description = await handle.describe();
    expect(description.runId).toBe(handle.firstExecutionRunId);
    expect(await client!.status(handle.workflowId)).toMatchObject({ phase: 'Succeeded', snapshotId });
    const dump = onlyActivity(await activityRecords(client!.temporal, handle.workflowId), 'dumpToRepository');
    console.log(
      `temporal-restart: dump completed on attempt ${dump.attempt}` +
        (dump.lastFailure ? ` after: ${dump.lastFailure.chain.join(' <- ')}` : ' (the running attempt survived the restart)'),
    );
    expect(dump.outcome).toBe('completed');
    expect(isPidAlive(worker!.pid)).toBe(true);

    expect(await stack.listKeys('ledger/')).toEqual([`ledger/${snapshotId}/dump.sql.zst`, `ledger/${snapshotId}/manifest.json`]);
    const stored = await objectBytes(stack.s3, stack.bucket, dataKey);
    expect(stored.length).toBe(result.storedBytes);
    const sql = execFileSync('zstd', ['-dc'], { input: stored, maxBuffer: 512 * 1024 * 1024 });
    expect(sql.length).toBe(result.rawBytes);
    expect(sql.subarray(-200).toString('utf8')).toMatch(/-- Dump completed on/);
  });
});
