import { formatTable } from '../clients/cli/output';
import { writeJsonAndMarkdown, type BenchEnvironment } from './bench-run';
import { GOALS } from './comparison-report';
import { bytesToMiB, type WorkerUsage } from './worker-usage';

/**
 * What one run of the backup memory benchmark measured, and how it is shown: a table on the
 * terminal, JSON for tools, Markdown for people. Sizes in MiB (2^20 bytes) throughout, the
 * unit /proc reports RSS in (its "kB" are KiB).
 */
export const PEAK_RSS_GOAL_MIB = GOALS.peakRssMiB;

export interface BackupMemoryResult {
  measuredAt: string;
  goal: { peakRssMiB: number };
  passed: boolean;
  database: { requestedDumpMiB: number; tables: number; rowsPerTable: number; generationSeconds: number };
  backup: {
    snapshotId: string;
    compression: string;
    rawBytes: number;
    storedBytes: number;
    durationSeconds: number;
    /** Raw (uncompressed SQL) MiB per second of session wall time, preflight and commit included. */
    throughputMiBps: number;
  };
  worker: WorkerUsage;
  environment: BenchEnvironment;
}

const mib = (value: number | undefined): string => (value === undefined ? 'n/a' : `${value.toFixed(1)} MiB`);
const seconds = (value: number): string => `${value.toFixed(1)} s`;

/** Metric / value rows, shared by the terminal table and the Markdown so they never disagree. */
function resultRows(result: BackupMemoryResult): [string, string][] {
  const { backup, worker, database } = result;
  return [
    ['database', `${database.tables} tables x ${database.rowsPerTable} rows (requested ~${database.requestedDumpMiB} MiB of dump)`],
    ['generation time', seconds(database.generationSeconds)],
    ['dump raw bytes', `${backup.rawBytes} (${mib(bytesToMiB(backup.rawBytes))})`],
    ['stored bytes', `${backup.storedBytes} (${mib(bytesToMiB(backup.storedBytes))}, ${backup.compression})`],
    ['backup duration', seconds(backup.durationSeconds)],
    ['throughput (raw)', `${backup.throughputMiBps.toFixed(1)} MiB/s`],
    ['worker peak RSS (VmHWM, lifetime)', mib(worker.peakRssMiB)],
    ['  before the session (VmHWM)', mib(worker.startupPeakRssMiB)],
    ['  at session start (VmRSS)', mib(worker.sessionStartRssMiB)],
    ['  during the session (VmHWM)', mib(worker.sessionPeakRssMiB)],
    [
      '  during the session (max sampled VmRSS)',
      `${mib(worker.sessionMaxSampledRssMiB)} (${worker.samples} samples every ${worker.sampleIntervalMs} ms)`,
    ],
    ['worker CPU', seconds(worker.cpuSeconds)],
    ['dump + compressor CPU', seconds(worker.toolCpuSeconds)],
    [`goal: peak RSS < ${result.goal.peakRssMiB.toFixed(1)} MiB (300 MB)`, result.passed ? 'PASS' : 'FAIL'],
  ];
}

export function formatResultTable(result: BackupMemoryResult): string {
  return formatTable(['METRIC', 'VALUE'], resultRows(result));
}

export function formatResultMarkdown(result: BackupMemoryResult): string {
  const { environment } = result;
  return [
    '# Backup memory benchmark',
    '',
    `Measured ${result.measuredAt} by \`npm run bench:memory\`: one logical backup session (mariadb-dump → ${result.backup.compression} → MinIO)`,
    `run by a \`dbkeep worker\` process; RSS from \`/proc/<pid>/status\`, CPU from \`/proc/<pid>/stat\`.`,
    `Environment: dbkeep ${environment.revision}, Node ${environment.node}, ${environment.cpus} CPUs, ${environment.platform}, ${environment.server}.`,
    '',
    '| Metric | Value |',
    '| --- | --- |',
    ...resultRows(result).map(([metric, value]) => `| ${metric.trim()} | ${value} |`),
    '',
  ].join('\n');
}

/** Writes backup-memory.json and backup-memory.md into dir (created when missing); returns their paths. */
export function writeResultFiles(dir: string, result: BackupMemoryResult): string[] {
  return writeJsonAndMarkdown(dir, 'backup-memory', result, formatResultMarkdown(result));
}
