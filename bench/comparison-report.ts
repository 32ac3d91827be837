import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatTable } from '../clients/cli/output';
import { DEFAULT_SIZE_MIB, type BenchEnvironment } from './bench-run';
import { renderThroughputChart } from './throughput-chart';
import { bytesToMiB, type WorkerUsage } from './worker-usage';

/**
 * What one run of `npm run bench` measured, the ratios and goals derived from it, and how it is
 * shown: a table on the terminal, JSON for tools, Markdown and a PNG chart for people.
 * Every figure is a median of several runs; throughput is raw (uncompressed SQL) MiB per
 * second of wall time, so a ratio of throughputs is the inverse ratio of durations.
 */
export const GOALS = {
  /**
   * Logical and physical backups to MinIO against the same bare pipeline into the same MinIO,
   * and physical backups to a filesystem against the bare pipeline into /dev/null (issue 17).
   */
  backupThroughputRatio: 0.9,
  /** A logical backup to a filesystem repository, which has no object server to share the cores with (issue 17). */
  filesystemBackupThroughputRatio: 0.95,
  restoreThroughputRatio: 0.95,
  fixedOverheadSeconds: 2,
  /** The goal is 300 MB (10^6 bytes): about 286.1 MiB, the unit /proc reports. */
  peakRssMiB: 300e6 / 2 ** 20,
  replicaRestoreTimeRatio: 1.5,
  /** Recording a restore drill's fingerprint (spec.verification) may add at most 10% to a backup's time. */
  fingerprintCostRatio: 1.1,
  /** dbkeep's parallel restore against the bare client, and against myloader with as many threads (issue 17). */
  parallelRestoreOverBareRatio: 2.0,
  parallelRestoreOverMyloaderRatio: 1.25,
} as const;

export type MeasurementId =
  | 'backup-bare'
  | 'backup-bare-minio'
  | 'backup-dbkeep-minio'
  | 'backup-dbkeep-filesystem'
  | 'backup-dbkeep-fingerprint'
  | 'backup-mydumper'
  | 'restore-bare'
  | 'restore-bare-dbkeep-client'
  | 'restore-dbkeep-minio'
  | 'restore-dbkeep-parallel'
  | 'restore-myloader'
  | 'physical-backup-bare'
  | 'physical-backup-bare-minio'
  | 'physical-backup-dbkeep'
  | 'physical-backup-dbkeep-filesystem'
  | 'physical-restore-1-replica'
  | 'physical-restore-3-replicas'
  | 'overhead-backup-commit'
  | 'overhead-backup-session'
  | 'overhead-restore-session'
  | 'drill-dbkeep';

/** The worker during the sessions of one measurement. */
export interface WorkerSummary {
  /** VmHWM over the worker's life up to the end of these sessions. */
  peakRssMiB: number;
  /** The highest VmHWM of one of these sessions alone (reset at its start); absent when the kernel would not reset it. */
  sessionPeakRssMiB?: number;
  medianCpuSeconds: number;
  /** The dump tool, client and compressor the worker ran. */
  medianToolCpuSeconds: number;
}

export interface Measurement {
  id: MeasurementId;
  /** physical-backup throughput counts the xbstream's bytes; replica restores have no throughput. */
  group: 'backup' | 'restore' | 'physical-backup' | 'replicas' | 'overhead' | 'drill';
  label: string;
  /** What runs, as a shell user would write it. */
  command: string;
  seconds: number[];
  medianSeconds: number;
  /** Raw MiB / median seconds; absent for the fixed overhead. */
  throughputMiBps?: number;
  /** For dbkeep sessions: the streaming step alone (dump or restore), by the workflow's clock. */
  streamingStep?: { name: string; medianSeconds: number };
  worker?: WorkerSummary;
}

export interface Ratio {
  label: string;
  measured: MeasurementId;
  baseline: MeasurementId;
  /** measured throughput / baseline throughput. */
  value: number;
  goal?: number;
}

export interface GoalCheck {
  subject: 'throughput' | 'overhead' | 'memory' | 'replicas' | 'fingerprint';
  goal: string;
  value: string;
  /** undefined: not measured. */
  passed?: boolean;
}

