import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { parseManifest } from '../../domain/manifest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { diffFingerprints, fingerprintDatabase } from '../../stack/database-fingerprint';
import { isPidAlive } from '../../pipeline/managed-process';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { killLeftovers, stillRunning, workerTmpDir, type ProcessInfo, type WorkerProcess } from '../support/worker-process';
import {
  activityRecords,
  generateDatabase,
  listIncompleteUploads,
  objectBytes,
  onlyActivity,
  resultUnlessWorkerExits,
  secondsSince,
  startStackWorker,
  stopStack,
  tablesIn,
  waitForUploadedParts,
} from './fault-harness';

/**
 * The worker process is SIGKILLed in the middle of a dump upload and of a restore, as a lost
 * node or the OOM killer would do it: no shutdown, no abort, no cleanup. Another worker
 * started on the same task queue finishes the session through Temporal's retry, which the
 * 30 s heartbeat timeout triggers. Needs the built CLI (`npm run build`; `npm test` builds).
 */
let stack: E2eStack;
let source: MariaDbInstance;
let restoreTarget: MariaDbInstance;
let client: DbkeepClient;
const workers: WorkerProcess[] = [];
const orphans: ProcessInfo[] = [];

// A ~200 MiB dump (~55 MB stored, 7 parts of 8 MiB) takes several seconds to upload: long
// enough to be caught with parts uploaded and parts still to come.
const LEDGER_DUMP_MIB = 200;
const ORDERS_DUMP_MIB = 64;
// The retry waits out the 30 s heartbeat timeout and 5 s of backoff before redoing the work.
const HEARTBEAT_RETRY_TEST_TIMEOUT_MS = 180_000;

const startWorker = (name: string) => startStackWorker(stack, client.taskQueue, name, workers);

/** SIGKILLs the worker and returns the tools it was running, which must not outlive it for long. */
function killWorker(worker: WorkerProcess): ProcessInfo[] {
  const children = worker.descendants();
  worker.kill();
  orphans.push(...children);
  return children;
}

async function waitUntilGone(processes: readonly ProcessInfo[], timeoutMs: number): Promise<ProcessInfo[]> {
  const deadline = Date.now() + timeoutMs;
  while (stillRunning(processes).length > 0 && Date.now() < deadline) await sleep(100);
  return stillRunning(processes);
}

async function fingerprintOf(instance: MariaDbInstance, database: string) {
  const connection = await rootConnection(instance);
  try {
    return await fingerprintDatabase(connection, database);
  } finally {
    await connection.end();
  }
}

beforeAll(async () => {
  stack = await startE2eStack();
  // Its own task queue: only the worker processes this file starts and kills serve it.
  client = new DbkeepClient(stack.client.temporal, `crash-${randomBytes(4).toString('hex')}`);
  source = await stack.startMariaDb();
  restoreTarget = await stack.startMariaDb();
  await generateDatabase(source, 'ledger', LEDGER_DUMP_MIB);
  await generateDatabase(source, 'orders', ORDERS_DUMP_MIB);
});

afterAll(async () => {
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await killLeftovers(orphans);
  await stopStack(stack);
});

