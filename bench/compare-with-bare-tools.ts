import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createConnection, type Connection } from 'mysql2/promise';
import { withOptionFile } from '../pipeline/option-file';
import { DbkeepClient } from '../clients/dbkeep-client';
import { dataFileName, snapshotKey } from '../domain/repository-layout';
import { resolveBackupConfiguration, type ResolvedBackupConfiguration } from '../domain/resource-set';
import type { Named, TargetSpec } from '../domain/resources';
import { POD_ORDINAL_PLACEHOLDER } from '../domain/session-ids';
import {
  compressCommand,
  decompressCommand,
  logicalDumpCommand,
  logicalRestoreCommand,
  physicalBackupCommand,
  type ToolCommand,
} from '../domain/tool-commands';
import { pathWithReleaseTools } from '../stack/database-instance';
import { diffFingerprints, fingerprintDatabase, type DatabaseFingerprint } from '../stack/database-fingerprint';
import type { ManagedProcess } from '../pipeline/managed-process';
import { projectRoot } from '../pipeline/project-root';
import { bareClientCommand, mydumperCommand, myloaderCommand, runPipeline, timeSeconds, type PipelineStage } from './bare-pipelines';
import {
  describeEnvironment,
  flushWrites,
  oneMinuteLoadAverage,
  positiveIntegerSetting,
  resolveSizeMiB,
  rotated,
  runBenchmarkMain,
  say,
} from './bench-run';
import { runBackupSession, runRestoreSession, runVolumeRestoreSession, sessionStep, type CommittedBackup } from './bench-sessions';
import { buildS3Pipe, s3PipeStage, type S3PipeDestination } from './s3-pipe-tool';
import {
  BENCH_TARGET,
  benchResources,
  generateBenchDatabase,
  startBenchServices,
  startWorkerProcess,
  type BenchServices,
} from './bench-stack';
import { createBucket } from '../stack/minio-server';
import type { CleanupStack } from './cleanup-stack';
import {
  checkGoals,
  deriveRatios,
  formatResultTables,
  median,
  summarizeWorker,
  writeResultFiles,
  type ComparisonResult,
  type Measurement,
  type MeasurementId,
} from './comparison-report';
import { planSyntheticDatabase, type SyntheticDatabasePlan } from './synthetic-database';
import { bytesToMiB, measureWorkerDuring, printWorkerLogTail, type WorkerUsage } from './worker-usage';

/**
 * `npm run bench [-- --size-mb N --runs N --overhead-runs N --engine E]`: dbkeep against the bare
 * shell pipelines it drives and the peers (mydumper, myloader), on the same generated database,
 * in one run on this machine, on MariaDB 10.11 or (`--engine mysql-9.7`) MySQL 9.7, whose bare
 * tools are then mysqldump and mysql and which has no physical measurements.
 *
 * - backup: `mariadb-dump … | zstd -3 > /dev/null` against a backup session to a filesystem
 *   repository, and the same pipeline into MinIO (`| s3-pipe`, bench/s3-pipe) against one to
 *   MinIO: the object server shares this machine's cores, and its work is the same for both;
 * - restore: `zstd -d < dump | mariadb` against a restore session from MinIO, the same
 *   pipeline with dbkeep's client options (what the options alone change), and a parallel
 *   restore session (`parallel: N`, N = CPUs) to show what it gains over the bare pipeline;
 * - physical: `mariadb-backup --backup --stream=xbstream | zstd -3`, to /dev/null and into MinIO,
 *   against physical sessions, and a restore into 3 replica volumes against one into 1;
 * - fixed overhead: sessions of a tiny database, trigger to committed manifest;
 * - the worker's RSS and CPU during every session (it runs in its own process).
 *
 * Every measurement runs --runs times (default 3), rounds interleaved and rotated so that a
 * burst of other work on the machine does not land on one contender only; medians are
 * reported. Each restore is checked against the source's fingerprint: a fast wrong restore is
 * a failure, not a figure. Exits 1 when a goal is missed, 2 when the benchmark fails.
 */
const DEFAULT_RUNS = 3;
const DEFAULT_OVERHEAD_RUNS = 5;
const TINY_DATABASE = 'bench_tiny';
const BARE_UPLOAD_BUCKET = 'bench-bare-pipelines';
// About 50 KiB of SQL: small enough that what is measured is dbkeep, not the data.
const TINY_SIZE_MIB = 0.05;
const CONFIGURATIONS = {
  minio: 'compare-minio',
  filesystem: 'compare-filesystem',
  fingerprinted: 'compare-fingerprinted',
  tiny: 'compare-tiny',
  physical: 'compare-physical',
  physicalFilesystem: 'compare-physical-filesystem',
} as const;

