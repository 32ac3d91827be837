import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

/** Files synced at once: Node's thread pool runs four, and a data directory may hold thousands. */
const FILES_AT_ONCE = 8;

/**
 * Puts everything under `dir` on the disk: every regular file's data (fdatasync), then every
 * directory (fsync), a directory after what it holds, `dir` last. A populated replica volume is
 * marked complete only after this, so a host that crashes once the marker is written cannot leave
 * a volume that says complete and lacks data it had in the page cache. Links, FIFOs and sockets
 * are not opened (a FIFO's open would wait for a writer); their directory's fsync keeps their
 * entries. Aborting `signal` stops the walk between files.
 */
export async function syncDirectoryTree(dir: string, signal: AbortSignal): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => path.join(dir, entry.name));
  for (let at = 0; at < files.length; at += FILES_AT_ONCE) {
    signal.throwIfAborted();
    await Promise.all(files.slice(at, at + FILES_AT_ONCE).map((file) => syncEntry(file, 'data')));
  }
  for (const entry of entries) if (entry.isDirectory()) await syncDirectoryTree(path.join(dir, entry.name), signal);
  signal.throwIfAborted();
  await syncEntry(dir, 'all');
}

/** fdatasync writes what reading the file back needs (its data, its size); a directory needs fsync. */
export async function syncEntry(file: string, what: 'data' | 'all'): Promise<void> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await (what === 'data' ? handle.datasync() : handle.sync());
  } finally {
    await handle.close();
  }
}
