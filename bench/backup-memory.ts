import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, constants, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { waitShowingProgress } from '../clients/cli/session-progress';
import { DbkeepClient } from '../clients/dbkeep-client';
import { describeFailure } from '../clients/failure-description';
import type { ResolvedBackupConfiguration } from '../domain/resource-set';
import type { CompressionSpec } from '../domain/resources';
import { isPidAlive, type ManagedProcess } from '../stack/managed-process';
import { projectRoot } from '../stack/project-root';
import type { BackupSessionResult } from '../workflows/backup-session';
import {
  bytesToMiB,
  formatResultTable,
  kibToMiB,
  PEAK_RSS_GOAL_MIB,
  writeResultFiles,
  type BackupMemoryResult,
} from './backup-memory-report';
import { benchBackupConfiguration, startBenchServices, startWorkerProcess, type BenchServices } from './bench-stack';
import { CleanupStack } from './cleanup-stack';
import {
  clockTicksPerSecond,
  readCpuTimes,
  readMemoryStatus,
  resetPeakRss,
  startRssSampler,
  type RssSamples,
} from './process-usage';
import { generateSyntheticDatabase, planSyntheticDatabase, type SyntheticDatabasePlan } from './synthetic-database';

/**
 * `npm run bench:memory [-- --size-mb N]`: how much memory a dbkeep worker process needs to
 * stream one logical backup of about N MiB (default 1 GiB) from MariaDB to S3 (MinIO).
 * Exits 1 when the worker's peak RSS reaches the goal, 2 when the benchmark itself fails.
 */
const DEFAULT_SIZE_MIB = 1024;
const SAMPLE_INTERVAL_MS = 200;
const PROGRESS_INTERVAL_MS = 5_000;
const WORKER_CHECK_INTERVAL_MS = 1_000;

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

function say(line: string): void {
  console.log(`bench: ${line}`);
}

const describeCompression = ({ algorithm, level }: CompressionSpec): string =>
  level === undefined ? `${algorithm} (default level)` : `${algorithm} level ${level}`;