interface Settings {
  sizeMiB: number;
  runs: number;
  overheadRuns: number;
  /** The server measured: MariaDB 10.11 (the host's), or MySQL 9.7 from its root, without physical backups (no XtraBackup for it here). */
  engine: BenchEngine;
}

const BENCH_ENGINES = ['mariadb-10.11', 'mysql-9.7'] as const;
type BenchEngine = (typeof BENCH_ENGINES)[number];

function benchEngine(raw: string | undefined): BenchEngine {
  const engine = raw ?? 'mariadb-10.11';
  if (!(BENCH_ENGINES as readonly string[]).includes(engine)) {
    throw new Error(`--engine / DBKEEP_BENCH_ENGINE must be one of ${BENCH_ENGINES.join(', ')}, got ${JSON.stringify(engine)}`);
  }
  return engine as BenchEngine;
}

function settingsFromArguments(): Settings {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { 'size-mb': { type: 'string' }, runs: { type: 'string' }, 'overhead-runs': { type: 'string' }, engine: { type: 'string' } },
    strict: true,
  });
  const { env } = process;
  return {
    sizeMiB: resolveSizeMiB(values['size-mb'], env),
    runs: positiveIntegerSetting(values.runs ?? env.DBKEEP_BENCH_RUNS, '--runs / DBKEEP_BENCH_RUNS', DEFAULT_RUNS),
    overheadRuns: positiveIntegerSetting(
      values['overhead-runs'] ?? env.DBKEEP_BENCH_OVERHEAD_RUNS,
      '--overhead-runs / DBKEEP_BENCH_OVERHEAD_RUNS',
      DEFAULT_OVERHEAD_RUNS,
    ),
    engine: benchEngine(values.engine ?? env.DBKEEP_BENCH_ENGINE),
  };
}

/** The runs of one contender, collected across rounds. */
interface Runs {
  seconds: number[];
  streamingStepSeconds: number[];
  worker: WorkerUsage[];
}

const emptyRuns = (): Runs => ({ seconds: [], streamingStepSeconds: [], worker: [] });

/** What a dbkeep session adds to its wall time: the streaming step alone, and the worker's usage. */
interface SessionExtras {
  /** The session's own wall time, when the run also does things around it (reading its status). */
  seconds?: number;
  streamingStepSeconds?: number;
  worker?: WorkerUsage;
}

/** Where a bare pipeline's compressed stream goes: nowhere, or into the bench's MinIO. */
type BareDestination = 'dev-null' | 'minio';

/** s3-pipe, and the bucket it uploads the bare pipelines' streams into (not the repository's: dbkeep never lists them). */
interface BareUpload {
  binary: string;
  destination: Omit<S3PipeDestination, 'key'>;
}

function bareRestore(dumpFile: string, client: ToolCommand): Promise<void> {
  return runPipeline([decompressCommand('zstd')!, client], { stdin: dumpFile, stdout: '/dev/null' });
}

class ComparisonRun {
  readonly runs = new Map<MeasurementId, Runs>();
  /** The last snapshot each backup contender committed. */
  readonly snapshots = new Map<MeasurementId, CommittedBackup>();
  private source: DatabaseFingerprint | undefined;

  constructor(
    private readonly client: DbkeepClient,
    private readonly worker: ManagedProcess,
    private readonly root: Connection,
    private readonly target: Named<TargetSpec>,
    private readonly optionFile: string,
    private readonly upload: BareUpload,
  ) {}

  private record(id: MeasurementId, seconds: number, extra: SessionExtras = {}): void {
    const runs = this.runs.get(id) ?? emptyRuns();
    runs.seconds.push(seconds);
    if (extra.streamingStepSeconds !== undefined) runs.streamingStepSeconds.push(extra.streamingStepSeconds);
    if (extra.worker !== undefined) runs.worker.push(extra.worker);
    this.runs.set(id, runs);
    say(`${id}: ${seconds.toFixed(2)} s`);
  }

  private async stepSeconds(workflowId: string, step: string): Promise<number> {
    const { startedAt, endedAt } = await sessionStep(this.client, workflowId, step);
    return (endedAt - startedAt) / 1000;
  }

  async bareBackup(database: string, destination: BareDestination): Promise<void> {
    const dump = logicalDumpCommand({ target: this.target.spec, optionFile: this.optionFile, databases: [database] });
    const seconds = await timeSeconds(() => this.runBare([dump, compressCommand({ algorithm: 'zstd' })!], destination, 'logical.sql.zst'));
    this.record(destination === 'minio' ? 'backup-bare-minio' : 'backup-bare', seconds);
  }