describe('worker killed during a dump upload', () => {
  let snapshotId: string;
  let dataKey: string;

  it(
    'completes the session on another worker after the heartbeat timeout, with one complete snapshot',
    async () => {
      const first = await startWorker('first');
      const resources = stack.resources(
        stack.targetDocument('ledger-db', source),
        configurationDocument('ledger', { target: 'ledger-db', databases: ['ledger'] }),
      );
      const handle = await client.backupNow(resolveBackupConfiguration(resources, 'ledger'));
      snapshotId = handle.workflowId.split('/')[2]!;
      dataKey = `dbkeep/ledger/${snapshotId}/dump.sql.zst`;

      await waitForUploadedParts(stack.s3, stack.bucket, dataKey, 2);
      const children = killWorker(first);
      const killedAt = Date.now();
      expect(children.map((c) => c.command)).toEqual(expect.arrayContaining(['mariadb-dump', 'zstd']));
      // The dump tool and compressor see their pipes close and exit: no orphan keeps a transaction open.
      expect(await waitUntilGone(children, 15_000)).toEqual([]);

      const second = await startWorker('second');
      const result = await resultUnlessWorkerExits(handle, second);
      console.log(`worker-crash: dump session completed ${secondsSince(killedAt)} s after the worker was killed`);
      expect(result).toMatchObject({ outcome: 'succeeded', snapshotId, databases: ['ledger'] });
      if (result.outcome !== 'succeeded') return;

      // The dump was retried once, because the killed attempt stopped heartbeating.
      const dump = onlyActivity(await activityRecords(stack.client.temporal, handle.workflowId), 'dumpToRepository');
      expect(dump).toMatchObject({ outcome: 'completed', attempt: 2 });
      expect(dump.lastFailure?.chain.join(' ')).toMatch(/heartbeat/i);

      // Exactly one snapshot: its data object and one manifest, nothing left by the killed attempt.
      expect(await stack.listKeys('ledger/')).toEqual([`ledger/${snapshotId}/dump.sql.zst`, `ledger/${snapshotId}/manifest.json`]);
      const listed = await stack.client.listSnapshots(resources.repositories.get('repo')!, 'ledger');
      expect(listed.snapshots.map((s) => s.snapshotId)).toEqual([snapshotId]);
      expect(listed.problems).toEqual([]);

      // The stored object is the manifest's, byte for byte, and decompresses to a whole dump.
      const manifest = parseManifest(
        (await objectBytes(stack.s3, stack.bucket, `dbkeep/ledger/${snapshotId}/manifest.json`)).toString('utf8'),
      );
      if (!manifest.ok) throw new Error(manifest.reason);
      const stored = await objectBytes(stack.s3, stack.bucket, dataKey);
      expect(stored.length).toBe(manifest.manifest.data.storedBytes);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(manifest.manifest.data.sha256);
      expect(manifest.manifest.data.sha256).toBe(result.sha256);
      const sql = execFileSync('zstd', ['-dc'], { input: stored, maxBuffer: 512 * 1024 * 1024 });
      expect(sql.length).toBe(result.rawBytes);
      expect(sql.subarray(-200).toString('utf8')).toMatch(/-- Dump completed on/);
    },
    HEARTBEAT_RETRY_TEST_TIMEOUT_MS,
  );

  it('leaves no incomplete multipart upload of the killed attempt on the S3 server', async () => {
    // The killed attempt could not abort its upload; the retry of the same key has to.
    expect(await listIncompleteUploads(stack.s3, stack.bucket)).toEqual([]);
  });

  it("leaves no copy of the database password on the workers' disk once the session is done", () => {
    // The killed attempt's option file (0600, holding the password) could not be removed by
    // the process that wrote it; a worker of the same host has to, or it must never be a file.
    const leftovers = readdirSync(workerTmpDir(stack.dir)).filter((name) => name.startsWith('dbkeep-cred-'));
    const holdingPassword = leftovers.filter((name) =>
      readdirSync(path.join(workerTmpDir(stack.dir), name)).some((file) =>
        readFileSync(path.join(workerTmpDir(stack.dir), name, file), 'utf8').includes(source.rootPassword),
      ),
    );
    expect(holdingPassword).toEqual([]);
  });
});

describe('worker killed during a restore', () => {
  it(
    'retries the restore from a clean state and leaves the target identical to the source',
    async () => {
      // The worker that finished the dump session, or a new one when this test runs alone (-t).
      const worker = workers.find((w) => isPidAlive(w.pid)) ?? (await startWorker('restore'));
      const resources = stack.resources(
        stack.targetDocument('orders-db', source),
        stack.targetDocument('orders-copy', restoreTarget),
        configurationDocument('orders', { target: 'orders-db', databases: ['orders'] }),
      );
      const backup = await (await client.backupNow(resolveBackupConfiguration(resources, 'orders'))).result();
      if (backup.outcome !== 'succeeded') throw new Error('backup skipped');

      const handle = await client.restore({
        repository: resources.repositories.get('repo')!,
        configuration: 'orders',
        target: resolveTarget(resources, 'orders-copy'),
        selector: { snapshotId: backup.snapshotId },
      });
      // The second of four tables exists once the first is fully loaded: the restore is half applied.
      const deadline = Date.now() + 60_000;
      while ((await tablesIn(restoreTarget, 'orders')) < 2) {
        if (Date.now() > deadline) throw new Error('the restore never got to the second table');
        await sleep(100);
      }
      const children = killWorker(worker);
      const killedAt = Date.now();
      expect(children.map((c) => c.command)).toContain('mariadb');
      expect(await waitUntilGone(children, 15_000)).toEqual([]);
      const partial = await fingerprintOf(restoreTarget, 'orders');
      const expected = await fingerprintOf(source, 'orders');
      expect(diffFingerprints(expected, partial)).not.toEqual([]);

      const third = await startWorker('third');
      const result = await resultUnlessWorkerExits(handle, third);
      console.log(`worker-crash: restore session completed ${secondsSince(killedAt)} s after the worker was killed`);
      expect(result).toMatchObject({ snapshotId: backup.snapshotId, databases: ['orders'] });
      const restore = onlyActivity(await activityRecords(stack.client.temporal, handle.workflowId), 'restoreFromSnapshot');
      expect(restore).toMatchObject({ outcome: 'completed', attempt: 2 });
      expect(restore.lastFailure?.chain.join(' ')).toMatch(/heartbeat/i);

      expect(diffFingerprints(expected, await fingerprintOf(restoreTarget, 'orders'))).toEqual([]);
    },
    HEARTBEAT_RETRY_TEST_TIMEOUT_MS,
  );
});

