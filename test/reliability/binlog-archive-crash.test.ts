import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { archivedPieces, gtidState, restoreToPoint, waitForArchivedState, walkArchiveChain } from '../support/binlog-archive';
import { pollUntil } from '../support/poll';
import { configurationDocument, rootConnection, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { killLeftovers, stillRunning, type ProcessInfo, type WorkerProcess } from '../support/worker-process';
import { startStackWorker, stopStack } from './fault-harness';

/**
 * The binary log archive when production happens to it: its worker SIGKILLed mid-archiving (no
 * shutdown, no cleanup), then a log rotation and a source restart before another worker takes
 * over. The archive resumes where its stored pieces end: one chain of pieces with no gap and
 * nothing stored twice, and a restore to the latest point gives exactly the source's rows.
 */
let stack: E2eStack;
let client: DbkeepClient;
let source: MariaDbInstance;
const workers: WorkerProcess[] = [];
const orphans: ProcessInfo[] = [];
const CONFIGURATION = 'archive-crash';
// The retry waits out the 30 s heartbeat timeout and the backoff before it resumes.
const TEST_TIMEOUT_MS = 240_000;

beforeAll(async () => {
  stack = await startE2eStack();
  // Its own task queue: only the worker processes this file starts and kills serve it.
  client = new DbkeepClient(stack.client.temporal, `pitr-crash-${randomBytes(4).toString('hex')}`);
  source = await stack.startMariaDb({ extraArgs: ['--log-bin=binlog'] });
  await rootQuery(source, 'CREATE DATABASE shop');
  await rootQuery(source, 'CREATE TABLE shop.ledger (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64))');
});

afterAll(async () => {
  await client?.stopArchive(CONFIGURATION).catch(() => undefined);
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await killLeftovers(orphans);
  await stopStack(stack);
});

async function writeRows(prefix: string, count: number): Promise<void> {
  const connection = await rootConnection(source);
  try {
    for (let i = 0; i < count; i++) await connection.query('INSERT INTO shop.ledger (note) VALUES (?)', [`${prefix} ${i}`]);
  } finally {
    await connection.end();
  }
}

describe('the archive when its worker is SIGKILLed, the log rotates and the source restarts', () => {
  it(
    'resumes on another worker where the stored pieces end: no gap, nothing twice, and the latest restore has every row once',
    async () => {
      const first = await startStackWorker(stack, client.taskQueue, 'pitr-first', workers);
      const resources = stack.resources(
        stack.targetDocument('source', source),
        configurationDocument(CONFIGURATION, {
          target: 'source',
          databases: ['shop'],
          pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
        }),
      );
      const resolved = resolveBackupConfiguration(resources, CONFIGURATION);
      await writeRows('before the snapshot', 5);
      expect((await (await client.backupNow(resolved)).result()).outcome).toBe('succeeded');
      expect(await client.applyResources(resources)).toEqual([
        { configuration: CONFIGURATION, outcome: 'absent', drillSchedule: 'absent', archive: 'started' },
      ]);
      await writeRows('archived by the first worker', 20);
      await waitForArchivedState(stack, CONFIGURATION, await gtidState(source));

      // The first worker dies with its replication client running; the source goes on.
      const children = first.descendants();
      expect(children.map((c) => c.command)).toContain('mariadb-binlog');
      first.kill();
      orphans.push(...children);
      await writeRows('while no worker runs', 10);
      await rootQuery(source, 'FLUSH BINARY LOGS');
      await writeRows('after the rotation', 10);
      await source.restart();
      await writeRows('after the source restart', 10);

      await startStackWorker(stack, client.taskQueue, 'pitr-second', workers);
      const state = await gtidState(source);
      await waitForArchivedState(stack, CONFIGURATION, state, 180_000);
      const pieces = await archivedPieces(stack, CONFIGURATION);
      expect(walkArchiveChain(pieces)).toEqual({ starts: 1, walked: pieces.length, distinctStarts: pieces.length, end: state });
      // The orphaned replication client is dropped by the source once the new one connects with the same server id.
      expect(
        await pollUntil(
          async () => stillRunning(children),
          (running) => running.length === 0,
          {
            what: "the killed worker's replication client going away",
            timeoutMs: 30_000,
          },
        ),
      ).toEqual([]);

      const into = await stack.startMariaDb();
      const set = stack.resources(
        stack.targetDocument('restored', into),
        configurationDocument(CONFIGURATION, { target: 'restored', databases: ['shop'], pointInTimeRecovery: { enabled: true } }),
      );
      const restored = await restoreToPoint(client, set, {
        configuration: CONFIGURATION,
        target: 'restored',
        pointInTime: { latest: true },
        overwrite: false,
      });
      expect(restored.replayed?.transactions).toBe(50);
      const rows = async (instance: MariaDbInstance) =>
        (await rootQuery(instance, 'SELECT id, note FROM shop.ledger ORDER BY id')).map((r) => `${r.id}|${r.note}`);
      expect(await rows(into)).toEqual(await rows(source));
    },
    TEST_TIMEOUT_MS,
  );
});
