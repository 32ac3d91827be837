import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Engine, ScratchPlacement } from '../domain/resources';
import { initializeDataDirectoryCommand } from '../domain/tool-commands';
import { startLocalServer } from '../pipeline/local-server';
import { startTool } from '../pipeline/tool-process';

/** How the worker reaches a scratch server: its own server's socket, or a pod's address. */
export type ScratchServerAddress = { socket: string } | { host: string; port: number };

/** An empty server of a snapshot's engine, for one restore drill, removed by stop(). */
export interface ScratchServer {
  readonly address: ScratchServerAddress;
  /** root's password; absent for the worker's own server, whose root has none over its socket. */
  readonly rootPassword?: string;
  /** Where it runs, for logs. */
  readonly description: string;
  /** Stops it and removes everything it held; never throws for a server already gone. */
  stop(): Promise<void>;
}

export interface ScratchServerRequest {
  engine: Engine;
  /** The snapshot's server version (manifest.server.version): the scratch server's. */
  serverVersion: string;
  /** The snapshot's bytes of SQL (manifest.data.rawBytes): what the server will hold. */
  dataBytes: number;
  /** The drill's workflow id: a later attempt of the same drill finds what an earlier one left. */
  drillId: string;
  /** A scratch directory of the drill's own, empty, removed by the drill. */
  directory: string;
  signal: AbortSignal;
}

/**
 * Starts the scratch servers of logical restore drills: the worker's own server binaries on a
 * directory (LocalScratchServers), or a Job of the engine's image on an emptyDir
 * (activities/kubernetes-scratch-servers.ts). Physical drills always start the worker's own
 * server on the prepared copy: it is prepared on the worker, with the worker's tools.
 */
export interface ScratchServerLauncher {
  start(request: ScratchServerRequest): Promise<ScratchServer>;
}

/** The launchers a worker has, by spec.verification.scratch: `local` always, `kubernetes` when configured. */
export type ScratchServerLaunchers = { local: ScratchServerLauncher } & Partial<Record<ScratchPlacement, ScratchServerLauncher>>;

/** The launcher of a placement; a worker without it fails the drill at once, saying what to configure. */
export function scratchServerLauncher(launchers: ScratchServerLaunchers, placement: ScratchPlacement): ScratchServerLauncher {
  const launcher = launchers[placement];
  if (!launcher) {
    throw permanentFailure(
      PermanentFailureType.InvalidInput,
      `spec.verification.scratch is ${placement}, and this worker starts no ${placement} scratch servers (docs/restore-drills.md says how to configure it)`,
    );
  }
  return launcher;
}

/** The owner of a scratch server's files: a worker running as root runs it as root, which the servers refuse without `--user`. */
export const scratchServerOwner = () => (process.getuid?.() === 0 ? { uid: 0, gid: 0 } : undefined);

/**
 * The worker's own server (mariadbd or mysqld from its image, pipeline/local-server.ts) on a new
 * data directory in the drill's directory, reachable on its socket only. Its engine and version
 * are the worker image's, which docs/restore-drills.md asks to match the snapshots'. A worker
 * killed mid-drill leaves it running; the next worker's start stops it (removeOrphanedScratchDirectories).
 */
export class LocalScratchServers implements ScratchServerLauncher {
  async start(request: ScratchServerRequest): Promise<ScratchServer> {
    const datadir = path.join(request.directory, 'data');
    await mkdir(datadir);
    const owner = scratchServerOwner();
    await startTool(initializeDataDirectoryCommand(request.engine, datadir, owner ? { user: String(owner.uid) } : {}), {
      signal: request.signal,
      stdin: 'ignore',
      stdout: 'ignore',
    }).finished;
    const server = await startLocalServer({ engine: request.engine, datadir, owner, grantTables: 'use', signal: request.signal });
    return { address: { socket: server.socket }, description: `local server on ${datadir}`, stop: () => server.stop() };
  }
}