  /** `stages > /dev/null`, or `stages | s3-pipe` into the bare pipelines' bucket under `key`. */
  private runBare(stages: PipelineStage[], destination: BareDestination, key: string): Promise<void> {
    const upload = destination === 'minio' ? [s3PipeStage(this.upload.binary, { ...this.upload.destination, key })] : [];
    return runPipeline([...stages, ...upload], { stdout: '/dev/null' });
  }

  /** mydumper into `outputDir` (emptied first), which myloader restores from afterwards. */
  async mydumperBackup(database: string, threads: number, outputDir: string): Promise<void> {
    rmSync(outputDir, { recursive: true, force: true });
    mkdirSync(outputDir);
    const dump = mydumperCommand(this.target.spec, this.optionFile, { database, threads, outputDir });
    this.record('backup-mydumper', await timeSeconds(() => runPipeline([dump], { stdout: '/dev/null' })));
  }

  async dbkeepBackup(id: MeasurementId, resolved: ResolvedBackupConfiguration): Promise<void> {
    const session = await measureWorkerDuring(this.worker, () => runBackupSession(this.client, resolved));
    const streamingStepSeconds = await this.stepSeconds(session.result.workflowId, 'dump');
    this.record(id, session.durationSeconds, { streamingStepSeconds, worker: session.usage });
    this.snapshots.set(id, session.result.result);
  }

  /** Trigger to committed manifest, and to the end of the session (retention and metrics included). */
  async tinyBackup(resolved: ResolvedBackupConfiguration): Promise<void> {
    const triggeredAt = Date.now();
    const session = await measureWorkerDuring(this.worker, () => runBackupSession(this.client, resolved));
    const commit = await sessionStep(this.client, session.result.workflowId, 'commit');
    this.record('overhead-backup-commit', (commit.endedAt - triggeredAt) / 1000);
    this.record('overhead-backup-session', session.durationSeconds, { worker: session.usage });
    this.snapshots.set('overhead-backup-session', session.result.result);
  }

  async tinyRestore(resolved: ResolvedBackupConfiguration, snapshotId: string): Promise<void> {
    await this.root.query(`DROP DATABASE IF EXISTS \`${TINY_DATABASE}\``);
    const session = await measureWorkerDuring(this.worker, () => this.restoreSession(resolved, snapshotId));
    this.record('overhead-restore-session', session.durationSeconds, { worker: session.usage });
  }

  private restoreSession(resolved: ResolvedBackupConfiguration, snapshotId: string, parallel?: number) {
    return runRestoreSession(this.client, {
      repository: resolved.repository,
      configuration: resolved.configuration.name,
      target: this.target,
      selector: { snapshotId },
      parallel,
    });
  }

  async barePhysicalBackup(scratchDir: string, destination: BareDestination): Promise<void> {
    rmSync(scratchDir, { recursive: true, force: true });
    mkdirSync(scratchDir);
    const backup = physicalBackupCommand({
      target: this.target.spec,
      optionFile: this.optionFile,
      datadir: this.target.spec.datadir!,
      scratchDir,
    });
    const seconds = await timeSeconds(() =>
      this.runBare([backup, compressCommand({ algorithm: 'zstd' })!], destination, 'physical.xb.zst'),
    );
    this.record(destination === 'minio' ? 'physical-backup-bare-minio' : 'physical-backup-bare', seconds);
  }

  /**
   * A physical snapshot into `replicas` fresh directories, as in the embedded mode: replica 0 by a
   * replica worker process, the others copied from it by the session's worker; the run fails
   * unless every replica reports a prepared volume.
   */
  async replicaRestore(
    id: MeasurementId,
    resolved: ResolvedBackupConfiguration,
    snapshotId: string,
    volumesDir: string,
    replicas: number,
  ): Promise<void> {
    const session = await this.restoreIntoVolumes(id, resolved, snapshotId, volumesDir, replicas);
    this.record(id, session.durationSeconds, { worker: session.usage });
  }

  /**
   * One restore into a replica volume before the timed ones, not recorded. The first restore of
   * a run writes its 1.3 GB into memory this VM's balloon had handed back to the host, and took
   * twice as long as the later ones (bench/README.md, seventh session): timed, it made the first
   * round's ratio say more about the machine than about dbkeep.
   */
  async warmUpReplicaRestore(resolved: ResolvedBackupConfiguration, snapshotId: string, volumesDir: string): Promise<void> {
    await this.restoreIntoVolumes('physical-restore-1-replica', resolved, snapshotId, volumesDir, 1);
  }

