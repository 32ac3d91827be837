import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, readlink, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Progress } from '../domain/progress';

/**
 * Copies the tree under `from` into `to` (which exists), leaving out the entries of `from` named in
 * `skip`: regular files with their mode (a clone where the filesystem shares extents, as XFS and
 * Btrfs do, else a kernel-side copy), directories with their mode, symbolic links as links.
 * Ownership is the caller's to set. Counts the copied bytes in `progress.bytesWritten` and stops
 * between two files once `signal` is aborted.
 */
export async function copyDirectoryTree(params: {
  from: string;
  to: string;
  skip?: readonly string[];
  signal: AbortSignal;
  progress: Progress;
}): Promise<void> {
  const skip = new Set(params.skip ?? []);
  await copyEntries(params.from, params.to, (name) => !skip.has(name), params);
}

async function copyEntries(
  from: string,
  to: string,
  keep: (name: string) => boolean,
  params: { signal: AbortSignal; progress: Progress },
): Promise<void> {
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (!keep(entry.name)) continue;
    params.signal.throwIfAborted();
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      await mkdir(target, { mode: (await stat(source)).mode & 0o7777 });
      await copyEntries(source, target, () => true, params);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(source), target);
    } else if (entry.isFile()) {
      // COPYFILE_EXCL: the target is a freshly emptied volume, so an entry already there is a bug, not something to replace.
      await copyFile(source, target, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      params.progress.bytesWritten += (await stat(target)).size;
    }
    // Sockets and FIFOs (a server's leftovers) are not data: they are left out.
  }
}
