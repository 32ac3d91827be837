import type { BenchEnvironment } from './bench-run';
import { markdownTable, median } from './comparison-report';

/**
 * The result of `npm run bench:pitr`, its goals, and the table printed and written for people.
 * Lags are seconds from a commit's acknowledgement to its piece's index entry being listed.
 */
export const PITR_GOALS = {
  /** At the default upload interval: a restore to "latest" misses at most the last 5 s. */
  lagP99Seconds: 5,
  /** dbkeep's point-in-time restore over bare `mariadb-binlog | mariadb`, by throughput. */
  replayRatio: 0.95,
  /** 300 MB (10^6 bytes), as the worker's memory goal everywhere. */
  workerPeakRssMiB: 286.1,
  /** Mean RSS over the last fifth of the soak over that of its first fifth: flat, not climbing. */
  workerRssGrowth: 1.05,
} as const;

export interface ArchivePhaseResult {
  uploadInterval: string;
  /** Whether this is spec.pointInTimeRecovery's default: the soak, the phase the lag goal is judged on. */
  isDefault: boolean;
  commits: number;
  /** Commits per second the writer achieved (it never skips one, so a slow server shows here). */
  achievedRate: number;
  lagSeconds: { p50: number; p90: number; p99: number; max: number };
  pieces: number;
  meanPieceTransactions: number;
}

export interface WorkerRssResult {
  peakRssMiB: number;
  firstFifthMeanMiB: number;
  lastFifthMeanMiB: number;
  samples: number;
  /** [seconds since archiving began, VmRSS MiB]; JSON only. */
  timelineMiB: [number, number][];
  cpuSecondsWhileArchiving: number;
}

export interface ReplayResult {
  /** Transactions the point-in-time restore replayed after the snapshot. */
  transactions: number;
  /** Bytes of the source's binary log files the bare pipeline is given; it stops reading at its stop position. */
  binlogBytes: number;
  dbkeepSeconds: number[];
  bareSeconds: number[];
  /** The same snapshot restored alone by a dbkeep session: the fixed part of every point-in-time restore. */
  snapshotRestoreSeconds: number[];
  /** Median bare over median dbkeep: above 1 is faster than bare. */
  ratio: number;
  /** Median bare over (median dbkeep - median snapshot restore): the replay alone. */
  replayOnlyRatio: number;
}

export interface PitrBenchResult {
  measuredAt: string;
  settings: {
    transactionsPerSecond: number;
    /** Of each compared upload interval; the default one's phase (the soak) lasts soakSeconds. */
    secondsPerPhase: number;
    soakSeconds: number;
    connections: number;
    runs: number;
    watchPollMs: number;
  };
  goals: typeof PITR_GOALS;
  archive: ArchivePhaseResult[];
  worker: WorkerRssResult;
  replay: ReplayResult;
  passed: { lag: boolean; replay: boolean; workerPeak: boolean; workerFlat: boolean };
  environment: BenchEnvironment;
}

/** The phase the lag goal is judged on: the soak, at the default upload interval. */
const judgedPhase = (result: Pick<PitrBenchResult, 'archive'>): ArchivePhaseResult | undefined =>
  result.archive.find((phase) => phase.isDefault) ?? result.archive[0];

export function judge(result: Omit<PitrBenchResult, 'passed'>): PitrBenchResult['passed'] {
  const judged = judgedPhase(result);
  return {
    lag: judged !== undefined && judged.lagSeconds.p99 < PITR_GOALS.lagP99Seconds,
    replay: result.replay.ratio >= PITR_GOALS.replayRatio,
    workerPeak: result.worker.peakRssMiB < PITR_GOALS.workerPeakRssMiB,
    workerFlat: result.worker.lastFifthMeanMiB <= result.worker.firstFifthMeanMiB * PITR_GOALS.workerRssGrowth,
  };
}

const s = (seconds: number): string => `${seconds.toFixed(2)} s`;
const met = (ok: boolean): string => (ok ? 'met' : '**not met**');

