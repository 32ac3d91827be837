import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { DbkeepClient } from '../clients/dbkeep-client';
import { resolveBackupConfiguration, resolveTarget, type ResolvedBackupConfiguration, type ResourceSet } from '../domain/resource-set';
import { API_VERSION, DEFAULT_PITR_UPLOAD_INTERVAL } from '../domain/resources';
import type { ToolCommand } from '../domain/tool-commands';
import type { ManagedProcess } from '../pipeline/managed-process';
import { withOptionFile } from '../pipeline/option-file';
import { projectRoot } from '../pipeline/project-root';
import { diffFingerprints, fingerprintDatabase, type DatabaseFingerprint } from '../stack/database-fingerprint';
import { minioClient } from '../stack/minio-server';
import type { MariaDbInstance } from '../stack/mariadb-instance';
import { bareClientCommand, runPipeline, timeSeconds } from './bare-pipelines';
import {
  describeEnvironment,
  oneMinuteLoadAverage,
  positiveIntegerSetting,
  rotated,
  runBenchmarkMain,
  say,
  writeJsonAndMarkdown,
} from './bench-run';
import { runBackupSession, runRestoreSession } from './bench-sessions';
import {
  BENCH_BUCKET,
  BENCH_REPOSITORIES,
  benchRepositoryDocuments,
  benchTargetDocument,
  parseBenchDocuments,
  startBenchDatabase,
  startBenchServices,
  startWorkerProcess,
  type BenchServices,
} from './bench-stack';
import type { CleanupStack } from './cleanup-stack';
import { median } from './comparison-report';
import { commitLagsSeconds, quantile, watchArchive, type ArchiveWatch } from './pitr-archive-watch';
import { formatPitrMarkdown, judge, PITR_GOALS, type ArchivePhaseResult, type PitrBenchResult, type WorkerRssResult } from './pitr-report';
import { createWriterTable, domainZeroSequence, writePaced, WRITER_DATABASE, type WriterPlan } from './pitr-writer';
import { clockTicksPerSecond, readCpuTimes, readMemoryStatus, resetPeakRss, startRssSampler, type RssSamples } from './process-usage';
import { kibToMiB, printWorkerLogTail } from './worker-usage';

/**
 * `npm run bench:pitr`: how far the binary log archive trails a source committing 1,000 small
 * transactions a second, how fast a point-in-time restore replays what it archived against the
 * bare `mariadb-binlog | mariadb`, and how much memory the worker needs while archiving.
 * bench/README.md says what each figure covers.
 */
const CONFIGURATION = 'bench-pitr';
const SOURCE_TARGET = 'bench-source';
const REPLAY_TARGET = 'bench-replay-target';
// The last phase, at spec.pointInTimeRecovery.uploadInterval's default, is the one the lag and memory goals are judged on.
const DEFAULT_UPLOAD_INTERVAL = DEFAULT_PITR_UPLOAD_INTERVAL;
const WATCH_POLL_MS = 100;
const ARCHIVED_TIMEOUT_MS = 120_000;
const RSS_SAMPLE_MS = 1_000;

interface Settings {
  writer: WriterPlan;
  /** Upload intervals compared first, `writer.seconds` each, before the default interval's soak. */
  uploadIntervals: string[];
  soakSeconds: number;
  runs: number;
}

