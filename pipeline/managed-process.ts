import { execFile, spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

export interface ManagedProcessOptions {
  command: string;
  args: readonly string[];
  /** stdout and stderr are both appended here. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Outlives this Node process: own session, not waited for. Stop it later with stopPid. */
  detached?: boolean;
}

export interface WaitOptions {
  timeoutMs: number;
  /** Names what is awaited in the timeout error, e.g. "MinIO health on 127.0.0.1:9000". */
  what: string;
  intervalMs?: number;
}

export interface ManagedProcess {
  readonly pid: number;
  readonly logFile: string;
  /** Signals, waits up to timeoutMs for the exit, then escalates to SIGKILL. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  /** SIGKILL without waiting; a no-op when the process is already gone. */
  kill(): void;
  /**
   * Polls probe until it returns true. Fails early when the process exits, and on timeout,
   * with the last lines of the log: a server that never gets ready says why there.
   */
  waitUntil(probe: () => Promise<boolean>, options: WaitOptions): Promise<void>;
}

const LOG_TAIL_LINES = 20;
// Logs are appended across restarts; the tail is all a startup error needs.
const LOG_TAIL_BYTES = 64 * 1024;
const SIGKILL_GRACE_MS = 5_000;

export function startManagedProcess(options: ManagedProcessOptions): ManagedProcess {
  const logFd = openSync(options.logFile, 'a');
  let exitReason: string | undefined;
  let pid: number | undefined;
  try {
    const child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', logFd, logFd],
      detached: options.detached ?? false,
    });
    child.on('error', (error) => {
      exitReason = `could not run ${options.command}: ${error.message}`;
    });
    child.on('exit', (code, signal) => {
      exitReason = `${options.command} exited with ${signal ?? `code ${code}`}`;
    });
    if (options.detached) child.unref();
    pid = child.pid;
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(logFd);
  }
  if (pid === undefined) {
    throw new Error(`could not run ${options.command}; see ${options.logFile}`);
  }
  const processId = pid;

  return {
    pid: processId,
    logFile: options.logFile,
    stop: (signal = 'SIGTERM', timeoutMs = 10_000) => stopPid(processId, signal, timeoutMs),
    kill: () => signalIfAlive(processId, 'SIGKILL'),
    async waitUntil(probe, { timeoutMs, what, intervalMs = 200 }) {
      const deadline = Date.now() + timeoutMs;
      let lastError = '';
      for (;;) {
        try {
          if (await probe()) return;
        } catch (error) {
          lastError = error instanceof Error ? error.message : String(error);
        }
        if (exitReason !== undefined) {
          throw new Error(`${what}: ${exitReason} before it was ready\n${logTail(options.logFile)}`);
        }
        if (Date.now() >= deadline) {
          const cause = lastError ? ` (last probe error: ${lastError})` : '';
          throw new Error(`${what}: not ready after ${timeoutMs} ms${cause}\n${logTail(options.logFile)}`);
        }
        await sleep(intervalMs);
      }
    },
  };
}

/**
 * Stops a process by pid, also one started detached by an earlier CLI invocation.
 * Resolves at once when nothing runs under that pid.
 */
export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
  if (!signalIfAlive(pid, signal)) return;
  if (await waitForExit(pid, timeoutMs)) return;
  signalIfAlive(pid, 'SIGKILL');
  if (!(await waitForExit(pid, SIGKILL_GRACE_MS))) {
    throw new Error(`process ${pid} is still running ${SIGKILL_GRACE_MS} ms after SIGKILL`);
  }
}

/** Runs a command to its end, such as a server's one-off initialisation; its error holds the command's output. */
export async function runToCompletion(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<void> {
  try {
    await promisify(execFile)(command, [...args], { env: { ...process.env, ...env } });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout}${stderr}`);
  }
}

export function isPidAlive(pid: number): boolean {
  return signalIfAlive(pid, 0);
}

function signalIfAlive(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isPidAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

function logTail(logFile: string): string {
  let text: string;
  try {
    const fd = openSync(logFile, 'r');
    try {
      const size = fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.min(size, LOG_TAIL_BYTES));
      readSync(fd, buffer, 0, buffer.length, size - buffer.length);
      text = buffer.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return `(no log at ${logFile})`;
  }
  const lines = text.trimEnd().split('\n').slice(-LOG_TAIL_LINES);
  return `last ${lines.length} lines of ${logFile}:\n${lines.join('\n')}`;
}