export interface ComparisonResult {
  measuredAt: string;
  settings: { sizeMiB: number; runs: number; overheadRuns: number; restoreStreams: number; engine?: string };
  database: {
    name: string;
    tables: number;
    rowsPerTable: number;
    generationSeconds: number;
    rawBytes: number;
    storedBytes: number;
    compression: string;
    tinyRawBytes: number;
    /** The xbstream of the whole data directory, as the physical session reports it; absent when physical backups were not measured (MySQL). */
    physicalRawBytes?: number;
  };
  measurements: Measurement[];
  ratios: Ratio[];
  goals: GoalCheck[];
  passed: boolean;
  environment: BenchEnvironment;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function summarizeWorker(usages: readonly WorkerUsage[]): WorkerSummary {
  const sessionPeaks = usages.map((usage) => usage.sessionPeakRssMiB);
  return {
    peakRssMiB: Math.max(...usages.map((usage) => usage.peakRssMiB)),
    sessionPeakRssMiB: sessionPeaks.every((peak) => peak !== undefined) ? Math.max(...sessionPeaks) : undefined,
    medianCpuSeconds: median(usages.map((usage) => usage.cpuSeconds)),
    medianToolCpuSeconds: median(usages.map((usage) => usage.toolCpuSeconds)),
  };
}

function find(measurements: readonly Measurement[], id: MeasurementId): Measurement {
  const found = measurements.find((m) => m.id === id);
  if (found === undefined) throw new Error(`no measurement ${id}`);
  return found;
}

/** The comparisons the issue asks for, each measured / baseline throughput. */
export function deriveRatios(measurements: readonly Measurement[], restoreStreams: number, client = 'mariadb'): Ratio[] {
  // A pair not measured (the physical ones on MySQL, which has no XtraBackup here) gives no ratio.
  const measuredIds = new Set(measurements.map((m) => m.id));
  const ratio = (label: string, measured: MeasurementId, baseline: MeasurementId, goal?: number): Ratio[] =>
    measuredIds.has(measured) && measuredIds.has(baseline)
      ? [
          {
            label,
            measured,
            baseline,
            value: find(measurements, baseline).medianSeconds / find(measurements, measured).medianSeconds,
            goal,
          },
        ]
      : [];
  return [
    // Into MinIO, both sides pay for the object server, which shares this machine's cores (bench/README.md).
    ...ratio(
      'backup: dbkeep → MinIO / bare dump | zstd | s3-pipe → MinIO',
      'backup-dbkeep-minio',
      'backup-bare-minio',
      GOALS.backupThroughputRatio,
    ),
    ...ratio('backup: dbkeep → MinIO / bare dump | zstd > /dev/null', 'backup-dbkeep-minio', 'backup-bare'),
    ...ratio(
      'backup: dbkeep → filesystem / bare dump | zstd > /dev/null',
      'backup-dbkeep-filesystem',
      'backup-bare',
      GOALS.filesystemBackupThroughputRatio,
    ),
    // Time without over time with: 1/1.1 means the fingerprint adds 10% to the backup's time.
    ...ratio(
      'backup: dbkeep → MinIO with a drill fingerprint / without (time without over time with)',
      'backup-dbkeep-fingerprint',
      'backup-dbkeep-minio',
      1 / GOALS.fingerprintCostRatio,
    ),
    ...ratio(`restore drill (scratch server, restore, re-dump, compare) / bare zstd -d | ${client}`, 'drill-dbkeep', 'restore-bare'),
    ...ratio(`restore: dbkeep ← MinIO / bare zstd -d | ${client}`, 'restore-dbkeep-minio', 'restore-bare', GOALS.restoreThroughputRatio),
    ...ratio("restore: bare with dbkeep's client options / bare", 'restore-bare-dbkeep-client', 'restore-bare'),
    ...ratio("restore: dbkeep ← MinIO / bare with dbkeep's client options", 'restore-dbkeep-minio', 'restore-bare-dbkeep-client'),
    ...ratio(
      `restore: dbkeep, ${restoreStreams} sessions (parallel: ${restoreStreams}) / bare zstd -d | ${client}`,
      'restore-dbkeep-parallel',
      'restore-bare',
      GOALS.parallelRestoreOverBareRatio,
    ),
    ...ratio(
      `restore: dbkeep, parallel: ${restoreStreams} / myloader -t ${restoreStreams}`,
      'restore-dbkeep-parallel',
      'restore-myloader',
      GOALS.parallelRestoreOverMyloaderRatio,
    ),
    ...ratio(`backup: dbkeep → MinIO / mydumper -t ${restoreStreams} (gzip)`, 'backup-dbkeep-minio', 'backup-mydumper'),
    ...ratio(
      'physical backup: dbkeep → MinIO / bare mariadb-backup | zstd | s3-pipe → MinIO',
      'physical-backup-dbkeep',
      'physical-backup-bare-minio',
      GOALS.backupThroughputRatio,
    ),
    ...ratio('physical backup: dbkeep → MinIO / bare mariadb-backup | zstd > /dev/null', 'physical-backup-dbkeep', 'physical-backup-bare'),
    ...ratio(
      'physical backup: dbkeep → filesystem / bare mariadb-backup | zstd > /dev/null',
      'physical-backup-dbkeep-filesystem',
      'physical-backup-bare',
      GOALS.backupThroughputRatio,
    ),
    // Time of one over time of three: 1/1.5 means three replicas take 1.5 times as long as one.
    ...ratio(
      'physical restore: 1 replica / 3 replicas (time of one over time of three)',
      'physical-restore-3-replicas',
      'physical-restore-1-replica',
      1 / GOALS.replicaRestoreTimeRatio,
    ),
  ];
}

export function checkGoals(result: Pick<ComparisonResult, 'measurements' | 'ratios'>): GoalCheck[] {
  const atLeast = (ratio: Ratio): GoalCheck => ({
    subject:
      ratio.measured === 'physical-restore-3-replicas'
        ? 'replicas'
        : ratio.measured === 'backup-dbkeep-fingerprint'
          ? 'fingerprint'
          : 'throughput',
    goal: `${ratio.label} ≥ ${ratio.goal!.toFixed(2)}`,
    value: ratio.value.toFixed(3),
    passed: ratio.value >= ratio.goal!,
  });
  const overhead = find(result.measurements, 'overhead-backup-commit').medianSeconds;
  const peak = Math.max(...result.measurements.flatMap((m) => (m.worker ? [m.worker.peakRssMiB] : [])));
  return [
    ...result.ratios.filter((ratio) => ratio.goal !== undefined).map(atLeast),
    {
      subject: 'overhead',
      goal: `fixed overhead (tiny database, trigger → manifest committed) < ${GOALS.fixedOverheadSeconds} s`,
      value: `${overhead.toFixed(2)} s`,
      passed: overhead < GOALS.fixedOverheadSeconds,
    },
    {
      subject: 'memory',
      goal: `worker peak RSS (VmHWM over the whole benchmark) < ${GOALS.peakRssMiB.toFixed(1)} MiB (300 MB)`,
      value: `${peak.toFixed(1)} MiB`,
      passed: peak < GOALS.peakRssMiB,
    },
  ];
}

const secondsText = (value: number): string => `${value.toFixed(value < 10 ? 2 : 1)} s`;
const mibText = (value: number | undefined): string => (value === undefined ? 'n/a' : `${value.toFixed(1)} MiB`);
const status = (check: GoalCheck): string => (check.passed === undefined ? 'not measured' : check.passed ? 'PASS' : 'FAIL');

function measurementRows(result: ComparisonResult): string[][] {
  return result.measurements.map((m) => [
    m.label,
    secondsText(m.medianSeconds),
    m.seconds.map((s) => s.toFixed(2)).join(', '),
    m.throughputMiBps === undefined ? '' : `${m.throughputMiBps.toFixed(1)} MiB/s`,
    m.streamingStep ? `${m.streamingStep.name} ${secondsText(m.streamingStep.medianSeconds)}` : '',
  ]);
}

function ratioRows(result: ComparisonResult): string[][] {
  return result.ratios.map((r) => [
    r.label,
    r.value.toFixed(3),
    r.goal === undefined ? '' : `≥ ${r.goal.toFixed(2)}`,
    r.goal === undefined ? '' : r.value >= r.goal ? 'PASS' : 'FAIL',
  ]);
}

function workerRows(result: ComparisonResult): string[][] {
  return result.measurements.flatMap((m) =>
    m.worker
      ? [
          [
            m.label,
            mibText(m.worker.peakRssMiB),
            mibText(m.worker.sessionPeakRssMiB),
            secondsText(m.worker.medianCpuSeconds),
            secondsText(m.worker.medianToolCpuSeconds),
          ],
        ]
      : [],
  );
}

const MEASUREMENT_HEADER = ['MEASUREMENT', 'MEDIAN', 'RUNS (s)', 'THROUGHPUT (raw)', 'STREAMING STEP'];
const RATIO_HEADER = ['RATIO (throughput)', 'VALUE', 'GOAL', 'STATUS'];
const WORKER_HEADER = ['WORKER DURING', 'PEAK RSS (lifetime)', 'PEAK RSS (session)', 'CPU (median)', 'TOOLS CPU (median)'];

export function formatResultTables(result: ComparisonResult): string {
  return [
    formatTable(MEASUREMENT_HEADER, measurementRows(result)),
    formatTable(RATIO_HEADER, ratioRows(result)),
    formatTable(WORKER_HEADER, workerRows(result)),
    formatTable(
      ['GOAL', 'VALUE', 'STATUS'],
      result.goals.map((g) => [g.goal, g.value, status(g)]),
    ),
  ].join('\n\n');
}

export const markdownTable = (header: string[], rows: string[][]): string[] => [
  `| ${header.join(' | ')} |`,
  `| ${header.map(() => '---').join(' | ')} |`,
  ...rows.map((row) => `| ${row.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`),
];

export function formatResultMarkdown(result: ComparisonResult, chartFile: string | undefined): string {
  const { database, settings, environment } = result;
  const load = environment.loadAverage;
  return [
    '# dbkeep against the bare tools',
    '',
    `Measured ${result.measuredAt} by \`npm run bench\`: ${database.tables} tables x ${database.rowsPerTable} rows, ` +
      `${mibText(bytesToMiB(database.rawBytes))} of SQL (${mibText(bytesToMiB(database.storedBytes))} stored, ${database.compression}), ` +
      `median of ${settings.runs} runs each (fixed overhead: ${settings.overheadRuns} runs on a ${(database.tinyRawBytes / 1024).toFixed(0)} KiB database).`,
    `Environment: dbkeep ${environment.revision}, Node ${environment.node}, ${environment.cpus} CPUs, ${environment.platform}, ${environment.server}` +
      (load ? `; 1-minute load average ${load.atStart} at the start, ${load.atEnd} at the end (other work shares the machine).` : '.'),
    '',
    ...(chartFile ? [`![throughput](${chartFile})`, ''] : []),
    '## Goals',
    '',
    ...markdownTable(
      ['Goal', 'Value', 'Status'],
      result.goals.map((g) => [g.goal, g.value, status(g)]),
    ),
    '',
    '## Ratios',
    '',
    ...markdownTable(['Ratio (throughput)', 'Value', 'Goal', 'Status'], ratioRows(result)),
    '',
    '## Measurements',
    '',
    ...markdownTable(
      ['Measurement', 'Command', 'Median', 'Runs (s)', 'Throughput (raw)', 'Streaming step'],
      result.measurements.map((m, index) => {
        const [label, medianText, runs, throughput, step] = measurementRows(result)[index]!;
        return [label!, `\`${m.command}\``, medianText!, runs!, throughput!, step!];
      }),
    ),
    '',
    '## Worker',
    '',
    ...markdownTable(
      ['Worker during', 'Peak RSS (lifetime)', 'Peak RSS (session)', 'CPU (median)', 'Tools CPU (median)'],
      workerRows(result),
    ),
    '',
  ].join('\n');
}

/**
 * Writes bare-tools-comparison.{json,md,svg,png} into dir (created when missing), with the
 * engine in the name when it is not the default MariaDB 10.11 (bare-tools-comparison-mysql-9.7.md)
 * and the size when it is not the default 1 GiB (bare-tools-comparison-5120mib.md), so a scale
 * run never replaces the figures the README quotes; returns their paths.
 */
export function writeResultFiles(dir: string, result: ComparisonResult): { files: string[]; warnings: string[] } {
  mkdirSync(dir, { recursive: true });
  const { engine, sizeMiB } = result.settings;
  const suffixes = [
    ...(engine === undefined || engine === 'mariadb-10.11' ? [] : [engine]),
    ...(sizeMiB === DEFAULT_SIZE_MIB ? [] : [`${sizeMiB}mib`]),
  ];
  const base = path.join(dir, ['bare-tools-comparison', ...suffixes].join('-'));
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  const chart = renderThroughputChart(result, `${base}.svg`, `${base}.png`);
  writeFileSync(`${base}.md`, formatResultMarkdown(result, chart.png ? path.basename(chart.png) : undefined));
  return { files: [`${base}.json`, `${base}.md`, chart.svg, ...(chart.png ? [chart.png] : [])], warnings: chart.warnings };
}
