import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { workerIsPolling } from '../../workers/worker-processes';
import { isPidAlive, startManagedProcess, stopPid } from '../../pipeline/managed-process';
import { DBKEEP_CLI } from './cli-runner';
import { WORKER_NODE_FLAGS } from '../../domain/worker-node-flags';

/**
 * A dbkeep worker in its own process: `node bin/dbkeep.js worker`, the built CLI as users run
 * it (build first, as `npm test` does), so a test can SIGKILL it mid-activity the way a lost
 * node or the OOM killer would, and start another one on the same task queue.
 */
export interface WorkerProcessOptions {
  /** Holds the worker's log; also its cwd, so a `dbkeep dev up` stack in the project is never picked up. */
  dir: string;
  address: string;
  namespace: string;
  taskQueue: string;
  /** Names the log file: `worker-<name>.log`. */
  name: string;
  pushgatewayUrl?: string;
  maxConcurrentSessions?: number;
  /** Added to this process's environment, e.g. the worker's own settings. */
  env?: Record<string, string>;
}

/**
 * The workers' TMPDIR: one per dir, shared by the workers started there as /tmp is shared by
 * the workers of one host, and removed with the test's dir. What a killed worker leaves in it
 * (its option files) stays inside the test and can be looked for.
 */
export function workerTmpDir(dir: string): string {
  return path.join(dir, 'worker-tmp');
}

export interface ProcessInfo {
  pid: number;
  parentPid: number;
  /** The kernel's command name (comm), e.g. `mariadb-dump`, `zstd`. */
  command: string;
}

export interface WorkerProcess {
  readonly pid: number;
  readonly logFile: string;
  /** The processes below the worker right now (dump tools, compressors, clients), from /proc. */
  descendants(): ProcessInfo[];
  /** SIGKILL without waiting: no shutdown, no cleanup; the worker's children are left to their fate. */
  kill(): void;
  /** SIGTERM and the worker's graceful shutdown (20 s grace), SIGKILL past 30 s. */
  stop(): Promise<void>;
}

// The first workflow task may load the prebuilt bundle; 2 cores shared with servers under load.
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const args = [
    ...WORKER_NODE_FLAGS,
    DBKEEP_CLI,
    'worker',
    '--address',
    options.address,
    '--namespace',
    options.namespace,
    '--task-queue',
    options.taskQueue,
    ...(options.pushgatewayUrl ? ['--pushgateway', options.pushgatewayUrl] : []),
    ...(options.maxConcurrentSessions ? ['--max-concurrent-sessions', String(options.maxConcurrentSessions)] : []),
  ];
  const tmp = workerTmpDir(options.dir);
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  const worker = startManagedProcess({
    command: process.execPath,
    args,
    logFile: path.join(options.dir, `worker-${options.name}.log`),
    cwd: options.dir,
    env: { ...process.env, ...options.env, TMPDIR: tmp, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  try {
    await worker.waitUntil(() => workerIsPolling(options.address, options.namespace, options.taskQueue, worker.pid), {
      timeoutMs: READY_TIMEOUT_MS,
      what: `dbkeep worker ${options.name} polling ${options.taskQueue} on ${options.address}`,
      intervalMs: 250,
    });
  } catch (error) {
    worker.kill();
    throw error;
  }
  return {
    pid: worker.pid,
    logFile: worker.logFile,
    descendants: () => descendantsOf(worker.pid),
    kill: () => worker.kill(),
    stop: () => worker.stop('SIGTERM', STOP_TIMEOUT_MS),
  };
}

/** Every live process whose ancestry leads to `pid`, read from /proc/<pid>/stat. */
export function descendantsOf(pid: number): ProcessInfo[] {
  const all = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      const info = readProcessInfo(Number(entry));
      return info ? [info] : [];
    });
  const found: ProcessInfo[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const child of all.filter((p) => p.parentPid === parent)) {
      found.push(child);
      frontier.push(child.pid);
    }
  }
  return found;
}

function readProcessInfo(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited while we were reading
  }
  // Field 2 is "(comm)", which may itself hold spaces and parentheses.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const [, parentPid] = text.slice(close + 2).split(' ');
  return { pid, parentPid: Number(parentPid), command: text.slice(open + 1, close) };
}

/** The arguments `pid` runs with (after its program), or undefined once it has exited. */
export function processArguments(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1, -1);
  } catch {
    return undefined;
  }
}

/** Those of `processes` still running as the same command (a reused pid is someone else's). */
export function stillRunning(processes: readonly ProcessInfo[]): ProcessInfo[] {
  return processes.filter((p) => isPidAlive(p.pid) && readProcessInfo(p.pid)?.command === p.command);
}

/** Kills, by pid, those of `processes` that still run, e.g. a killed worker's orphaned tools. */
export async function killLeftovers(processes: readonly ProcessInfo[]): Promise<void> {
  for (const { pid } of stillRunning(processes)) await stopPid(pid, 'SIGKILL', 5_000).catch(() => undefined);
}