/** The code measured, e.g. "350abed-dirty"; "unknown" outside a git checkout. */
function sourceRevision(): string {
  try {
    const argv = ['-C', projectRoot(), 'describe', '--always', '--dirty'];
    return execFileSync('git', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** --size-mb, then DBKEEP_BENCH_SIZE_MB, then 1 GiB. */
function resolveSizeMiB(argv: string[], env: NodeJS.ProcessEnv): number {
  const { values } = parseArgs({ args: argv, options: { 'size-mb': { type: 'string' } }, strict: true });
  const raw = values['size-mb'] ?? env.DBKEEP_BENCH_SIZE_MB;
  if (raw === undefined) return DEFAULT_SIZE_MIB;
  const size = Number(raw);
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`--size-mb / DBKEEP_BENCH_SIZE_MB must be a positive whole number of MiB, got ${JSON.stringify(raw)}`);
  }
  return size;
}

/** Generates the data over the socket as root; returns the server version for the report. */
async function generateData(services: BenchServices, plan: SyntheticDatabasePlan): Promise<{ seconds: number; mariadb: string }> {
  const { mariadb } = services;
  const connection = await createConnection({ socketPath: mariadb.socket, user: 'root', password: mariadb.rootPassword });
  try {
    const started = performance.now();
    await generateSyntheticDatabase(connection, plan);
    const seconds = (performance.now() - started) / 1000;
    const [[row]] = await connection.query<RowDataPacket[]>('SELECT VERSION() AS version');
    return { seconds, mariadb: `MariaDB ${String(row?.version)}` };
  } finally {
    await connection.end();
  }
}

/**
 * Rejects once the worker process is gone. Without it a crashed worker would leave the session
 * waiting for a retry on a worker that never comes, and the benchmark would hang.
 */
async function failWhenProcessExits(worker: ManagedProcess, signal: AbortSignal): Promise<never> {
  while (isPidAlive(worker.pid)) await sleep(WORKER_CHECK_INTERVAL_MS, undefined, { signal });
  throw new Error(`the dbkeep worker (pid ${worker.pid}) exited during the backup session (crashed or killed)`);
}

type CommittedBackup = Extract<BackupSessionResult, { outcome: 'succeeded' }>;

/** A session skipped for another one of the same configuration measured nothing: a failed run, not a figure. */
function requireCommitted(result: BackupSessionResult): CommittedBackup {
  if (result.outcome !== 'succeeded') {
    throw new Error(`backup session was skipped: session ${result.runningSession} of "${result.configuration}" was already running`);
  }
  return result;
}

interface SessionMeasurement {
  result: CommittedBackup;
  durationSeconds: number;
  worker: BackupMemoryResult['worker'];
}

/**
 * Runs one backup session and measures the worker around it. VmHWM is read before the
 * session and then reset, so the startup peak (workflow bundling) and the streaming peak are
 * told apart; the lifetime peak, which the goal is about, is the larger of the two.
 */
async function measureBackupSession(
  client: DbkeepClient,
  worker: ManagedProcess,
  resolved: ResolvedBackupConfiguration,
): Promise<SessionMeasurement> {
  const ticksPerSecond = clockTicksPerSecond();
  const atStart = readMemoryStatus(worker.pid);
  const peakWasReset = resetPeakRss(worker.pid);
  const cpuBefore = readCpuTimes(worker.pid, ticksPerSecond);
  const sampler = startRssSampler(worker.pid, SAMPLE_INTERVAL_MS);
  const started = performance.now();
  const watchdog = new AbortController();
  let samples: RssSamples;
  let result: BackupSessionResult;
  try {
    const handle = await client.backupNow(resolved);
    say(`backup session ${handle.workflowId} started`);
    result = await waitShowingProgress(
      Promise.race([handle.result(), failWhenProcessExits(worker, watchdog.signal)]),
      () => client.describeSession(handle.workflowId),
      (line) => say(`  ${line}`),
      PROGRESS_INTERVAL_MS,
    );
  } finally {
    samples = sampler.stop();
    watchdog.abort();
  }
  const durationSeconds = (performance.now() - started) / 1000;
  const sessionPeakKiB = readMemoryStatus(worker.pid).peakRssKiB;
  const cpuAfter = readCpuTimes(worker.pid, ticksPerSecond);
  return {
    result: requireCommitted(result),
    durationSeconds,
    worker: {
      peakRssMiB: kibToMiB(Math.max(atStart.peakRssKiB, sessionPeakKiB)),
      startupPeakRssMiB: kibToMiB(atStart.peakRssKiB),
      sessionStartRssMiB: kibToMiB(atStart.rssKiB),
      sessionPeakRssMiB: peakWasReset ? kibToMiB(sessionPeakKiB) : undefined,
      sessionMaxSampledRssMiB: kibToMiB(samples.maxRssKiB),
      samples: samples.count,
      sampleIntervalMs: SAMPLE_INTERVAL_MS,
      rssTimelineMiB: samples.timeline.map(([at, rssKiB]) => [round(at, 1), round(kibToMiB(rssKiB), 1)]),
      cpuSeconds: cpuAfter.selfSeconds - cpuBefore.selfSeconds,
      toolCpuSeconds: cpuAfter.reapedChildrenSeconds - cpuBefore.reapedChildrenSeconds,
    },
  };
}

/** The end of the worker's log, printed when the session fails: the temp dir holding it is about to go. */
function printWorkerLogTail(worker: ManagedProcess | undefined): void {
  if (worker === undefined) return;
  try {
    const lines = readFileSync(worker.logFile, 'utf8').trimEnd().split('\n').slice(-30);
    process.stderr.write(`bench: last ${lines.length} lines of the worker log:\n${lines.join('\n')}\n`);
  } catch {
    // no log yet: the failure happened before the worker started
  }
}

async function runBenchmark(sizeMiB: number, cleanup: CleanupStack): Promise<BackupMemoryResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-bench-'));
  cleanup.defer(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));

  const services = await startBenchServices(dir, cleanup);
  say(`Temporal ${services.temporal.address}, MinIO ${services.minio.endpoint}, MariaDB 127.0.0.1:${services.mariadb.port} (in ${dir})`);

  const plan = planSyntheticDatabase(sizeMiB);
  say(`generating ${plan.tables.length} tables x ${plan.rowsPerTable} rows (~${sizeMiB} MiB of dump)`);
  const generation = await generateData(services, plan);
  say(`generated in ${generation.seconds.toFixed(1)} s`);

  const client = await DbkeepClient.connect({ address: services.temporal.address, namespace: services.temporal.namespace });
  cleanup.defer('close Temporal client', () => client.close());
  let worker: ManagedProcess | undefined;
  try {
    worker = await startWorkerProcess(dir, services.temporal, client, cleanup);
    say(`worker pid ${worker.pid} polling task queue ${client.taskQueue}`);
    const resolved = benchBackupConfiguration(services, plan.database);
    const session = await measureBackupSession(client, worker, resolved);
    const { rawBytes, storedBytes, snapshotId } = session.result;
    return {
      measuredAt: new Date().toISOString(),
      goal: { peakRssMiB: PEAK_RSS_GOAL_MIB },
      passed: session.worker.peakRssMiB < PEAK_RSS_GOAL_MIB,
      database: {
        requestedDumpMiB: sizeMiB,
        tables: plan.tables.length,
        rowsPerTable: plan.rowsPerTable,
        generationSeconds: generation.seconds,
      },
      backup: {
        snapshotId,
        compression: describeCompression(resolved.configuration.spec.compression),
        rawBytes,
        storedBytes,
        durationSeconds: session.durationSeconds,
        throughputMiBps: bytesToMiB(rawBytes) / session.durationSeconds,
      },
      worker: session.worker,
      environment: {
        revision: sourceRevision(),
        node: process.version,
        cpus: availableParallelism(),
        mariadb: generation.mariadb,
        platform: `${process.platform} ${process.arch}`,
      },
    };
  } catch (error) {
    printWorkerLogTail(worker);
    throw error;
  }
}

/** Ctrl-C or a CI timeout still stops the servers and removes the temp dir. */
function cleanUpOnSignals(cleanup: CleanupStack): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping everything`);
      // 128 + the signal's number, as a shell reports a process a signal ended.
      void cleanup.run().finally(() => process.exit(128 + constants.signals[signal]));
    });
  }
}

async function main(): Promise<number> {
  const sizeMiB = resolveSizeMiB(process.argv.slice(2), process.env);
  const cleanup = new CleanupStack();
  cleanUpOnSignals(cleanup);
  let result: BackupMemoryResult;
  try {
    result = await runBenchmark(sizeMiB, cleanup);
  } finally {
    await cleanup.run();
  }
  console.log(`\n${formatResultTable(result)}\n`);
  for (const file of writeResultFiles(path.join(projectRoot(), 'bench', 'results'), result)) say(`wrote ${file}`);
  return result.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const failure = describeFailure(error);
    process.stderr.write(`bench: FAILED: ${failure.type ? `${failure.type}: ` : ''}${failure.message}\n`);
    process.exit(2);
  },
);