function settingsFromArguments(): Settings {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      rate: { type: 'string' },
      seconds: { type: 'string' },
      connections: { type: 'string' },
      'upload-intervals': { type: 'string' },
      'soak-seconds': { type: 'string' },
      runs: { type: 'string' },
    },
    strict: true,
  });
  const env = process.env;
  const uploadIntervals = (values['upload-intervals'] ?? env.DBKEEP_BENCH_UPLOAD_INTERVALS ?? '5s,1s').split(',').filter(Boolean);
  return {
    writer: {
      transactionsPerSecond: positiveIntegerSetting(values.rate ?? env.DBKEEP_BENCH_RATE, '--rate / DBKEEP_BENCH_RATE', 1000),
      seconds: positiveIntegerSetting(values.seconds ?? env.DBKEEP_BENCH_SECONDS, '--seconds / DBKEEP_BENCH_SECONDS', 60),
      connections: positiveIntegerSetting(
        values.connections ?? env.DBKEEP_BENCH_CONNECTIONS,
        '--connections / DBKEEP_BENCH_CONNECTIONS',
        4,
      ),
    },
    uploadIntervals,
    soakSeconds: positiveIntegerSetting(
      values['soak-seconds'] ?? env.DBKEEP_BENCH_SOAK_SECONDS,
      '--soak-seconds / DBKEEP_BENCH_SOAK_SECONDS',
      180,
    ),
    runs: positiveIntegerSetting(values.runs ?? env.DBKEEP_BENCH_RUNS, '--runs / DBKEEP_BENCH_RUNS', 2),
  };
}

/** The source, the replay target, the repositories and the PITR configuration, as a user would write them. */
function pitrResources(
  services: BenchServices,
  replayTarget: MariaDbInstance,
  replayPasswordFile: string,
  uploadInterval: string,
): ResourceSet {
  return parseBenchDocuments([
    ...benchRepositoryDocuments(services),
    benchTargetDocument(SOURCE_TARGET, services.database, services.secretFiles.databasePassword),
    benchTargetDocument(REPLAY_TARGET, replayTarget, replayPasswordFile),
    {
      apiVersion: API_VERSION,
      kind: 'BackupConfiguration',
      metadata: { name: CONFIGURATION },
      spec: {
        target: SOURCE_TARGET,
        repository: BENCH_REPOSITORIES.minio,
        databases: [WRITER_DATABASE],
        pointInTimeRecovery: { enabled: true, uploadInterval },
      },
    },
  ]);
}

const connectAsRoot = (instance: MariaDbInstance): Promise<Connection> =>
  createConnection({ socketPath: instance.socket, user: 'root', password: instance.rootPassword });

async function sourceSequence(source: Connection): Promise<number> {
  const [rows] = await source.query<RowDataPacket[]>('SELECT @@GLOBAL.gtid_binlog_pos AS pos');
  const sequence = domainZeroSequence(String(rows[0]?.pos ?? ''));
  if (sequence === undefined) throw new Error('the source has no GTID in domain 0 yet');
  return sequence;
}

/** One commit, then waits until it is archived: the archive (re)started and reads the source. */
async function waitForArchiveToFollow(source: Connection, watch: ArchiveWatch): Promise<void> {
  await source.query(`INSERT INTO ${WRITER_DATABASE}.ticks (at, payload) VALUES (NOW(6), 'marker')`);
  await watch.waitFor(await sourceSequence(source), ARCHIVED_TIMEOUT_MS);
}

/** Where the replay stops: the source's state before the soak, and its fingerprint then. */
interface ReplayPoint {
  /** Domain 0's sequence number of the last transaction before the soak's first. */
  sequence: number;
  fingerprint: DatabaseFingerprint;
}

/**
 * The compared upload intervals, then the default one for `soakSeconds`: the lag per interval,
 * and the worker's memory over the soak, when every buffer size the archive uses was reached.
 */