describe('worker killed during an overwrite, then the session cancelled', () => {
  it(
    'puts the databases the restore was replacing back exactly as they were',
    async () => {
      const worker = workers.find((w) => isPidAlive(w.pid)) ?? (await startWorker('overwrite'));
      const target = await stack.startMariaDb();
      // The target's own `orders`: small, and nothing like the snapshot's.
      await generateDatabase(target, 'orders', 1);
      const connection = await rootConnection(target);
      try {
        await connection.query('CREATE VIEW orders.v_small AS SELECT 1 AS one');
      } finally {
        await connection.end();
      }
      const before = await fingerprintOf(target, 'orders');
      const resources = stack.resources(
        stack.targetDocument('orders-db', source),
        stack.targetDocument('orders-kept', target),
        configurationDocument('orders', { target: 'orders-db', databases: ['orders'] }),
      );
      // The snapshot the test above took, or a new one when this test runs alone (-t).
      const latest = await client.listSnapshots(resources.repositories.get('repo')!, 'orders');
      let snapshotId = latest.snapshots[0]?.snapshotId;
      if (snapshotId === undefined) {
        const backup = await (await client.backupNow(resolveBackupConfiguration(resources, 'orders'))).result();
        if (backup.outcome !== 'succeeded') throw new Error('backup skipped');
        snapshotId = backup.snapshotId;
      }

      const handle = await client.restore({
        repository: resources.repositories.get('repo')!,
        configuration: 'orders',
        target: resolveTarget(resources, 'orders-kept'),
        selector: { snapshotId },
        overwrite: true,
      });
      // The target's own `orders` is in its keep schema, and two tables of the snapshot's are applied.
      const keptTables = async () => {
        const connection = await rootConnection(target);
        try {
          const [rows] = await connection.query<RowDataPacket[]>(
            "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE '\\_dbkeep\\_keep\\_%'",
          );
          return Number(rows[0]!.n);
        } finally {
          await connection.end();
        }
      };
      await vi.waitFor(
        async () => {
          if ((await keptTables()) < 1 || (await tablesIn(target, 'orders')) < 2)
            throw new Error('the restore never got to the second table');
        },
        { timeout: 60_000, interval: 100 },
      );
      const children = killWorker(worker);
      expect(await waitUntilGone(children, 15_000)).toEqual([]);
      expect(diffFingerprints(before, await fingerprintOf(target, 'orders'))).not.toEqual([]);

      await stack.client.temporal.workflow.getHandle(handle.workflowId).cancel();
      const next = await startWorker('after-overwrite');
      const failure = await resultUnlessWorkerExits(handle, next).then(
        () => undefined,
        (error: unknown) => error,
      );
      // Cancelled while its restore had no worker: the restore ends by its heartbeat timeout, not retried.
      expect(String((failure as { cause?: unknown })?.cause ?? failure)).toMatch(/cancel|heartbeat|timed out/i);
      expect(diffFingerprints(before, await fingerprintOf(target, 'orders'))).toEqual([]);
      const check = await rootConnection(target);
      try {
        const [rows] = await check.query<RowDataPacket[]>(
          "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\\_dbkeep\\_%'",
        );
        expect(rows).toEqual([]);
      } finally {
        await check.end();
      }
    },
    HEARTBEAT_RETRY_TEST_TIMEOUT_MS,
  );
});
