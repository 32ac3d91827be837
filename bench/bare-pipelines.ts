import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { TargetSpec } from '../domain/resources';
import { clientFamily, type ToolCommand } from '../domain/tool-commands';

/**
 * The bare tools as a shell runs them, `a < in | b > out`, without a shell: each stage is
 * spawned with its argv and the pipe between two stages is handed from one child to the next,
 * so the data never passes through Node. That is the baseline dbkeep is measured against.
 */
const STDERR_TAIL_BYTES = 4096;

/** A stage of a bare pipeline: a tool's argv, and what its environment adds (secrets stay out of argv). */
export interface PipelineStage extends ToolCommand {
  env?: Record<string, string>;
}

export interface PipelineFiles {
  /** The first stage's stdin; none when omitted. */
  stdin?: string;
  /** The last stage's stdout, e.g. /dev/null. */
  stdout: string;
}

interface StageExit {
  tool: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function waitForExit(child: ChildProcess, tool: string): Promise<StageExit> {
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES)));
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`cannot run ${tool}: ${error.message}`)));
    child.once('close', (code, signal) => resolve({ tool, code, signal, stderr }));
  });
}

/** The plain client as a user runs it: connection options (the password in an option file) and nothing else. */
export function bareClientCommand(target: TargetSpec, optionFile: string): ToolCommand {
  return {
    // The engine's own client: `mysql` against MySQL, `mariadb` against MariaDB.
    command: clientFamily(target.engine),
    args: [`--defaults-file=${optionFile}`, '--protocol=TCP', `--host=${target.host}`, `--port=${target.port}`, `--user=${target.user}`],
  };
}

/**
 * The peers people pick for speed: mydumper and myloader (Debian's package, 0.10: gzip is its
 * only compression). `threads` as dbkeep's parallel restore has sessions; one file per chunk of
 * `rowsPerChunk` rows, so a table is dumped and loaded by several threads; only InnoDB's
 * transaction for consistency (`--trx-consistency-only`), as dbkeep's `--single-transaction`.
 */
export function mydumperCommand(target: TargetSpec, optionFile: string, params: { database: string; threads: number; outputDir: string }) {
  return {
    command: 'mydumper',
    args: [
      `--defaults-file=${optionFile}`,
      `--host=${target.host}`,
      `--port=${target.port}`,
      `--user=${target.user}`,
      `--database=${params.database}`,
      `--threads=${params.threads}`,
      `--outputdir=${params.outputDir}`,
      `--rows=${MYDUMPER_ROWS_PER_CHUNK}`,
      '--trx-consistency-only',
      '--compress',
      '--verbose=1',
    ],
  } satisfies ToolCommand;
}

export function myloaderCommand(target: TargetSpec, optionFile: string, params: { threads: number; inputDir: string }) {
  return {
    command: 'myloader',
    args: [
      `--defaults-file=${optionFile}`,
      `--host=${target.host}`,
      `--port=${target.port}`,
      `--user=${target.user}`,
      `--directory=${params.inputDir}`,
      `--threads=${params.threads}`,
      '--overwrite-tables',
      '--verbose=1',
    ],
  } satisfies ToolCommand;
}

const MYDUMPER_ROWS_PER_CHUNK = 100_000;

/** Runs the stages as one pipeline and resolves once all of them exited 0; otherwise rejects naming the first that did not. */
export async function runPipeline(stages: readonly PipelineStage[], files: PipelineFiles): Promise<void> {
  const stdin = files.stdin === undefined ? 'ignore' : openSync(files.stdin, 'r');
  const stdout = openSync(files.stdout, 'w');
  const children: ChildProcess[] = [];
  try {
    const exits: Promise<StageExit>[] = [];
    let input: number | 'ignore' | Readable = stdin;
    for (const [index, stage] of stages.entries()) {
      const last = index === stages.length - 1;
      const child: ChildProcess = spawn(stage.command, stage.args, {
        stdio: [input, last ? stdout : 'pipe', 'pipe'],
        env: stage.env === undefined ? process.env : { ...process.env, ...stage.env },
      });
      children.push(child);
      exits.push(waitForExit(child, stage.command));
      // The next stage holds its own copy of the pipe now; as a shell does, the parent lets go of its own.
      if (typeof input === 'object') input.destroy();
      input = child.stdout ?? 'ignore';
    }
    const results = await Promise.all(exits);
    const failed = results.find((exit) => exit.code !== 0);
    if (failed !== undefined) {
      const status = failed.signal ? `was killed by ${failed.signal}` : `exited with code ${failed.code}`;
      throw new Error(`${failed.tool} ${status}: ${failed.stderr.trim().split('\n').slice(-5).join(' | ')}`);
    }
  } catch (error) {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  } finally {
    if (typeof stdin === 'number') closeSync(stdin);
    closeSync(stdout);
  }
}

/** Wall-clock seconds of `run`. */
export async function timeSeconds(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}
