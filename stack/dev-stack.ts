import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { API_VERSION } from '../domain/resources';
import { DEFAULT_TASK_QUEUE } from '../domain/session-ids';
import { preferPort } from './free-port';
import { isPidAlive, startManagedProcess, stopPid } from '../pipeline/managed-process';
import { createBucket, startMinio } from './minio-server';
import { startPushgateway } from './pushgateway';
import { startTemporalDevServer } from './temporal-dev-server';
import { pathWithReleaseTools } from './database-instance';
import { dbkeepCliCommand, workerIsPolling } from '../workers/worker-processes';

/**
 * The embedded stack behind `dbkeep dev up`: a Temporal dev server with its UI, a MinIO, a
 * Prometheus Pushgateway and a dbkeep worker, each a detached process on 127.0.0.1 that outlives the CLI. Everything
 * lives in one directory (default `.dbkeep/dev` under the current directory); `down` stops
 * the processes and keeps the data, so history and snapshots survive an `up` after it.
 */
export const DEV_REPOSITORY_NAME = 'dev';
export const DEV_BUCKET = 'dbkeep';
const NAMESPACE = 'default';
const WORKER_READY_TIMEOUT_MS = 90_000;
const WORKER_STOP_TIMEOUT_MS = 30_000;

const devStateSchema = z.object({
  temporal: z.object({ pid: z.number(), address: z.string(), uiUrl: z.string(), namespace: z.string() }),
  minio: z.object({ pid: z.number(), endpoint: z.string(), port: z.number() }),
  pushgateway: z.object({ pid: z.number(), url: z.string(), port: z.number() }),
  worker: z.object({ pid: z.number(), taskQueue: z.string(), logFile: z.string(), metricsPort: z.number() }),
  resourcesFile: z.string(),
});

export type DevStackState = z.infer<typeof devStateSchema>;

export interface DevStackComponent {
  name: 'temporal' | 'minio' | 'pushgateway' | 'worker';
  pid: number;
  running: boolean;
  detail: string;
}

export function defaultDevDir(cwd = process.cwd()): string {
  return process.env.DBKEEP_DEV_DIR ? path.resolve(process.env.DBKEEP_DEV_DIR) : path.join(cwd, '.dbkeep', 'dev');
}

const stateFile = (dir: string) => path.join(dir, 'state.json');

/** The recorded state, or undefined when the stack was never started or was stopped. */
export function readDevStackState(dir: string): DevStackState | undefined {
  if (!existsSync(stateFile(dir))) return undefined;
  const parsed = devStateSchema.safeParse(JSON.parse(readFileSync(stateFile(dir), 'utf8')));
  return parsed.success ? parsed.data : undefined;
}

export function devStackComponents(state: DevStackState): DevStackComponent[] {
  return [
    {
      name: 'temporal',
      pid: state.temporal.pid,
      running: isPidAlive(state.temporal.pid),
      detail: `${state.temporal.address}, UI ${state.temporal.uiUrl}`,
    },
    { name: 'minio', pid: state.minio.pid, running: isPidAlive(state.minio.pid), detail: state.minio.endpoint },
    {
      name: 'pushgateway',
      pid: state.pushgateway.pid,
      running: isPidAlive(state.pushgateway.pid),
      detail: `${state.pushgateway.url}/metrics`,
    },
    {
      name: 'worker',
      pid: state.worker.pid,
      running: isPidAlive(state.worker.pid),
      detail: `task queue ${state.worker.taskQueue}, SDK metrics http://127.0.0.1:${state.worker.metricsPort}/metrics, log ${state.worker.logFile}`,
    },
  ];
}

/** `node bin/dbkeep.js worker` */
export function dbkeepWorkerCommand(): { command: string; args: string[] } {
  const cli = dbkeepCliCommand();
  return { command: cli.command, args: [...cli.args, 'worker'] };
}

/**
 * The dev worker has the tools of both families, as an image built for both would: MySQL 9.7's
 * (`mysqldump`, `mysql`) first, then the host's, where MariaDB 10.11's (`mariadb-dump`,
 * `mariadb`, `mariadb-backup`) are. MariaDB's names never clash with MySQL's, so a Target of
 * either engine finds its own. Without the MySQL root (an older bootstrap) it has MariaDB's only.
 */
function devWorkerPath(): string {
  try {
    return pathWithReleaseTools('mysql-9.7');
  } catch {
    return process.env.PATH ?? '';
  }
}

export interface DevStackUpOptions {
  dir: string;
  /** argv that runs `dbkeep worker` (node and the CLI's entry script). */
  workerCommand: { command: string; args: string[] };
}