/** The Markdown written to results/pitr.md and printed at the end. */
export function formatPitrMarkdown(result: PitrBenchResult): string {
  const { settings, replay, worker, environment } = result;
  const lines = [
    `# npm run bench:pitr, ${result.measuredAt}`,
    '',
    `${environment.server}, ${environment.cpus} CPUs, Node ${environment.node}, revision ${environment.revision}` +
      (environment.loadAverage
        ? `, load average ${environment.loadAverage.atStart} at the start and ${environment.loadAverage.atEnd} at the end`
        : '') +
      '.',
    `Writer: ${settings.transactionsPerSecond} one-row transactions/s from ${settings.connections} connections, ${settings.secondsPerPhase} s per compared ` +
      `upload interval, then ${settings.soakSeconds} s at the default one (the soak); the bucket watched every ${settings.watchPollMs} ms; ` +
      `replay medians of ${settings.runs}.`,
    '',
    '## Archive lag (commit acknowledged → index entry listed)',
    '',
    ...markdownTable(
      ['Upload interval', 'Commits', 'Achieved rate', 'p50', 'p90', 'p99', 'max', 'Pieces', 'Transactions per piece'],
      result.archive.map((phase) => [
        `${phase.uploadInterval}${phase.isDefault ? ' (default)' : ''}`,
        String(phase.commits),
        `${phase.achievedRate.toFixed(0)}/s`,
        ...[phase.lagSeconds.p50, phase.lagSeconds.p90, phase.lagSeconds.p99, phase.lagSeconds.max].map(s),
        String(phase.pieces),
        phase.meanPieceTransactions.toFixed(0),
      ]),
    ),
    '',
    '## Replay (point-in-time restore up to the soak, into a second MariaDB)',
    '',
    ...markdownTable(
      ['Contender', 'Median', 'Runs'],
      (
        [
          ['bare `mariadb-binlog --start-position=GTID --stop-position=GTID files | mariadb`', replay.bareSeconds],
          ['dbkeep restore session, `pointInTime: { beforeGtid }`', replay.dbkeepSeconds],
          ['dbkeep restore session of the snapshot alone', replay.snapshotRestoreSeconds],
        ] satisfies Array<[string, number[]]>
      ).map(([contender, runs]) => [contender, s(median(runs)), runs.map(s).join(', ')]),
    ),
    '',
    `${replay.transactions} transactions replayed, from ${(replay.binlogBytes / 2 ** 20).toFixed(1)} MiB of binary log files (the soak's included). ` +
      `Ratio (bare / dbkeep): **${replay.ratio.toFixed(3)}**; the replay alone (dbkeep minus the snapshot restore): ${replay.replayOnlyRatio.toFixed(3)}.`,
    '',
    '## Worker while archiving (the soak)',
    '',
    `Peak RSS (VmHWM) ${worker.peakRssMiB.toFixed(1)} MiB; mean RSS ${worker.firstFifthMeanMiB.toFixed(1)} MiB over the first fifth of the ` +
      `soak and ${worker.lastFifthMeanMiB.toFixed(1)} MiB over the last (${worker.samples} samples); ` +
      `${worker.cpuSecondsWhileArchiving.toFixed(1)} s of worker CPU in ${settings.soakSeconds} s.`,
    '',
    '## Goals',
    '',
    ...markdownTable(
      ['Goal', 'Measured', 'Status'],
      [
        [
          `archive lag p99 < ${PITR_GOALS.lagP99Seconds} s at the default upload interval`,
          s(judgedPhase(result)?.lagSeconds.p99 ?? Number.NaN),
          met(result.passed.lag),
        ],
        [`replay ≥ ${PITR_GOALS.replayRatio} of bare`, replay.ratio.toFixed(3), met(result.passed.replay)],
        [
          `worker peak RSS < 300 MB (${PITR_GOALS.workerPeakRssMiB} MiB)`,
          `${worker.peakRssMiB.toFixed(1)} MiB`,
          met(result.passed.workerPeak),
        ],
        [
          `worker RSS flat over the soak (last fifth ≤ ${PITR_GOALS.workerRssGrowth} × first)`,
          `${(worker.lastFifthMeanMiB / worker.firstFifthMeanMiB).toFixed(3)} ×`,
          met(result.passed.workerFlat),
        ],
      ],
    ),
    '',
  ];
  return lines.join('\n');
}
