import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { withOptionFile } from '../pipeline/option-file';
import { dataFileName } from '../domain/repository-layout';
import { targetSpecSchema, type CompressionSpec } from '../domain/resources';
import { compressCommand, decompressCommand, logicalDumpCommand, type ToolCommand } from '../domain/tool-commands';
import { projectRoot } from '../pipeline/project-root';
import { runPipeline, timeSeconds } from './bare-pipelines';
import {
  describeEnvironment,
  oneMinuteLoadAverage,
  positiveIntegerSetting,
  resolveSizeMiB,
  rotated,
  runBenchmarkMain,
  say,
} from './bench-run';
import { benchTargetSpec, generateBenchDatabase, startBenchDatabase } from './bench-stack';
import type { CleanupStack } from './cleanup-stack';
import {
  compareCompressors,
  formatResultTables,
  summarizeToolRuns,
  writeResultFiles,
  type CompressionResult,
  type CompressorMeasurement,
} from './compression-report';
import { clockTicksPerSecond, readCpuTimes } from './process-usage';
import { planSyntheticDatabase } from './synthetic-database';

/**
 * `npm run bench:compression [-- --size-mb N --runs N]`: every compression dbkeep offers, on
 * one dump of the benchmark's generated database (default about 500 MiB of SQL) made with
 * exactly dbkeep's mariadb-dump options. Each compressor and decompressor runs alone, with
 * dbkeep's argv (`compressCommand`, `decompressCommand`), spawned without a shell, reading a
 * file from the page cache and writing to /dev/null: the time is the tool's, not a disk's, a
 * pipe's or the database's. Rounds are rotated as in `npm run bench`; medians are reported.
 * Every compressed file is decompressed and compared with the dump once: a fast compressor that
 * loses bytes fails the benchmark (exit 2). There is no goal, so the exit code is otherwise 0.
 */
const DEFAULT_SIZE_MIB = 500;
const DEFAULT_RUNS = 3;

interface Compressor {
  id: string;
  label: string;
  note?: string;
  spec: CompressionSpec;
}

const COMPRESSORS: readonly Compressor[] = [
  { id: 'zstd-1', label: 'zstd -1', spec: { algorithm: 'zstd', level: 1 } },
  { id: 'zstd-3', label: 'zstd -3', note: "dbkeep's default", spec: { algorithm: 'zstd', level: 3 } },
  { id: 'zstd-9', label: 'zstd -9', spec: { algorithm: 'zstd', level: 9 } },
  { id: 'gzip-1', label: 'gzip -1', spec: { algorithm: 'gzip', level: 1 } },
  { id: 'gzip-6', label: 'gzip -6', note: "gzip's default", spec: { algorithm: 'gzip', level: 6 } },
  { id: 'bzip2-9', label: 'bzip2 -9', note: "bzip2's default", spec: { algorithm: 'bzip2', level: 9 } },
  { id: 'none', label: 'none', note: 'cat: reading the file alone', spec: { algorithm: 'none' } },
];
const DEFAULT_COMPRESSOR = 'zstd-3';
const GZIP_DEFAULT = 'gzip-6';

// With `none` dbkeep runs no tool at all; `cat` shows what reading the file and writing it out costs here.
const COPY: ToolCommand = { command: 'cat', args: [] };

interface Settings {
  sizeMiB: number;
  runs: number;
}

function settingsFromArguments(): Settings {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { 'size-mb': { type: 'string' }, runs: { type: 'string' } },
    strict: true,
  });
  const { env } = process;
  return {
    sizeMiB: resolveSizeMiB(values['size-mb'], env, DEFAULT_SIZE_MIB),
    runs: positiveIntegerSetting(values.runs ?? env.DBKEEP_BENCH_RUNS, '--runs / DBKEEP_BENCH_RUNS', DEFAULT_RUNS),
  };
}

const commandText = ({ command, args }: ToolCommand, input: string): string =>
  [command, ...args, '<', path.basename(input), '> /dev/null'].join(' ');

interface ToolRun {
  seconds: number;
  cpuSeconds: number;
}

/** A compressor with its files: what it reads to compress, and the compressed file its decompressor reads. */
interface PreparedCompressor extends Compressor {
  compress: ToolCommand;
  decompress: ToolCommand;
  compressedFile: string;
  compressionRuns: ToolRun[];
  decompressionRuns: ToolRun[];
}

class CompressionRun {
  private readonly ticksPerSecond = clockTicksPerSecond();

  constructor(
    private readonly dir: string,
    private readonly dumpFile: string,
  ) {}

  /**
   * `tool < input > /dev/null` alone: wall time, and the tool's CPU time, read from this
   * process's reaped-children times (the only child that ends meanwhile is the tool).
   */
  async runTool(tool: ToolCommand, input: string): Promise<ToolRun> {
    const before = readCpuTimes(process.pid, this.ticksPerSecond).reapedChildrenSeconds;
    const seconds = await timeSeconds(() => runPipeline([tool], { stdin: input, stdout: '/dev/null' }));
    return { seconds, cpuSeconds: readCpuTimes(process.pid, this.ticksPerSecond).reapedChildrenSeconds - before };
  }

