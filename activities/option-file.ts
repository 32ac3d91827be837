import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { optionFileContents } from '../domain/tool-commands';

/**
 * Runs `use` with the path of a 0600 option file holding the password, in a 0700 directory
 * of its own, and removes both afterwards whatever happens.
 */
export async function withOptionFile<T>(password: string | undefined, use: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dbkeep-cred-'));
  try {
    const file = path.join(dir, 'client.cnf');
    await writeFile(file, optionFileContents(password), { mode: 0o600, flag: 'wx' });
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