  private async restoreIntoVolumes(
    id: MeasurementId,
    resolved: ResolvedBackupConfiguration,
    snapshotId: string,
    volumesDir: string,
    replicas: number,
  ) {
    rmSync(volumesDir, { recursive: true, force: true });
    mkdirSync(volumesDir);
    const session = await measureWorkerDuring(this.worker, () =>
      runVolumeRestoreSession(this.client, {
        repository: resolved.repository,
        configuration: resolved.configuration.name,
        selector: { snapshotId },
        replicas,
        volumeTemplate: path.join(volumesDir, `replica-${POD_ORDINAL_PLACEHOLDER}`),
      }),
    );
    const prepared = readdirSync(volumesDir).filter((volume) => readdirSync(path.join(volumesDir, volume)).includes('ibdata1'));
    if (session.result.result.replicas.length !== replicas || prepared.length !== replicas) {
      throw new Error(`${id}: ${prepared.length} of ${replicas} replica volumes hold a data directory`);
    }
    return session;
  }

  async drill(resolved: ResolvedBackupConfiguration, snapshotId: string): Promise<void> {
    const session = await measureWorkerDuring(this.worker, async () => (await this.client.verify(resolved, { snapshotId })).result());
    if (!session.result.passed) throw new Error(`drill-dbkeep: the drill found differences: ${session.result.differences.join('; ')}`);
    this.record('drill-dbkeep', session.durationSeconds, { worker: session.usage });
  }

  async fingerprintSource(database: string): Promise<void> {
    this.source = await fingerprintDatabase(this.root, database);
  }

  /** Drops the database, runs the restore, and checks every table against the source. */
  async restore(id: MeasurementId, database: string, run: () => Promise<SessionExtras | void>): Promise<void> {
    await this.root.query(`DROP DATABASE IF EXISTS \`${database}\``);
    const started = performance.now();
    const extra = (await run()) ?? {};
    const seconds = extra.seconds ?? (performance.now() - started) / 1000;
    const differences = diffFingerprints(this.source!, await fingerprintDatabase(this.root, database));
    if (differences.length > 0) throw new Error(`${id} restored a different database: ${differences.slice(0, 5).join('; ')}`);
    this.record(id, seconds, extra);
  }

  async dbkeepRestore(resolved: ResolvedBackupConfiguration, snapshotId: string, parallel?: number): Promise<SessionExtras> {
    const session = await measureWorkerDuring(this.worker, () => this.restoreSession(resolved, snapshotId, parallel));
    const streamingStepSeconds = await this.stepSeconds(session.result.workflowId, 'restore');
    return { seconds: session.durationSeconds, streamingStepSeconds, worker: session.usage };
  }
}