  /** Compresses the dump once into a file (its size, and the decompressor's input) and checks that it decompresses to the dump. */
  async prepare(compressor: Compressor): Promise<PreparedCompressor> {
    const compress = compressCommand(compressor.spec);
    const decompress = decompressCommand(compressor.spec.algorithm);
    if (compress === undefined || decompress === undefined) {
      return { ...compressor, compress: COPY, decompress: COPY, compressedFile: this.dumpFile, compressionRuns: [], decompressionRuns: [] };
    }
    say(`${compressor.label}: compressing into a file and checking that it decompresses to the dump`);
    const compressedFile = path.join(this.dir, compressor.id, dataFileName('logical', compressor.spec.algorithm, false));
    mkdirSync(path.dirname(compressedFile));
    await runPipeline([compress], { stdin: this.dumpFile, stdout: compressedFile });
    try {
      await runPipeline([decompress, { command: 'cmp', args: ['--silent', '-', this.dumpFile] }], {
        stdin: compressedFile,
        stdout: '/dev/null',
      });
    } catch (error) {
      throw new Error(
        `${compressor.label}: ${compressedFile} does not decompress to the dump (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    return { ...compressor, compress, decompress, compressedFile, compressionRuns: [], decompressionRuns: [] };
  }

  async measure(compressor: PreparedCompressor): Promise<void> {
    const compression = await this.runTool(compressor.compress, this.dumpFile);
    compressor.compressionRuns.push(compression);
    const decompression = await this.runTool(compressor.decompress, compressor.compressedFile);
    compressor.decompressionRuns.push(decompression);
    say(`${compressor.label}: compress ${compression.seconds.toFixed(2)} s, decompress ${decompression.seconds.toFixed(2)} s`);
  }
}

function toMeasurement(compressor: PreparedCompressor, dumpFile: string, rawBytes: number): CompressorMeasurement {
  const compressedBytes = statSync(compressor.compressedFile).size;
  return {
    id: compressor.id,
    label: compressor.label,
    note: compressor.note,
    compressedBytes,
    ratio: rawBytes / compressedBytes,
    compression: summarizeToolRuns(commandText(compressor.compress, dumpFile), compressor.compressionRuns, rawBytes),
    decompression: summarizeToolRuns(commandText(compressor.decompress, compressor.compressedFile), compressor.decompressionRuns, rawBytes),
  };
}

async function measure(settings: Settings, cleanup: CleanupStack): Promise<CompressionResult> {
  const loadAtStart = oneMinuteLoadAverage();
  const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-bench-'));
  cleanup.defer(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const passwordFile = path.join(dir, 'mariadb-password');
  const mariadb = await startBenchDatabase(path.join(dir, 'mariadb'), passwordFile, cleanup);
  say(`MariaDB 127.0.0.1:${mariadb.port} (in ${dir})`);

  const plan = planSyntheticDatabase(settings.sizeMiB);
  say(`generating ${plan.tables.length} tables x ${plan.rowsPerTable} rows (~${settings.sizeMiB} MiB of dump)`);
  const generation = await generateBenchDatabase({ database: mariadb }, plan);
  say(`generated in ${generation.seconds.toFixed(1)} s`);
  // Described now: the revision is that of the code built for this run, not of a tree that moved since.
  const environment = describeEnvironment(generation.server);

  const dumpFile = path.join(dir, dataFileName('logical', 'none', false));
  const target = targetSpecSchema.parse(benchTargetSpec(mariadb, passwordFile));
  const dumpSeconds = await withOptionFile(mariadb.rootPassword, (optionFile) =>
    timeSeconds(() => runPipeline([logicalDumpCommand({ target, optionFile, databases: [plan.database] })], { stdout: dumpFile })),
  );
  const rawBytes = statSync(dumpFile).size;
  say(`dumped ${rawBytes} bytes in ${dumpSeconds.toFixed(1)} s`);
  // The server's background work (flushing the generated pages) would otherwise share the cores with the compressors.
  await mariadb.stop();

  const run = new CompressionRun(dir, dumpFile);
  const prepared: PreparedCompressor[] = [];
  for (const compressor of COMPRESSORS) prepared.push(await run.prepare(compressor));
  for (let round = 0; round < settings.runs; round++) {
    say(`round ${round + 1}/${settings.runs}`);
    for (const compressor of rotated(prepared, round)) await run.measure(compressor);
  }

  const compressors = prepared.map((compressor) => toMeasurement(compressor, dumpFile, rawBytes));
  return {
    measuredAt: new Date().toISOString(),
    settings,
    database: {
      name: plan.database,
      tables: plan.tables.length,
      rowsPerTable: plan.rowsPerTable,
      generationSeconds: generation.seconds,
      dumpBytes: rawBytes,
      dumpSeconds,
    },
    compressors,
    defaultAgainstGzip: compareCompressors(compressors, DEFAULT_COMPRESSOR, GZIP_DEFAULT),
    environment: { ...environment, loadAverage: { atStart: loadAtStart, atEnd: oneMinuteLoadAverage() } },
  };
}

runBenchmarkMain(
  (cleanup) => measure(settingsFromArguments(), cleanup),
  (result) => {
    console.log(`\n${formatResultTables(result)}\n`);
    for (const file of writeResultFiles(path.join(projectRoot(), 'bench', 'results'), result)) say(`wrote ${file}`);
    return 0;
  },
);
