import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { optionFileContents } from '../domain/tool-commands';

const PREFIX = 'dbkeep-cred-';

/**
 * Runs `use` with the paths of 0600 files holding secrets (a password option file, an age
 * identity, …) in a 0700 directory of its own, and removes them afterwards whatever happens.
 * Secrets reach tools this way, never through argv, where `ps` shows them.
 */
export async function withSecretFiles<T, K extends string>(
  contents: Record<K, string>,
  use: (files: Record<K, string>) => Promise<T>,
): Promise<T> {
  // The pid in the name lets a later worker remove what a killed one could not (removeOrphanedSecretFiles).
  const dir = await mkdtemp(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
  try {
    const files = {} as Record<K, string>;
    for (const [name, text] of Object.entries(contents) as Array<[K, string]>) {
      files[name] = path.join(dir, name);
      await writeFile(files[name], text, { mode: 0o600, flag: 'wx' });
    }
    return await use(files);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The password as a client option file for --defaults-file. */
export async function withOptionFile<T>(password: string | undefined, use: (file: string) => Promise<T>): Promise<T> {
  return withSecretFiles({ 'client.cnf': optionFileContents(password) }, (files) => use(files['client.cnf']));
}

/**
 * Removes the secret directories of processes that no longer run: a worker killed with SIGKILL
 * never reaches its `finally`. Workers call it when they start.
 */
export async function removeOrphanedSecretFiles(): Promise<void> {
  const entries = await readdir(os.tmpdir()).catch(() => [] as string[]);
  for (const entry of entries) {
    const pid = Number(/^dbkeep-cred-(\d+)-/.exec(entry)?.[1]);
    if (!pid || isRunning(pid)) continue;
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