/** Starts whatever is not running; a stack that is fully up is left alone. */
export async function devStackUp(options: DevStackUpOptions): Promise<{ state: DevStackState; alreadyRunning: boolean }> {
  const { dir } = options;
  const previous = readDevStackState(dir);
  if (previous && devStackComponents(previous).every((c) => c.running)) return { state: previous, alreadyRunning: true };
  // A half-running stack (a crashed worker, a reboot) is restarted as a whole: simpler to reason about.
  if (previous) await devStackDown(dir);

  mkdirSync(dir, { recursive: true });
  const started: number[] = [];
  try {
    const temporal = await startTemporalDevServer({
      dir: path.join(dir, 'temporal'),
      dbFile: path.join(dir, 'temporal', 'temporal.db'),
      port: await preferPort(7233),
      uiPort: await preferPort(8233),
      namespace: NAMESPACE,
      detached: true,
    });
    started.push(temporal.pid);

    const credentials = minioCredentials(path.join(dir, 'minio'));
    const minio = await startMinio({
      dir: path.join(dir, 'minio'),
      port: await preferPort(previous?.minio.port),
      accessKey: readFileSync(credentials.accessKeyFile, 'utf8'),
      secretKey: readFileSync(credentials.secretKeyFile, 'utf8'),
      detached: true,
    });
    started.push(minio.pid);
    await createBucket(
      minio.endpoint,
      readFileSync(credentials.accessKeyFile, 'utf8'),
      readFileSync(credentials.secretKeyFile, 'utf8'),
      DEV_BUCKET,
    );

    const pushgateway = await startPushgateway({
      dir: path.join(dir, 'pushgateway'),
      port: await preferPort(previous?.pushgateway.port ?? 9091),
      detached: true,
    });
    started.push(pushgateway.pid);

    const workerLog = path.join(dir, 'worker.log');
    const metricsPort = await preferPort(previous?.worker.metricsPort);
    const worker = startManagedProcess({
      command: options.workerCommand.command,
      args: [...options.workerCommand.args, '--metrics-address', `127.0.0.1:${metricsPort}`],
      logFile: workerLog,
      env: {
        ...process.env,
        PATH: devWorkerPath(),
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_NAMESPACE: NAMESPACE,
        DBKEEP_TASK_QUEUE: DEFAULT_TASK_QUEUE,
        DBKEEP_PUSHGATEWAY_URL: pushgateway.url,
      },
      detached: true,
    });
    started.push(worker.pid);
    await worker.waitUntil(() => workerIsPolling(temporal.address, NAMESPACE, DEFAULT_TASK_QUEUE, worker.pid), {
      timeoutMs: WORKER_READY_TIMEOUT_MS,
      what: `dbkeep worker polling ${DEFAULT_TASK_QUEUE} on ${temporal.address}`,
      intervalMs: 500,
    });

    const resourcesFile = path.join(dir, 'resources.yaml');
    writeFileAtomically(resourcesFile, devRepositoryYaml(minio.endpoint, credentials));
    const state: DevStackState = {
      temporal: { pid: temporal.pid, address: temporal.address, uiUrl: temporal.uiUrl, namespace: NAMESPACE },
      minio: { pid: minio.pid, endpoint: minio.endpoint, port: minio.port },
      pushgateway: { pid: pushgateway.pid, url: pushgateway.url, port: pushgateway.port },
      worker: { pid: worker.pid, taskQueue: DEFAULT_TASK_QUEUE, logFile: workerLog, metricsPort },
      resourcesFile,
    };
    writeFileAtomically(stateFile(dir), `${JSON.stringify(state, null, 2)}\n`);
    return { state, alreadyRunning: false };
  } catch (error) {
    for (const pid of started.reverse()) await stopPid(pid).catch(() => undefined);
    throw error;
  }
}

/** Stops the worker first (it finishes or abandons its activities), then MinIO and Temporal. Data stays. */
export async function devStackDown(dir: string): Promise<DevStackComponent[]> {
  const state = readDevStackState(dir);
  if (!state) return [];
  const components = devStackComponents(state);
  await stopPid(state.worker.pid, 'SIGTERM', WORKER_STOP_TIMEOUT_MS);
  await stopPid(state.minio.pid);
  await stopPid(state.pushgateway.pid);
  await stopPid(state.temporal.pid);
  rmSync(stateFile(dir), { force: true });
  return components;
}

/** MinIO's root credentials, generated once per dev directory and kept in 0600 files the Repository references. */
function minioCredentials(dir: string): { accessKeyFile: string; secretKeyFile: string } {
  mkdirSync(dir, { recursive: true });
  const accessKeyFile = path.join(dir, 'access-key');
  const secretKeyFile = path.join(dir, 'secret-key');
  if (!existsSync(accessKeyFile) || !existsSync(secretKeyFile)) {
    writeFileSync(accessKeyFile, `dbkeep-${randomBytes(4).toString('hex')}`, { mode: 0o600 });
    writeFileSync(secretKeyFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  return { accessKeyFile, secretKeyFile };
}

function devRepositoryYaml(endpoint: string, credentials: { accessKeyFile: string; secretKeyFile: string }): string {
  const repository = {
    apiVersion: API_VERSION,
    kind: 'Repository',
    metadata: { name: DEV_REPOSITORY_NAME },
    spec: {
      s3: {
        endpoint,
        bucket: DEV_BUCKET,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: {
          accessKeyId: { file: credentials.accessKeyFile },
          secretAccessKey: { file: credentials.secretKeyFile },
        },
      },
    },
  };
  return `# Written by \`dbkeep dev up\`: the embedded MinIO, credentials by file reference.\n${stringify(repository)}`;
}

function writeFileAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}
