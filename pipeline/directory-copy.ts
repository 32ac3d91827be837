import { mkdir, readdir, readlink, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Progress } from '../domain/progress';
import { nativeToolPath } from './native-tools';
import { startTool } from './tool-process';

/**
 * Copies the tree under `from` into `to` (which exists), leaving out the entries of `from` named in
 * `skip`: directories with their mode and symbolic links as links, made here; then every regular
 * file with its mode by one `dbkeep-copy` (pipeline/native/dbkeep-copy.c): a clone where the
 * filesystem shares extents, as XFS and Btrfs do, else written straight to the disk (O_DIRECT).
 * Ownership and syncing are the caller's. Counts the copied bytes in
 * `progress.bytesWritten` as each file is done; aborting `signal` stops the walk or kills the copy.
 */
export async function copyDirectoryTree(params: {
  from: string;
  to: string;
  skip?: readonly string[];
  signal: AbortSignal;
  progress: Progress;
}): Promise<void> {
  const skip = new Set(params.skip ?? []);
  const files: FileToCopy[] = [];
  await copyStructure(params.from, params.to, (name) => !skip.has(name), files, params.signal);
  if (files.length > 0) await copyFiles(files, params.signal, params.progress);
}

interface FileToCopy {
  source: string;
  target: string;
}

/** Makes the directories and links of the tree, and lists its regular files in `files`. */
async function copyStructure(
  from: string,
  to: string,
  keep: (name: string) => boolean,
  files: FileToCopy[],
  signal: AbortSignal,
): Promise<void> {
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (!keep(entry.name)) continue;
    signal.throwIfAborted();
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      await mkdir(target, { mode: (await stat(source)).mode & 0o7777 });
      await copyStructure(source, target, () => true, files, signal);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(source), target);
    } else if (entry.isFile()) {
      files.push({ source, target });
    }
    // Sockets and FIFOs (a server's leftovers) are not data: they are left out.
  }
}

/**
 * One dbkeep-copy for all the files: it creates each target (an entry already there fails it:
 * the target is a freshly emptied volume, so that is a bug, not something to replace) and
 * reports each file's bytes once the file is copied.
 */
async function copyFiles(files: readonly FileToCopy[], signal: AbortSignal, progress: Progress): Promise<void> {
  const copier = startTool({ command: nativeToolPath('dbkeep-copy'), args: [] }, { signal, stdin: 'pipe', stdout: 'pipe' });
  // A copier that fails early closes its stdin: the write's EPIPE is that failure, which `finished` reports.
  copier.child.stdin!.on('error', () => undefined);
  copier.child.stdin!.end(files.map(({ source, target }) => `${source}\0${target}\0`).join(''));
  const counted = (async () => {
    for await (const line of createInterface({ input: copier.child.stdout!, crlfDelay: Infinity })) progress.bytesWritten += Number(line);
  })();
  await Promise.all([copier.finished, counted]);
}