async function measureArchivePhases(params: {
  settings: Settings;
  client: DbkeepClient;
  source: Connection;
  sourceInstance: MariaDbInstance;
  watch: ArchiveWatch;
  resourcesWith(uploadInterval: string): ResourceSet;
  worker: ManagedProcess;
}): Promise<{ phases: ArchivePhaseResult[]; worker: WorkerRssResult; replayPoint: ReplayPoint }> {
  const { settings, client, source, watch, worker } = params;
  const phases: ArchivePhaseResult[] = [];
  const ticksPerSecond = clockTicksPerSecond();
  const plan = [
    ...settings.uploadIntervals
      .filter((interval) => interval !== DEFAULT_UPLOAD_INTERVAL)
      .map((interval) => ({ interval, seconds: settings.writer.seconds })),
    { interval: DEFAULT_UPLOAD_INTERVAL, seconds: settings.soakSeconds },
  ];
  let replayPoint: ReplayPoint | undefined;
  let soak: { samples: RssSamples; cpuSeconds: number } | undefined;
  for (const { interval, seconds } of plan) {
    const isDefault = interval === DEFAULT_UPLOAD_INTERVAL;
    if (isDefault)
      replayPoint = { sequence: await sourceSequence(source), fingerprint: await fingerprintDatabase(source, WRITER_DATABASE) };
    const [applied] = await client.applyResources(params.resourcesWith(interval));
    say(`archive ${applied?.archive ?? 'unknown'} with uploadInterval ${interval}`);
    await waitForArchiveToFollow(source, watch);
    const piecesBefore = watch.pieces.length;
    say(`writing ${settings.writer.transactionsPerSecond} tx/s for ${seconds} s`);
    const { socket, rootPassword } = params.sourceInstance;
    const sampler = isDefault ? startRssSampler(worker.pid, RSS_SAMPLE_MS) : undefined;
    if (isDefault) resetPeakRss(worker.pid);
    const cpuBefore = readCpuTimes(worker.pid, ticksPerSecond).selfSeconds;
    const commits = await writePaced({ socketPath: socket, user: 'root', password: rootPassword }, { ...settings.writer, seconds });
    await watch.waitFor(
      commits.sequence.reduce((highest, sequence) => Math.max(highest, sequence), 0),
      ARCHIVED_TIMEOUT_MS,
    );
    if (sampler) soak = { samples: sampler.stop(), cpuSeconds: readCpuTimes(worker.pid, ticksPerSecond).selfSeconds - cpuBefore };
    const phasePieces = watch.pieces.slice(piecesBefore);
    const lags = commitLagsSeconds(commits, watch.pieces);
    const phase: ArchivePhaseResult = {
      uploadInterval: interval,
      isDefault,
      commits: commits.count,
      achievedRate: commits.count / commits.seconds,
      lagSeconds: { p50: quantile(lags, 0.5), p90: quantile(lags, 0.9), p99: quantile(lags, 0.99), max: quantile(lags, 1) },
      pieces: phasePieces.length,
      meanPieceTransactions: phasePieces.reduce((sum, piece) => sum + piece.transactions, 0) / Math.max(1, phasePieces.length),
    };
    say(
      `uploadInterval ${interval}: ${phase.achievedRate.toFixed(0)} tx/s, lag p50 ${phase.lagSeconds.p50.toFixed(2)} s, ` +
        `p99 ${phase.lagSeconds.p99.toFixed(2)} s, max ${phase.lagSeconds.max.toFixed(2)} s, ${phase.pieces} pieces`,
    );
    phases.push(phase);
  }
  if (!soak || !replayPoint) throw new Error('the soak at the default upload interval did not run');
  const { timeline } = soak.samples;
  const fifth = Math.max(1, Math.floor(timeline.length / 5));
  const meanMiB = (part: [number, number][]) => kibToMiB(part.reduce((sum, [, kib]) => sum + kib, 0) / part.length);
  return {
    phases,
    replayPoint,
    worker: {
      peakRssMiB: kibToMiB(readMemoryStatus(worker.pid).peakRssKiB),
      firstFifthMeanMiB: meanMiB(timeline.slice(0, fifth)),
      lastFifthMeanMiB: meanMiB(timeline.slice(-fifth)),
      samples: soak.samples.count,
      timelineMiB: timeline.map(([at, kib]) => [Number(at.toFixed(1)), Number(kibToMiB(kib).toFixed(1))]),
      cpuSecondsWhileArchiving: soak.cpuSeconds,
    },
  };
}

