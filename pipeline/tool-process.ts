import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path, { delimiter } from 'node:path';
import type { Readable } from 'node:stream';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { toolProvider, type SessionTool, type ToolCommand } from '../domain/tool-commands';
import { isNativeTool, nativeToolPath } from './native-tools';

const STDERR_TAIL_BYTES = 4096;
/** A failure's message names the tool and at most a few short lines: it travels in the session's history. */
const MESSAGE_LINES = 3;
const MESSAGE_LINE_CHARS = 300;

/**
 * The lines of a tool's stderr that say what went wrong, bounded whatever the tool printed (a
 * client may echo a multi-megabyte statement after its error). Kept from the beginning and the
 * end of stderr: the error line may be followed by a statement longer than any tail.
 */
export function stderrSummary(head: string, tail: string): string {
  const lines = [...new Set(`${head}\n${tail}`.split('\n').map((line) => line.trim()))].filter((line) => line !== '');
  const errors = lines.filter((line) => /error|denied|fail|refused|unknown|not allowed|cannot|can't|couldn't/i.test(line));
  return (errors.length > 0 ? errors : lines)
    .slice(-MESSAGE_LINES)
    .map((line) => (line.length > MESSAGE_LINE_CHARS ? `${line.slice(0, MESSAGE_LINE_CHARS)}…` : line))
    .join(' | ');
}

/** A tool that exited with a non-zero code or a signal. Transient: Temporal retries the activity. */
export class ToolFailedError extends Error {
  override readonly name = 'ToolFailedError';
  constructor(
    message: string,
    /** False when the tool was killed by a signal (usually ours, after another stage failed). */
    readonly exitedOnItsOwn: boolean,
  ) {
    super(message);
  }
}

export interface RunningTool {
  readonly child: ChildProcess;
  /** Resolves when the tool exited 0; rejects with its exit status and the end of its stderr. */
  readonly finished: Promise<void>;
  /** The last few KB the tool wrote to stderr (zstd -vv reports its byte counts there). */
  stderrTail(): string;
}

/**
 * Spawns a tool with an argv array (no shell). Aborting `signal` kills it, which is how
 * activity cancellation and a failure elsewhere in a pipeline stop every child.
 */
export function startTool(
  tool: ToolCommand,
  /**
   * stdin may be another tool's stdout (the two are then connected directly, without Node in
   * between); stdin and stdout may be an open file descriptor (the child gets its own copy; the
   * caller closes ours).
   */
  options: {
    signal: AbortSignal;
    stdin: 'pipe' | 'ignore' | Readable | number;
    stdout: 'pipe' | 'ignore' | number;
    /** File descriptor 3 as a pipe the caller reads (child.stdio[3]): a tool's report beside its output. */
    report?: boolean;
  },
): RunningTool {
  const child = spawn(tool.command, tool.args, {
    stdio: [options.stdin, options.stdout, 'pipe', ...(options.report ? ['pipe' as const] : [])],
    // Children are killed with the worker rather than left behind holding locks or uploads.
    detached: false,
  });
  let stderrTail = '';
  let stderrHead = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderrHead.length < STDERR_TAIL_BYTES) stderrHead += chunk.slice(0, STDERR_TAIL_BYTES - stderrHead.length);
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
  });
  const kill = () => child.kill('SIGKILL');
  if (options.signal.aborted) kill();
  options.signal.addEventListener('abort', kill, { once: true });

  const finished = new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      options.signal.removeEventListener('abort', kill);
      if (err.code === 'ENOENT') {
        reject(
          permanentFailure(
            PermanentFailureType.ToolNotFound,
            `${tool.command} is not installed on the worker (not found in PATH)` +
              (toolProvider(tool.command) ? `: its image needs ${toolProvider(tool.command)}` : ''),
          ),
        );
      } else {
        reject(err);
      }
    });
    child.once('close', (code, signal) => {
      options.signal.removeEventListener('abort', kill);
      if (code === 0) return resolve();
      const status = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const detail = stderrSummary(stderrHead, stderrTail);
      reject(new ToolFailedError(`${tool.command} ${status}${detail ? `: ${detail}` : ''}`, code !== null));
    });
  });
  // Callers may attach handlers late (after other awaits); never let this become an unhandled rejection.
  finished.catch(() => undefined);
  return { child, finished, stderrTail: () => stderrTail };
}

/**
 * Fails with ToolNotFound, naming each missing tool and what it is for, when a tool the session
 * will run is not an executable file in a directory of `searchPath` (the worker's PATH, searched
 * as spawn searches it). Sessions call it before they change anything: spawning finds out only
 * mid-session, after an overwrite's keep step, say.
 */
export async function requireToolsOnPath(tools: readonly SessionTool[], searchPath = process.env.PATH ?? ''): Promise<void> {
  const found = await Promise.all(tools.map((tool) => isOnPath(tool.command, searchPath)));
  const missing = tools.filter((_, index) => !found[index]);
  if (missing.length === 0) return;
  throw permanentFailure(
    PermanentFailureType.ToolNotFound,
    missing
      .map(({ command, role }) =>
        isNativeTool(command)
          ? `${command} (${role}) is not built at ${nativeToolPath(command)}: ${toolProvider(command)}`
          : `${command} (${role}) is not on the worker's PATH: ` +
            (toolProvider(command) ? `its image needs ${toolProvider(command)}` : `install ${command} on the worker's image`),
      )
      .join('; '),
  );
}

async function isOnPath(command: string, searchPath: string): Promise<boolean> {
  if (isNativeTool(command)) return isExecutableFile(nativeToolPath(command));
  if (command.includes('/')) return isExecutableFile(command);
  const directories = searchPath.split(delimiter).filter((directory) => directory !== '');
  const executable = await Promise.all(directories.map((directory) => isExecutableFile(path.join(directory, command))));
  return executable.includes(true);
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Runs a tool to completion and returns its first line of stdout (for `--version`). */
export async function readToolVersion(tool: ToolCommand): Promise<string> {
  const controller = new AbortController();
  const running = startTool(tool, { signal: controller.signal, stdin: 'ignore', stdout: 'pipe' });
  let out = '';
  running.child.stdout!.setEncoding('utf8');
  running.child.stdout!.on('data', (chunk: string) => (out += chunk));
  let err = '';
  running.child.stderr!.on('data', (chunk: string) => (err += chunk));
  await running.finished;
  return (out.trim() || err.trim()).split('\n')[0] ?? '';
}