const MEASUREMENTS: Record<MeasurementId, Pick<Measurement, 'group' | 'label' | 'command'>> = {
  'backup-bare': {
    group: 'backup',
    label: 'bare {dump} | zstd -3',
    command: '{dump} --single-transaction … | zstd -3 -c -q > /dev/null',
  },
  'backup-bare-minio': {
    group: 'backup',
    label: 'bare {dump} | zstd -3 | s3-pipe → MinIO',
    command: '{dump} --single-transaction … | zstd -3 -c -q | s3-pipe https://127.0.0.1:… BUCKET KEY',
  },
  'backup-dbkeep-minio': {
    group: 'backup',
    label: 'dbkeep backup session → MinIO',
    command: 'client.backupNow(…) to the local MinIO (S3), until the result',
  },
  'backup-dbkeep-filesystem': {
    group: 'backup',
    label: 'dbkeep backup session → filesystem',
    command: 'client.backupNow(…) to a filesystem repository, until the result',
  },
  'backup-mydumper': {
    group: 'backup',
    label: 'mydumper -t N (gzip, chunks of 100,000 rows)',
    command: 'mydumper --threads=N --rows=100000 --trx-consistency-only --compress --outputdir=DIR …',
  },
  'backup-dbkeep-fingerprint': {
    group: 'backup',
    label: 'dbkeep backup session → MinIO, recording a drill fingerprint',
    command: 'client.backupNow(…) of a configuration with spec.verification, to the local MinIO, until the result',
  },
  'restore-bare': {
    group: 'restore',
    label: 'bare zstd -d | {client}',
    command: 'zstd -d -c -q < dump.sql.zst | {client} --defaults-file=… --host=… --user=…',
  },
  'restore-bare-dbkeep-client': {
    group: 'restore',
    label: "bare, with dbkeep's client options",
    command: 'zstd -d -c -q < dump.sql.zst | <logicalRestoreCommand argv>',
  },
  'restore-dbkeep-minio': {
    group: 'restore',
    label: 'dbkeep restore session ← MinIO',
    command: 'client.restore(…) from the local MinIO into a dropped database, until the result',
  },
  'restore-dbkeep-parallel': {
    group: 'restore',
    label: 'dbkeep restore session ← MinIO, parallel: N',
    command:
      'client.restore({ parallel: N, … }): staged in parts while the object is hashed, then applied by N sessions; big tables by LOAD DATA on MariaDB',
  },
  'restore-myloader': {
    group: 'restore',
    label: 'myloader -t N',
    command: "myloader --threads=N --overwrite-tables --directory=DIR (mydumper's last dump)",
  },
  'physical-backup-bare': {
    group: 'physical-backup',
    label: 'bare mariadb-backup | zstd -3',
    command: 'mariadb-backup --backup --stream=xbstream … | zstd -3 -c -q > /dev/null',
  },
  'physical-backup-bare-minio': {
    group: 'physical-backup',
    label: 'bare mariadb-backup | zstd -3 | s3-pipe → MinIO',
    command: 'mariadb-backup --backup --stream=xbstream … | zstd -3 -c -q | s3-pipe https://127.0.0.1:… BUCKET KEY',
  },
  'physical-backup-dbkeep': {
    group: 'physical-backup',
    label: 'dbkeep physical backup session → MinIO',
    command: 'client.backupNow(…) of a method: physical configuration, until the result',
  },
  'physical-backup-dbkeep-filesystem': {
    group: 'physical-backup',
    label: 'dbkeep physical backup session → filesystem',
    command: 'the same into a filesystem repository',
  },
  'physical-restore-1-replica': {
    group: 'replicas',
    label: 'dbkeep physical restore into 1 replica',
    command: 'client.restoreIntoVolumes({ replicas: 1 }): download, mbstream -x, --prepare',
  },
  'physical-restore-3-replicas': {
    group: 'replicas',
    label: 'dbkeep physical restore into 3 replicas',
    command: 'client.restoreIntoVolumes({ replicas: 3 }): replica 0 downloaded and prepared, replicas 1 and 2 copied from it',
  },
  'overhead-backup-commit': {
    group: 'overhead',
    label: 'tiny backup: trigger → manifest committed',
    command: 'client.backupNow(…) until the commit step ended',
  },
  'overhead-backup-session': {
    group: 'overhead',
    label: 'tiny backup: whole session',
    command: 'client.backupNow(…) until the result (retention, metrics included)',
  },
  'overhead-restore-session': { group: 'overhead', label: 'tiny restore: whole session', command: 'client.restore(…) until the result' },
  'drill-dbkeep': {
    group: 'drill',
    label: 'dbkeep restore drill ← MinIO',
    command: 'client.verify(…): scratch server initialized and started, restore, re-dump and compare, until the outcome',
  },
};

/** The engine's dump tool and client, as the bare pipelines run them and the report names them. */
interface BenchTools {
  dump: string;
  client: string;
}

function benchTools(target: TargetSpec): BenchTools {
  return {
    dump: logicalDumpCommand({ target, optionFile: '', databases: [] }).command,
    client: bareClientCommand(target, '').command,
  };
}

/** A measurement's label or command with N, {dump} and {client} filled in. */
function withTools(text: string, restoreStreams: number, tools: BenchTools): string {
  return text.replace(/\bN\b/g, String(restoreStreams)).replace('{dump}', tools.dump).replace('{client}', tools.client);
}

function toMeasurements(
  runs: ReadonlyMap<MeasurementId, Runs>,
  rawBytes: { logical: number; physical: number | undefined },
  restoreStreams: number,
  tools: BenchTools,
): Measurement[] {
  const throughputBytes: Partial<Record<Measurement['group'], number>> = {
    backup: rawBytes.logical,
    restore: rawBytes.logical,
    drill: rawBytes.logical,
    'physical-backup': rawBytes.physical,
  };
  return (Object.keys(MEASUREMENTS) as MeasurementId[]).flatMap((id) => {
    const recorded = runs.get(id);
    if (recorded === undefined) return [];
    const { group, label, command } = MEASUREMENTS[id];
    const medianSeconds = median(recorded.seconds);
    const streamingStep = group === 'restore' ? 'restore' : 'dump';
    const bytes = throughputBytes[group];
    return [
      {
        id,
        group,
        label: withTools(label, restoreStreams, tools),
        command: withTools(command, restoreStreams, tools),
        seconds: recorded.seconds,
        medianSeconds,
        throughputMiBps: bytes === undefined ? undefined : bytesToMiB(bytes) / medianSeconds,
        streamingStep:
          recorded.streamingStepSeconds.length > 0
            ? { name: streamingStep, medianSeconds: median(recorded.streamingStepSeconds) }
            : undefined,
        worker: recorded.worker.length > 0 ? summarizeWorker(recorded.worker) : undefined,
      },
    ];
  });
}

