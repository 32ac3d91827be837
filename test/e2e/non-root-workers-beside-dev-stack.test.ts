import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopPid } from '../../pipeline/managed-process';
import { projectRoot } from '../../pipeline/project-root';
import { startTemporalDevServer, type TemporalDevServer } from '../../stack/temporal-dev-server';
import { dbkeepCliCommand, workerIsPolling } from '../../workers/worker-processes';
import { pollUntil } from '../support/poll';

/**
 * Workers started as a non-root user in a checkout where root left a `dbkeep dev up` stack
 * behind, as a replica Job's worker (uid 999) runs beside the demo's stack: given their Temporal
 * by `--address` or TEMPORAL_ADDRESS, they never look for the dev stack, so its state file,
 * which their user may not read, stops neither. Each must poll its task queue on a real
 * Temporal dev server. Needs the built CLI (`npm run build`; `npm test` builds).
 */

const runsAsRoot = process.getuid?.() === 0;
/** The official mariadb image's mysql user, which replica Jobs run as; this user when the test is not root. */
const WORKER_USER = runsAsRoot ? { uid: 999, gid: 999 } : undefined;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

const scratch = mkdtempSync(path.join(tmpdir(), 'dbkeep-non-root-workers-'));
// The workers' user must reach the checkout, its TMPDIR and the replica's volume.
chmodSync(scratch, 0o755);
/** The checkout the workers start in: their cwd, where `dbkeep dev up` keeps `.dbkeep/dev`. */
const checkout = path.join(scratch, 'checkout');
const devStateFile = path.join(checkout, '.dbkeep', 'dev', 'state.json');
let temporal: TemporalDevServer;

/** A directory the workers' user owns. */
function workerDirectory(name: string): string {
  const dir = path.join(scratch, name);
  mkdirSync(dir, { mode: 0o700 });
  if (WORKER_USER) chownSync(dir, WORKER_USER.uid, WORKER_USER.gid);
  return dir;
}

interface StartedWorker {
  pid: number;
  readonly stderr: string;
  readonly exit: string | undefined;
}

/** `node bin/dbkeep.js <args>` as the workers' user, as dbkeep starts its worker processes, in the checkout. */
function startDbkeepAsWorkerUser(args: string[], env: NodeJS.ProcessEnv): StartedWorker {
  const cli = dbkeepCliCommand();
  const child = spawn(cli.command, [...cli.args, ...args], {
    cwd: checkout,
    // No TEMPORAL_* or DBKEEP_DEV_DIR of this process: only what each case gives.
    env: {
      PATH: process.env.PATH,
      HOME: workerDirectory(`home-${args[0]}`),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    ...WORKER_USER,
  });
  const worker = { pid: child.pid!, stderr: '', exit: undefined as string | undefined };
  child.stderr.on('data', (chunk: Buffer) => (worker.stderr += chunk.toString()));
  child.on('exit', (code, signal) => (worker.exit = signal ?? `code ${code}`));
  return worker;
}

/** Waits until the worker polls `taskQueue`, or exits; then stops it and returns what it said. */
async function pollsThenStops(worker: StartedWorker, taskQueue: string, kind: 'workflow' | 'activity') {
  try {
    return await pollUntil(
      async () => ({
        polling: await workerIsPolling(temporal.address, temporal.namespace, taskQueue, worker.pid, kind).catch(() => false),
        exit: worker.exit,
        stderr: worker.stderr,
      }),
      (state) => state.polling || state.exit !== undefined,
      { what: `dbkeep worker ${worker.pid} polling ${taskQueue}`, timeoutMs: READY_TIMEOUT_MS, intervalMs: 250 },
    );
  } finally {
    await stopPid(worker.pid, 'SIGTERM', STOP_TIMEOUT_MS);
  }
}

beforeAll(async () => {
  if (!existsSync(path.join(projectRoot(), 'dist', 'clients', 'cli', 'main.js'))) {
    throw new Error('the workers run bin/dbkeep.js: run `npm run build` first');
  }
  temporal = await startTemporalDevServer({ dir: path.join(scratch, 'temporal') });
  // As `dbkeep dev up` run by root leaves it: the directory readable, the state file root's only.
  // (A 0700 directory would hide the file: a read would find nothing instead of failing.)
  mkdirSync(path.dirname(devStateFile), { recursive: true, mode: 0o755 });
  // It names another Temporal: a worker that followed it would not poll the one it was given.
  writeFileSync(
    devStateFile,
    JSON.stringify({ temporal: { pid: 1, address: '127.0.0.1:1', uiUrl: 'http://127.0.0.1:2', namespace: 'default' } }),
    // Not root, the test runs the workers as itself: a mode-000 file is unreadable to its owner too.
    { mode: runsAsRoot ? 0o600 : 0o000 },
  );
});

afterAll(async () => {
  await temporal?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('workers as a non-root user beside a root-owned dev stack', () => {
  it('`dbkeep worker --address` polls its task queue without reading the dev stack', async () => {
    const taskQueue = `non-root-worker-${randomBytes(4).toString('hex')}`;
    const worker = startDbkeepAsWorkerUser(
      ['worker', '--address', temporal.address, '--namespace', temporal.namespace, '--task-queue', taskQueue],
      { TMPDIR: workerDirectory('worker-tmp') },
    );
    const state = await pollsThenStops(worker, taskQueue, 'workflow');
    expect(state, worker.stderr).toMatchObject({ polling: true, exit: undefined });
    expect(worker.stderr).not.toMatch(/EACCES|\.dbkeep\/dev/);
  });

  it('`dbkeep replica-worker` with TEMPORAL_ADDRESS polls its task queue without reading the dev stack', async () => {
    const taskQueue = `non-root-replica-${randomBytes(4).toString('hex')}`;
    const worker = startDbkeepAsWorkerUser(['replica-worker', '--volume', workerDirectory('volume'), '--task-queue', taskQueue], {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      TMPDIR: workerDirectory('replica-tmp'),
    });
    const state = await pollsThenStops(worker, taskQueue, 'activity');
    expect(state, worker.stderr).toMatchObject({ polling: true, exit: undefined });
    expect(worker.stderr).not.toMatch(/EACCES|\.dbkeep\/dev/);
  });
});