/** Interleaved rounds of dbkeep's point-in-time restore and the bare pipeline, each checked against the source. */
async function measureReplay(params: {
  settings: Settings;
  client: DbkeepClient;
  resources: ResourceSet;
  resolved: ResolvedBackupConfiguration;
  snapshotId: string;
  snapshotSequence: number;
  replayPoint: ReplayPoint;
  source: MariaDbInstance;
  replayTarget: MariaDbInstance;
}): Promise<PitrBenchResult['replay']> {
  const { client, resources, resolved, source, replayTarget } = params;
  const target = resolveTarget(resources, REPLAY_TARGET);
  const targetConnection = await connectAsRoot(replayTarget);
  const binlogFiles = readdirSync(source.datadir)
    .filter((name) => /^binlog\.\d+$/.test(name))
    .sort()
    .map((name) => path.join(source.datadir, name));
  const binlogBytes = binlogFiles.reduce((sum, file) => sum + statSync(file).size, 0);
  const restore = (pointInTime: boolean) =>
    runRestoreSession(client, {
      repository: resolved.repository,
      configuration: CONFIGURATION,
      target,
      selector: pointInTime ? {} : { snapshotId: params.snapshotId },
      overwrite: false,
      // Exclusive: everything before the soak's first transaction.
      ...(pointInTime ? { pointInTime: { beforeGtid: `0-1-${params.replayPoint.sequence + 1}` } } : {}),
    });
  const result: PitrBenchResult['replay'] = {
    transactions: 0,
    binlogBytes,
    dbkeepSeconds: [],
    bareSeconds: [],
    snapshotRestoreSeconds: [],
    ratio: 0,
    replayOnlyRatio: 0,
  };
  try {
    const expected = params.replayPoint.fingerprint;
    const check = async (who: string) => {
      const differences = diffFingerprints(expected, await fingerprintDatabase(targetConnection, WRITER_DATABASE));
      if (differences.length > 0) throw new Error(`${who} restored something else than the source: ${differences.slice(0, 3).join('; ')}`);
    };
    await withOptionFile(replayTarget.rootPassword, async (optionFile) => {
      const bareReplay: ToolCommand[] = [
        {
          command: 'mariadb-binlog',
          // --start-position is exclusive (the state the target has), --stop-position inclusive.
          args: [`--start-position=0-1-${params.snapshotSequence}`, `--stop-position=0-1-${params.replayPoint.sequence}`, ...binlogFiles],
        },
        bareClientCommand(target.spec, optionFile),
      ];
      const contenders = [
        async () => {
          const started = performance.now();
          const session = await restore(true);
          const seconds = (performance.now() - started) / 1000;
          result.transactions = session.result.replayed?.transactions ?? 0;
          result.dbkeepSeconds.push(seconds);
          say(`dbkeep point-in-time restore: ${seconds.toFixed(2)} s, ${result.transactions} transactions replayed`);
          await check('dbkeep');
        },
        async () => {
          const snapshotSeconds = await timeSeconds(() => restore(false));
          result.snapshotRestoreSeconds.push(snapshotSeconds);
          const seconds = await timeSeconds(() => runPipeline(bareReplay, { stdout: '/dev/null' }));
          result.bareSeconds.push(seconds);
          say(`bare mariadb-binlog | mariadb: ${seconds.toFixed(2)} s (the snapshot restored first in ${snapshotSeconds.toFixed(2)} s)`);
          await check('bare');
        },
      ];
      for (let round = 0; round < params.settings.runs; round++) {
        for (const contender of rotated(contenders, round)) {
          await targetConnection.query(`DROP DATABASE IF EXISTS ${WRITER_DATABASE}`);
          await contender();
        }
      }
    });
  } finally {
    await targetConnection.end();
  }
  const dbkeep = median(result.dbkeepSeconds);
  const bare = median(result.bareSeconds);
  result.ratio = bare / dbkeep;
  result.replayOnlyRatio = bare / Math.max(0.001, dbkeep - median(result.snapshotRestoreSeconds));
  return result;
}

