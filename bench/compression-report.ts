import { formatTable } from '../clients/cli/output';
import { writeJsonAndMarkdown, type BenchEnvironment } from './bench-run';
import { markdownTable, median } from './comparison-report';

/**
 * What one run of `npm run bench:compression` measured and how it is shown: a table on the
 * terminal, JSON for tools, Markdown for people. Speeds are in MB/s (10^6 bytes) of raw SQL per
 * second of median wall time, in both directions, as compressors are usually compared.
 */
export interface ToolRuns {
  /** The argv that ran, as a shell user would write it. */
  command: string;
  seconds: number[];
  /** utime + stime of the tool: about the wall time for a tool that keeps to one core. */
  cpuSeconds: number[];
  medianSeconds: number;
  medianCpuSeconds: number;
  /** Raw bytes / median seconds, in MB/s. */
  rawMBps: number;
  /**
   * Raw bytes / median CPU seconds, in MB/s: what the tool does on a core of its own, which
   * other work on the machine changes much less than the wall time.
   */
  rawMBpsPerCpuSecond: number;
}

export interface CompressorMeasurement {
  /** e.g. zstd-3. */
  id: string;
  /** e.g. `zstd -3`. */
  label: string;
  /** e.g. "dbkeep's default". */
  note?: string;
  compressedBytes: number;
  /** Raw bytes / compressed bytes. */
  ratio: number;
  compression: ToolRuns;
  decompression: ToolRuns;
}

/** One compressor against a baseline: how many times as fast each way, and its ratio over the baseline's. */
export interface CompressorComparison {
  compressor: string;
  baseline: string;
  compressionSpeed: number;
  decompressionSpeed: number;
  ratio: number;
}

export interface CompressionResult {
  measuredAt: string;
  settings: { sizeMiB: number; runs: number };
  database: {
    name: string;
    tables: number;
    rowsPerTable: number;
    generationSeconds: number;
    /** The dump file every compressor reads: mariadb-dump with dbkeep's options. */
    dumpBytes: number;
    dumpSeconds: number;
  };
  compressors: CompressorMeasurement[];
  /** dbkeep's default (zstd -3) against gzip's (gzip -6). */
  defaultAgainstGzip: CompressorComparison;
  environment: BenchEnvironment;
}

const MB = 1e6;

export function summarizeToolRuns(command: string, runs: readonly { seconds: number; cpuSeconds: number }[], rawBytes: number): ToolRuns {
  const medianSeconds = median(runs.map((run) => run.seconds));
  const medianCpuSeconds = median(runs.map((run) => run.cpuSeconds));
  return {
    command,
    seconds: runs.map((run) => run.seconds),
    cpuSeconds: runs.map((run) => run.cpuSeconds),
    medianSeconds,
    medianCpuSeconds,
    rawMBps: rawBytes / MB / medianSeconds,
    rawMBpsPerCpuSecond: rawBytes / MB / medianCpuSeconds,
  };
}

export function compareCompressors(
  compressors: readonly CompressorMeasurement[],
  compressorId: string,
  baselineId: string,
): CompressorComparison {
  const find = (id: string): CompressorMeasurement => {
    const found = compressors.find((c) => c.id === id);
    if (found === undefined) throw new Error(`no compressor ${id} measured`);
    return found;
  };
  const compressor = find(compressorId);
  const baseline = find(baselineId);
  return {
    compressor: compressor.label,
    baseline: baseline.label,
    compressionSpeed: baseline.compression.medianSeconds / compressor.compression.medianSeconds,
    decompressionSpeed: baseline.decompression.medianSeconds / compressor.decompression.medianSeconds,
    ratio: compressor.ratio / baseline.ratio,
  };
}

const mbText = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
const speedText = (mbps: number): string => `${mbps.toFixed(mbps < 100 ? 1 : 0)} MB/s`;
const secondsText = (value: number): string => `${value.toFixed(2)} s`;
/** CPU over wall time: 1.00 is one core busy throughout. */
const coresText = (runs: ToolRuns): string => (runs.medianCpuSeconds / runs.medianSeconds).toFixed(2);

