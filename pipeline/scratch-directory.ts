import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stopLeftoverLocalServer } from './leftover-servers';

/**
 * Private directories an activity works in under the worker's TMPDIR: `cred` holds secret files
 * for the tools, `restore` the staged segments of a parallel restore, `binlog` the binary log
 * file the archiver's replication client is writing, `server` the socket and temporary files of a
 * worker's own server (pipeline/local-server.ts), `drill` a restore drill's scratch data directory
 * (`data/`, whose server a later worker stops before removing it), `copy` the FIFOs a backup's
 * dump and its fingerprint's scan go through (pipeline/dump-scan.ts). The pid in the name lets
 * a later worker remove what a killed one could not (removeOrphanedScratchDirectories).
 */
export type ScratchPurpose = 'cred' | 'restore' | 'binlog' | 'server' | 'drill' | 'copy';

const NAME = /^dbkeep-(cred|restore|binlog|server|drill|copy)-(\d+)-/;

/** A new 0700 directory; the caller removes it (`rm(dir, { recursive: true, force: true })`) in a finally. */
export async function makeScratchDirectory(purpose: ScratchPurpose): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `dbkeep-${purpose}-${process.pid}-`));
}

/** Removes the scratch directories of processes that no longer run; workers call it when they start. */
export async function removeOrphanedScratchDirectories(): Promise<void> {
  const entries = await readdir(os.tmpdir()).catch(() => [] as string[]);
  for (const entry of entries) {
    const pid = Number(NAME.exec(entry)?.[2]);
    if (!pid || isRunning(pid)) continue;
    // A killed worker's drill leaves its scratch server running on the directory.
    await stopLeftoverLocalServer(path.join(os.tmpdir(), entry, 'data')).catch(() => undefined);
    await rm(path.join(os.tmpdir(), entry), { recursive: true, force: true }).catch(() => undefined);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