async function measure(settings: Settings, cleanup: CleanupStack): Promise<PitrBenchResult> {
  const loadAtStart = oneMinuteLoadAverage();
  const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-bench-'));
  cleanup.defer(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const services = await startBenchServices(dir, cleanup, ['--log-bin=binlog', '--server-id=1']);
  const replayPasswordFile = path.join(dir, 'replay-target-password');
  const replayTarget = await startBenchDatabase(path.join(dir, 'replay-target'), replayPasswordFile, cleanup);
  say(
    `Temporal ${services.temporal.address}, MinIO ${services.minio.endpoint}, source MariaDB 127.0.0.1:${services.database.port}, ` +
      `replay target 127.0.0.1:${replayTarget.port} (in ${dir})`,
  );
  const resourcesWith = (uploadInterval: string) => pitrResources(services, replayTarget, replayPasswordFile, uploadInterval);

  const source = await connectAsRoot(services.database);
  cleanup.defer('close the source connection', () => source.end());
  await createWriterTable(source);
  const [[versionRow]] = await source.query<RowDataPacket[]>('SELECT VERSION() AS version');
  const environment = describeEnvironment(`MariaDB ${String(versionRow?.version)}`);

  const client = await DbkeepClient.connect({ address: services.temporal.address, namespace: services.temporal.namespace });
  cleanup.defer('close Temporal client', () => client.close());
  const s3 = minioClient(
    services.minio.endpoint,
    readFileSync(services.secretFiles.accessKey, 'utf8'),
    readFileSync(services.secretFiles.secretKey, 'utf8'),
    readFileSync(services.minioCertificate),
  );
  cleanup.defer('close the S3 client', () => s3.destroy());
  const watch = watchArchive({ s3, bucket: BENCH_BUCKET, prefix: `${CONFIGURATION}/binlogs/`, pollMs: WATCH_POLL_MS });
  cleanup.defer('stop watching the archive', () => watch.stop());

  let worker: ManagedProcess | undefined;
  try {
    worker = await startWorkerProcess(dir, services.temporal, client, cleanup);
    say(`worker pid ${worker.pid} polling task queue ${client.taskQueue}`);
    const resolved = resolveBackupConfiguration(resourcesWith(DEFAULT_UPLOAD_INTERVAL), CONFIGURATION);
    const snapshot = await runBackupSession(client, resolved);
    const snapshotSequence = await sourceSequence(source);
    say(`snapshot ${snapshot.result.snapshotId} at 0-1-${snapshotSequence}`);

    const archived = await measureArchivePhases({
      settings,
      client,
      source,
      sourceInstance: services.database,
      watch,
      resourcesWith,
      worker,
    });
    await client.stopArchive(CONFIGURATION);
    const replay = await measureReplay({
      settings,
      client,
      resources: resourcesWith(DEFAULT_UPLOAD_INTERVAL),
      resolved,
      snapshotId: snapshot.result.snapshotId,
      snapshotSequence,
      replayPoint: archived.replayPoint,
      source: services.database,
      replayTarget,
    });
    const result = {
      measuredAt: new Date().toISOString(),
      settings: {
        transactionsPerSecond: settings.writer.transactionsPerSecond,
        secondsPerPhase: settings.writer.seconds,
        soakSeconds: settings.soakSeconds,
        connections: settings.writer.connections,
        runs: settings.runs,
        watchPollMs: WATCH_POLL_MS,
      },
      goals: PITR_GOALS,
      archive: archived.phases,
      worker: archived.worker,
      replay,
      environment: { ...environment, loadAverage: { atStart: loadAtStart, atEnd: oneMinuteLoadAverage() } },
    };
    return { ...result, passed: judge(result) };
  } catch (error) {
    printWorkerLogTail(worker);
    throw error;
  }
}

runBenchmarkMain(
  (cleanup) => measure(settingsFromArguments(), cleanup),
  (result) => {
    const markdown = formatPitrMarkdown(result);
    console.log(`\n${markdown}`);
    for (const file of writeJsonAndMarkdown(path.join(projectRoot(), 'bench', 'results'), 'pitr', result, markdown)) say(`wrote ${file}`);
    return Object.values(result.passed).every(Boolean) ? 0 : 1;
  },
);
