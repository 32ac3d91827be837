import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { LOCAL_SERVER_PID_FILE } from '../../pipeline/leftover-servers';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { pollUntil } from '../support/poll';
import { processArguments, startWorkerProcess, workerTmpDir, type WorkerProcess } from '../support/worker-process';
import { generateDatabase, stopStack } from './fault-harness';

/**
 * The worker running a restore drill is SIGKILLed while its scratch server restores: the server
 * it started outlives it. The next worker stops that server and removes its directory when it
 * starts, and the drill's retry passes on it: nothing of the killed drill is left behind.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let client: DbkeepClient;
const workers: WorkerProcess[] = [];
const configuration = 'drilled-crash';

const startWorker = async (name: string) => {
  const worker = await startWorkerProcess({
    dir: stack.dir,
    address: stack.temporal.address,
    namespace: stack.temporal.namespace,
    taskQueue: client.taskQueue,
    name,
  });
  workers.push(worker);
  return worker;
};

/** The pids of the scratch servers of drills: a worker's own server (its pid file) on a drill's directory. */
function scratchServers(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      const args = processArguments(Number(pid))?.join(' ') ?? '';
      return args.includes('dbkeep-drill-') && args.includes(LOCAL_SERVER_PID_FILE);
    })
    .map(Number);
}

const drillDirectories = () =>
  existsSync(workerTmpDir(stack.dir)) ? readdirSync(workerTmpDir(stack.dir)).filter((entry) => entry.startsWith('dbkeep-drill-')) : [];

beforeAll(async () => {
  stack = await startE2eStack();
  client = new DbkeepClient(stack.client.temporal, `drillcrash-${randomBytes(4).toString('hex')}`);
  source = await stack.startMariaDb();
  // Enough that the restore into the scratch server takes several seconds.
  await generateDatabase(source, 'ledger', 60);
});

afterAll(async () => {
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await stopStack(stack);
});

it('leaves no scratch server or directory behind when the worker is killed mid-drill, and passes on the retry', async () => {
  const first = await startWorker('drill-a');
  const resources = stack.resources(
    stack.targetDocument('ledger-db', source),
    configurationDocument(configuration, { target: 'ledger-db', databases: ['ledger'], verification: {} }),
  );
  const backup = await (await client.backupNow(resolveBackupConfiguration(resources, configuration))).result();
  if (backup.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
  const drill = await client.verify(resolveBackupConfiguration(resources, configuration));
  const result = drill.result();
  result.catch(() => undefined);
  const servers = await pollUntil(
    async () => scratchServers(),
    (pids) => pids.length > 0,
    { what: 'the drill scratch server', timeoutMs: 120_000, intervalMs: 100 },
  );
  first.kill();
  // The killed worker's scratch server runs on, on its directory.
  expect(servers.some((pid) => existsSync(`/proc/${pid}`))).toBe(true);
  expect(drillDirectories().length).toBeGreaterThan(0);

  await startWorker('drill-b');
  const outcome = await result;
  expect(outcome).toMatchObject({ snapshotId: backup.snapshotId, passed: true });
  expect(servers.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
  expect(scratchServers()).toEqual([]);
  expect(drillDirectories()).toEqual([]);
});
