import { access, chown, constants, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Engine } from '../domain/resources';
import { localServerCommand } from '../domain/tool-commands';
import { LOCAL_SERVER_PID_FILE } from './leftover-servers';
import { makeScratchDirectory } from './scratch-directory';
import { startTool, ToolFailedError } from './tool-process';

const READY_POLL_MS = 250;
// InnoDB's recovery of a large prepared backup, or a slow volume, may take minutes.
const READY_TIMEOUT_MS = 30 * 60_000;
const SHUTDOWN_TIMEOUT_MS = 30 * 60_000;

export interface LocalServer {
  /** The server's socket: the only way to reach it. */
  readonly socket: string;
  /** Shuts the server down cleanly (InnoDB flushes everything) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts the engine's server (mariadbd, mysqld, from the worker's PATH or /usr/sbin) on a data
 * directory for one job of the worker's, such as replaying a binary log into a restored volume,
 * with the arguments of domain/tool-commands.ts localServerCommand: only this worker can reach it.
 * `owner`: whom a worker running as root runs it as; the data directory must be theirs.
 * Resolves once the server accepts connections on its socket; aborting `signal` kills it.
 */
export async function startLocalServer(params: {
  engine: Engine;
  datadir: string;
  owner?: { uid: number; gid: number };
  /** As domain/tool-commands.ts localServerCommand says; default `skip`. */
  grantTables?: 'skip' | 'use';
  signal: AbortSignal;
}): Promise<LocalServer> {
  const runDir = await makeScratchDirectory('server');
  if (params.owner) await chown(runDir, params.owner.uid, params.owner.gid);
  const socket = path.join(runDir, 'server.sock');
  const command = localServerCommand(
    params.engine,
    { datadir: params.datadir, socket, pidFile: path.join(params.datadir, LOCAL_SERVER_PID_FILE), tmpdir: runDir },
    { ...(params.owner ? { user: String(params.owner.uid) } : {}), ...(params.grantTables ? { grantTables: params.grantTables } : {}) },
  );
  const server = startTool(
    { ...command, command: await serverExecutable(command.command) },
    {
      signal: params.signal,
      stdin: 'ignore',
      stdout: 'ignore',
    },
  );
  let exited = false;
  const ended = server.finished.finally(() => {
    exited = true;
  });
  ended.catch(() => undefined);
  const failedToStart = (error: unknown) =>
    error instanceof ToolFailedError
      ? permanentFailure(PermanentFailureType.LocalServerFailed, `${command.command} did not start on ${params.datadir}: ${error.message}`)
      : error;
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await acceptsConnections(socket))) {
      if (exited) await ended;
      if (exited) throw new ToolFailedError(`${command.command} exited before it accepted connections`, true);
      if (Date.now() > deadline) throw new ToolFailedError(`not accepting connections after ${READY_TIMEOUT_MS / 60_000} minutes`, true);
      await sleep(READY_POLL_MS, undefined, { signal: params.signal });
    }
  } catch (error) {
    server.child.kill('SIGKILL');
    await ended.catch(() => undefined);
    await rm(runDir, { recursive: true, force: true });
    throw failedToStart(error);
  }
  return {
    socket,
    async stop() {
      try {
        if (!exited) server.child.kill('SIGTERM');
        const timeout = setTimeout(() => server.child.kill('SIGKILL'), SHUTDOWN_TIMEOUT_MS);
        try {
          await ended;
        } finally {
          clearTimeout(timeout);
        }
      } finally {
        await rm(runDir, { recursive: true, force: true });
      }
    },
  };
}

async function acceptsConnections(socket: string): Promise<boolean> {
  try {
    const connection = await mysql.createConnection({ socketPath: socket, user: 'root', connectTimeout: 5_000 });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

/** The server from PATH, else where Debian and the official images put it (/usr/sbin is not on every PATH). */
async function serverExecutable(name: string): Promise<string> {
  const directories = [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), '/usr/sbin', '/usr/libexec'];
  for (const directory of directories) {
    const candidate = path.join(directory, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return name;
}

async function isExecutable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}