const HEADER = [
  'COMPRESSOR',
  'STORED',
  'RATIO',
  'COMPRESS',
  'PER CPU S',
  'MEDIAN',
  'CORES',
  'DECOMPRESS',
  'PER CPU S',
  'MEDIAN',
  'CORES',
  'COMPRESS RUNS (s)',
  'DECOMPRESS RUNS (s)',
];

function compressorRows(result: CompressionResult): string[][] {
  return result.compressors.map((c) => [
    c.note ? `${c.label} (${c.note})` : c.label,
    mbText(c.compressedBytes),
    c.ratio.toFixed(2),
    speedText(c.compression.rawMBps),
    speedText(c.compression.rawMBpsPerCpuSecond),
    secondsText(c.compression.medianSeconds),
    coresText(c.compression),
    speedText(c.decompression.rawMBps),
    speedText(c.decompression.rawMBpsPerCpuSecond),
    secondsText(c.decompression.medianSeconds),
    coresText(c.decompression),
    c.compression.seconds.map((s) => s.toFixed(2)).join(', '),
    c.decompression.seconds.map((s) => s.toFixed(2)).join(', '),
  ]);
}

function comparisonSentence({ defaultAgainstGzip: d }: CompressionResult): string {
  return (
    `${d.compressor} against ${d.baseline}: ${d.compressionSpeed.toFixed(1)} times as fast to compress, ` +
    `${d.decompressionSpeed.toFixed(1)} times as fast to decompress, ${d.ratio.toFixed(2)} times its ratio.`
  );
}

export function formatResultTables(result: CompressionResult): string {
  return [formatTable(HEADER, compressorRows(result)), comparisonSentence(result)].join('\n\n');
}

export function formatResultMarkdown(result: CompressionResult): string {
  const { database, settings, environment } = result;
  const load = environment.loadAverage;
  return [
    '# Compressors on the benchmark dataset',
    '',
    `Measured ${result.measuredAt} by \`npm run bench:compression\`: one dump of ${database.tables} tables x ${database.rowsPerTable} rows ` +
      `(${mbText(database.dumpBytes)} of SQL, mariadb-dump with dbkeep's options, ${secondsText(database.dumpSeconds)} to a file), ` +
      `read by each compressor alone from the page cache and written to /dev/null, median of ${settings.runs} runs each. ` +
      'Speed is raw SQL MB (10^6 bytes) per second of median wall time in both directions, and per median CPU second of the tool ' +
      '(what other work on the machine changes least); cores is CPU time over wall time, below 1 when the tool waited for a core.',
    `Environment: dbkeep ${environment.revision}, Node ${environment.node}, ${environment.cpus} CPUs, ${environment.platform}, ${environment.server}` +
      (load ? `; 1-minute load average ${load.atStart} at the start, ${load.atEnd} at the end.` : '.'),
    '',
    ...markdownTable(
      [
        'Compressor',
        'Stored',
        'Ratio',
        'Compress',
        'Per CPU s',
        'Median',
        'Cores',
        'Decompress',
        'Per CPU s',
        'Median',
        'Cores',
        'Compress runs (s)',
        'Decompress runs (s)',
      ],
      compressorRows(result),
    ),
    '',
    comparisonSentence(result),
    '',
    '## Commands',
    '',
    ...markdownTable(
      ['Compressor', 'Compress', 'Decompress'],
      result.compressors.map((c) => [c.label, `\`${c.compression.command}\``, `\`${c.decompression.command}\``]),
    ),
    '',
  ].join('\n');
}

/** Writes compression.json and compression.md into dir (created when missing); returns their paths. */
export function writeResultFiles(dir: string, result: CompressionResult): string[] {
  return writeJsonAndMarkdown(dir, 'compression', result, formatResultMarkdown(result));
}
