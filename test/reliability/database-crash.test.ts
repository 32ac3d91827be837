import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { isPidAlive } from '../../pipeline/managed-process';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import {
  activityRecords,
  generateDatabase,
  listIncompleteUploads,
  objectBytes,
  onlyActivity,
  resultUnlessWorkerExits,
  secondsSince,
  stopStack,
  waitForUploadedParts,
} from './fault-harness';

/**
 * The database server is SIGKILLed in the middle of a dump and started again a few seconds
 * later (InnoDB crash recovery). The attempt fails cleanly (tools gone, upload aborted, no
 * manifest), the worker carries on, and Temporal's retry takes a whole new dump once the
 * server is back. The worker runs as its own process, as users run it, so a crash of the
 * worker itself would show.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let client: DbkeepClient;
let worker: WorkerProcess | undefined;

const DUMP_MIB = 200;

beforeAll(async () => {
  stack = await startE2eStack();
  client = new DbkeepClient(stack.client.temporal, `dbcrash-${randomBytes(4).toString('hex')}`);
  source = await stack.startMariaDb();
  await generateDatabase(source, 'ledger', DUMP_MIB);
  worker = await startWorkerProcess({
    dir: stack.dir,
    address: stack.temporal.address,
    namespace: stack.temporal.namespace,
    taskQueue: client.taskQueue,
    name: 'dbcrash',
    pushgatewayUrl: stack.pushgateway.url,
  });
});

afterAll(async () => {
  await worker?.stop().catch(() => undefined);
  await stopStack(stack);
});

describe('database server killed mid-dump', () => {
  it('fails the attempt cleanly and succeeds on the retry once the server is back', async () => {
    const resources = stack.resources(
      stack.targetDocument('ledger-db', source),
      configurationDocument('ledger', { target: 'ledger-db', databases: ['ledger'] }),
    );
    const handle = await client.backupNow(resolveBackupConfiguration(resources, 'ledger'));
    const snapshotId = handle.workflowId.split('/')[2]!;
    const dataKey = `dbkeep/ledger/${snapshotId}/dump.sql.zst`;
    await waitForUploadedParts(stack.s3, stack.bucket, dataKey, 1);
    source.kill();
    const killedAt = Date.now();
    await sleep(3_000);
    await source.restart();
    console.log(`database-crash: MariaDB was back ${secondsSince(killedAt)} s after SIGKILL`);

    const result = await resultUnlessWorkerExits(handle, worker!, 90_000);
    console.log(`database-crash: session completed ${secondsSince(killedAt)} s after the kill`);
    expect(result).toMatchObject({ outcome: 'succeeded', snapshotId });
    if (result.outcome !== 'succeeded') return;

    // The failed attempt is a transient failure of the dump tool, retried with backoff.
    const dump = onlyActivity(await activityRecords(stack.client.temporal, handle.workflowId), 'dumpToRepository');
    console.log(`database-crash: dump attempt ${dump.attempt}; the attempt before failed with: ${dump.lastFailure?.chain.join(' <- ')}`);
    expect(dump.outcome).toBe('completed');
    expect(dump.attempt).toBeGreaterThan(1);
    expect(dump.lastFailure).toMatchObject({ nonRetryable: false });
    expect(dump.lastFailure?.chain.join(' ')).toMatch(/mariadb-dump|ECONNREFUSED|connect/i);

    // One snapshot, whole: the manifest's hash, and a dump that runs to its last line.
    expect(await stack.listKeys('ledger/')).toEqual([`ledger/${snapshotId}/dump.sql.zst`, `ledger/${snapshotId}/manifest.json`]);
    const stored = await objectBytes(stack.s3, stack.bucket, dataKey);
    expect(stored.length).toBe(result.storedBytes);
    const sql = execFileSync('zstd', ['-dc'], { input: stored, maxBuffer: 512 * 1024 * 1024 });
    expect(sql.length).toBe(result.rawBytes);
    expect(sql.subarray(-200).toString('utf8')).toMatch(/-- Dump completed on/);

    // The failed attempt aborted its upload: the server could be reached, so nothing is pending.
    expect(await listIncompleteUploads(stack.s3, stack.bucket)).toEqual([]);
    expect(isPidAlive(worker!.pid)).toBe(true);
  });
});
