import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, constants, loadavg } from 'node:os';
import path from 'node:path';
import { describeFailure } from '../clients/failure-description';
import { projectRoot } from '../pipeline/project-root';
import { CleanupStack } from './cleanup-stack';

/**
 * What every benchmark's entry point shares: its command-line settings, the description of
 * the machine it measured, and a main that always stops what it started.
 */
export const DEFAULT_SIZE_MIB = 1024;

export function say(line: string): void {
  console.log(`bench: ${line}`);
}

/** A setting from its flag, else its environment variable, else the default; names both in the error. */
export function positiveIntegerSetting(raw: string | undefined, names: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${names} must be a positive whole number, got ${JSON.stringify(raw)}`);
  return value;
}

/** --size-mb, then DBKEEP_BENCH_SIZE_MB, then the benchmark's default (1 GiB): the size of the generated database's dump, in MiB. */
export function resolveSizeMiB(flag: string | undefined, env: NodeJS.ProcessEnv, fallback = DEFAULT_SIZE_MIB): number {
  return positiveIntegerSetting(flag ?? env.DBKEEP_BENCH_SIZE_MB, '--size-mb / DBKEEP_BENCH_SIZE_MB', fallback);
}

export interface BenchEnvironment {
  revision: string;
  node: string;
  cpus: number;
  platform: string;
  /** The database server measured, e.g. "MariaDB 10.11.19-MariaDB-0+deb12u1". */
  server: string;
  /** 1-minute load averages when the benchmark started and ended: other work on the machine shows here. */
  loadAverage?: { atStart: number; atEnd: number };
}

/** The code measured, e.g. "350abed-dirty"; "unknown" outside a git checkout. */
function sourceRevision(): string {
  try {
    const argv = ['-C', projectRoot(), 'describe', '--always', '--dirty'];
    return execFileSync('git', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export function describeEnvironment(server: string): BenchEnvironment {
  return {
    revision: sourceRevision(),
    node: process.version,
    cpus: availableParallelism(),
    platform: `${process.platform} ${process.arch}`,
    server,
  };
}

/** Round r runs the contenders starting with the r-th, so none is always first (cold) or last. */
export const rotated = <T>(items: readonly T[], round: number): T[] => items.map((_, index) => items[(index + round) % items.length]!);

/**
 * Writes every dirty page to disk, untimed, before a contender runs: a contender that wrote
 * gigabytes (three replica volumes, a repository object) would otherwise leave their writeback
 * to slow down whichever contender runs next.
 */
export function flushWrites(): void {
  execFileSync('sync');
}

export const oneMinuteLoadAverage = (): number => Number((loadavg()[0] ?? 0).toFixed(2));

/** Writes `<name>.json` (the result, for tools) and `<name>.md` (for people) into dir, created when missing; returns their paths. */
export function writeJsonAndMarkdown(dir: string, name: string, result: unknown, markdown: string): string[] {
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${name}.json`);
  const markdownFile = path.join(dir, `${name}.md`);
  writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(markdownFile, markdown);
  return [json, markdownFile];
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

/**
 * Runs a benchmark whose `measure` starts servers (registering their stops on the cleanup
 * stack) and returns a result; `report` then prints and writes it once everything is stopped
 * and returns the exit code: 0 when every goal is met, 1 when one is not. A benchmark that
 * fails to measure exits 2.
 */
export function runBenchmarkMain<R>(measure: (cleanup: CleanupStack) => Promise<R>, report: (result: R) => number): void {
  const main = async (): Promise<number> => {
    const cleanup = new CleanupStack();
    cleanUpOnSignals(cleanup);
    let result: R;
    try {
      result = await measure(cleanup);
    } finally {
      await cleanup.run();
    }
    return report(result);
  };
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      const failure = describeFailure(error);
      process.stderr.write(`bench: FAILED: ${failure.type ? `${failure.type}: ` : ''}${failure.message}\n`);
      process.exit(2);
    },
  );
}
