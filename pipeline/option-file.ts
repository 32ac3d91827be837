import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { optionFileContents } from '../domain/tool-commands';
import { makeScratchDirectory } from './scratch-directory';

/**
 * Runs `use` with the paths of 0600 files holding secrets (a password option file, an age
 * identity, …) in a 0700 directory of its own, and removes them afterwards whatever happens.
 * Secrets reach tools this way, never through argv, where `ps` shows them.
 */
export async function withSecretFiles<T, K extends string>(
  contents: Record<K, string>,
  use: (files: Record<K, string>) => Promise<T>,
): Promise<T> {
  const dir = await makeScratchDirectory('cred');
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