async function measure(settings: Settings, cleanup: CleanupStack): Promise<ComparisonResult> {
  const loadAtStart = oneMinuteLoadAverage();
  const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-bench-'));
  cleanup.defer(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  // The bare tools and the worker (which inherits this environment) find the engine's own
  // mysqldump and mysql first; MariaDB 10.11's are the host's.
  process.env.PATH = pathWithReleaseTools(settings.engine);
  const services = await startBenchServices(dir, cleanup, [], settings.engine);
  say(
    `Temporal ${services.temporal.address}, MinIO ${services.minio.endpoint}, ${services.database.engine} 127.0.0.1:${services.database.port} (in ${dir})`,
  );

  const upload = await bareUpload(services);
  const plan = planSyntheticDatabase(settings.sizeMiB);
  say(`generating ${plan.tables.length} tables x ${plan.rowsPerTable} rows (~${settings.sizeMiB} MiB of dump)`);
  const generation = await generateBenchDatabase(services, plan);
  say(`generated in ${generation.seconds.toFixed(1)} s`);
  // Described now: the revision is that of the code built for this run, not of a tree that moved since.
  const environment = describeEnvironment(generation.server);
  const tinyPlan: SyntheticDatabasePlan = { ...planSyntheticDatabase(TINY_SIZE_MIB), database: TINY_DATABASE };
  await generateBenchDatabase(services, tinyPlan);

  const resources = benchResources(services, [
    { name: CONFIGURATIONS.minio, repository: 'minio', database: plan.database },
    { name: CONFIGURATIONS.filesystem, repository: 'filesystem', database: plan.database },
    { name: CONFIGURATIONS.fingerprinted, repository: 'minio', database: plan.database, verification: true },
    { name: CONFIGURATIONS.tiny, repository: 'minio', database: TINY_DATABASE },
    { name: CONFIGURATIONS.physical, repository: 'minio', method: 'physical' },
    { name: CONFIGURATIONS.physicalFilesystem, repository: 'filesystem', method: 'physical' },
  ]);
  const [minio, filesystem, fingerprinted, tiny, physical, physicalFilesystem] = Object.values(CONFIGURATIONS).map((name) =>
    resolveBackupConfiguration(resources, name),
  );
  if (!minio || !filesystem || !fingerprinted || !tiny || !physical || !physicalFilesystem) {
    throw new Error('bench resources lack a configuration');
  }
  const target = resources.targets.get(BENCH_TARGET)!;
  const tools = benchTools(target.spec);
  const restoreStreams = Math.min(availableParallelism(), plan.tables.length);

  const client = await DbkeepClient.connect({ address: services.temporal.address, namespace: services.temporal.namespace });
  cleanup.defer('close Temporal client', () => client.close());
  const root = await createConnection({ socketPath: services.database.socket, user: 'root', password: services.database.rootPassword });
  cleanup.defer('close the database connection', () => root.end());
  let worker: ManagedProcess | undefined;
  try {
    worker = await startWorkerProcess(dir, services.temporal, client, cleanup);
    say(`worker pid ${worker.pid} polling task queue ${client.taskQueue}`);
    const startedWorker = worker;
    return await withOptionFile(services.database.rootPassword, async (optionFile) => {
      const run = new ComparisonRun(client, startedWorker, root, target, optionFile, upload);
      const mydumperDir = path.join(dir, 'mydumper');
      await measureBackups(run, settings, plan, { minio, filesystem, fingerprinted }, { threads: restoreStreams, outputDir: mydumperDir });
      await measureFixedOverhead(run, settings, tiny);
      const snapshot = (id: MeasurementId) => run.snapshots.get(id)!;
      const minioSnapshot = snapshot('backup-dbkeep-minio');
      const tinySnapshot = snapshot('overhead-backup-session');
      const dumpFile = path.join(
        services.filesystemRepository,
        snapshotKey(filesystem.configuration.name, snapshot('backup-dbkeep-filesystem').snapshotId, dataFileName('logical', 'zstd', false)),
      );
      await measureRestores(run, settings, plan, {
        dumpFile,
        mydumperDir,
        restoreStreams,
        minio,
        minioSnapshot,
        target: target.spec,
        optionFile,
      });
      await measureDrills(run, settings, fingerprinted, snapshot('backup-dbkeep-fingerprint').snapshotId);
      // MySQL's physical backups need Percona XtraBackup, which is not installable here.
      if (services.database.engine === 'mariadb') await measurePhysical(run, settings, { dir, physical, physicalFilesystem });
      const physicalSnapshot = run.snapshots.get('physical-backup-dbkeep');

      const measurements = toMeasurements(
        run.runs,
        { logical: minioSnapshot.rawBytes, physical: physicalSnapshot?.rawBytes },
        restoreStreams,
        tools,
      );
      const ratios = deriveRatios(measurements, restoreStreams, tools.client);
      const goals = checkGoals({ measurements, ratios });
      return {
        measuredAt: new Date().toISOString(),
        settings: { ...settings, restoreStreams },
        database: {
          name: plan.database,
          tables: plan.tables.length,
          rowsPerTable: plan.rowsPerTable,
          generationSeconds: generation.seconds,
          rawBytes: minioSnapshot.rawBytes,
          storedBytes: minioSnapshot.storedBytes,
          compression: 'zstd level 3',
          tinyRawBytes: tinySnapshot.rawBytes,
          ...(physicalSnapshot ? { physicalRawBytes: physicalSnapshot.rawBytes } : {}),
        },
        measurements,
        ratios,
        goals,
        passed: goals.every((goal) => goal.passed !== false),
        environment: { ...environment, loadAverage: { atStart: loadAtStart, atEnd: oneMinuteLoadAverage() } },
      };
    });
  } catch (error) {
    printWorkerLogTail(worker);
    throw error;
  }
}

/** s3-pipe, built if needed, and a bucket of its own in the bench's MinIO. */
async function bareUpload(services: BenchServices): Promise<BareUpload> {
  say("building s3-pipe (bench/s3-pipe), the bare pipelines' uploader, unless built before");
  const binary = await buildS3Pipe();
  const destination = {
    endpoint: services.minio.endpoint,
    bucket: BARE_UPLOAD_BUCKET,
    caFile: services.minioCertificate,
    accessKey: readFileSync(services.secretFiles.accessKey, 'utf8'),
    secretKey: readFileSync(services.secretFiles.secretKey, 'utf8'),
  };
  await createBucket(
    services.minio.endpoint,
    destination.accessKey,
    destination.secretKey,
    BARE_UPLOAD_BUCKET,
    readFileSync(services.minioCertificate),
  );
  return { binary, destination };
}

async function measureBackups(
  run: ComparisonRun,
  settings: Settings,
  plan: SyntheticDatabasePlan,
  configurations: {
    minio: ResolvedBackupConfiguration;
    filesystem: ResolvedBackupConfiguration;
    fingerprinted: ResolvedBackupConfiguration;
  },
  mydumper: { threads: number; outputDir: string },
): Promise<void> {
  const contenders = [
    () => run.bareBackup(plan.database, 'dev-null'),
    () => run.bareBackup(plan.database, 'minio'),
    () => run.mydumperBackup(plan.database, mydumper.threads, mydumper.outputDir),
    () => run.dbkeepBackup('backup-dbkeep-minio', configurations.minio),
    () => run.dbkeepBackup('backup-dbkeep-filesystem', configurations.filesystem),
    () => run.dbkeepBackup('backup-dbkeep-fingerprint', configurations.fingerprinted),
  ];
  for (let round = 0; round < settings.runs; round++) {
    say(`backup round ${round + 1}/${settings.runs}`);
    for (const contender of rotated(contenders, round)) {
      flushWrites();
      await contender();
    }
  }
}

async function measureFixedOverhead(run: ComparisonRun, settings: Settings, tiny: ResolvedBackupConfiguration): Promise<void> {
  say(`fixed overhead: ${settings.overheadRuns} backup and restore sessions of ${TINY_DATABASE}`);
  for (let index = 0; index < settings.overheadRuns; index++) await run.tinyBackup(tiny);
  const { snapshotId } = run.snapshots.get('overhead-backup-session')!;
  for (let index = 0; index < settings.overheadRuns; index++) await run.tinyRestore(tiny, snapshotId);
}

async function measureRestores(
  run: ComparisonRun,
  settings: Settings,
  plan: SyntheticDatabasePlan,
  context: {
    dumpFile: string;
    mydumperDir: string;
    restoreStreams: number;
    minio: ResolvedBackupConfiguration;
    minioSnapshot: CommittedBackup;
    target: TargetSpec;
    optionFile: string;
  },
): Promise<void> {
  say(`fingerprinting ${plan.database} (CHECKSUM TABLE of every table) to check every restore against it`);
  await run.fingerprintSource(plan.database);
  const bareClient = bareClientCommand(context.target, context.optionFile);
  const dbkeepClient = logicalRestoreCommand({ target: context.target, optionFile: context.optionFile });
  const contenders = [
    () => run.restore('restore-bare', plan.database, () => bareRestore(context.dumpFile, bareClient)),
    () => run.restore('restore-bare-dbkeep-client', plan.database, () => bareRestore(context.dumpFile, dbkeepClient)),
    () => run.restore('restore-dbkeep-minio', plan.database, () => run.dbkeepRestore(context.minio, context.minioSnapshot.snapshotId)),
    () =>
      run.restore('restore-dbkeep-parallel', plan.database, () =>
        run.dbkeepRestore(context.minio, context.minioSnapshot.snapshotId, context.restoreStreams),
      ),
    () =>
      run.restore('restore-myloader', plan.database, () =>
        runPipeline(
          [myloaderCommand(context.target, context.optionFile, { threads: context.restoreStreams, inputDir: context.mydumperDir })],
          {
            stdout: '/dev/null',
          },
        ),
      ),
  ];
  for (let round = 0; round < settings.runs; round++) {
    say(`restore round ${round + 1}/${settings.runs}`);
    for (const contender of rotated(contenders, round)) {
      flushWrites();
      await contender();
    }
  }
}

/**
 * Restore drills of the fingerprinted snapshot, one after another: each initializes a scratch
 * server on the worker, restores, dumps again and compares (docs/restore-drills.md). A drill that
 * finds a difference fails the benchmark, as a wrong restore does.
 */
async function measureDrills(run: ComparisonRun, settings: Settings, fingerprinted: ResolvedBackupConfiguration, snapshotId: string) {
  for (let round = 0; round < settings.runs; round++) {
    say(`restore drill ${round + 1}/${settings.runs}`);
    await run.drill(fingerprinted, snapshotId);
  }
}

/** Physical backups (bare and dbkeep, interleaved), then restores of the last one into 1 and 3 replica volumes, after one untimed. */
async function measurePhysical(
  run: ComparisonRun,
  settings: Settings,
  context: { dir: string; physical: ResolvedBackupConfiguration; physicalFilesystem: ResolvedBackupConfiguration },
): Promise<void> {
  const scratchDir = path.join(context.dir, 'mariadb-backup-scratch');
  const backups = [
    () => run.barePhysicalBackup(scratchDir, 'dev-null'),
    () => run.barePhysicalBackup(scratchDir, 'minio'),
    () => run.dbkeepBackup('physical-backup-dbkeep', context.physical),
    () => run.dbkeepBackup('physical-backup-dbkeep-filesystem', context.physicalFilesystem),
  ];
  for (let round = 0; round < settings.runs; round++) {
    say(`physical backup round ${round + 1}/${settings.runs}`);
    for (const contender of rotated(backups, round)) {
      flushWrites();
      await contender();
    }
  }
  const { snapshotId } = run.snapshots.get('physical-backup-dbkeep')!;
  const volumesDir = path.join(context.dir, 'volumes');
  say('physical restore warm-up (not timed)');
  await run.warmUpReplicaRestore(context.physical, snapshotId, volumesDir);
  const restores = [
    () => run.replicaRestore('physical-restore-1-replica', context.physical, snapshotId, volumesDir, 1),
    () => run.replicaRestore('physical-restore-3-replicas', context.physical, snapshotId, volumesDir, 3),
  ];
  for (let round = 0; round < settings.runs; round++) {
    say(`physical restore round ${round + 1}/${settings.runs}`);
    for (const contender of rotated(restores, round)) {
      flushWrites();
      await contender();
    }
  }
  rmSync(volumesDir, { recursive: true, force: true });
}

runBenchmarkMain(
  (cleanup) => measure(settingsFromArguments(), cleanup),
  (result) => {
    console.log(`\n${formatResultTables(result)}\n`);
    const { files, warnings } = writeResultFiles(path.join(projectRoot(), 'bench', 'results'), result);
    for (const warning of warnings) say(`warning: ${warning}`);
    for (const file of files) say(`wrote ${file}`);
    return result.passed ? 0 : 1;
  },
);
