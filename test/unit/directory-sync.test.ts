import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { syncDirectoryTree } from '../../pipeline/directory-sync';

/**
 * What reaches the disk is visible only after a crash; these tests pin what the walk opens and
 * what it leaves alone: a replica volume holds a data directory's files, links and, left by a
 * server, FIFOs and sockets, and opening a FIFO would wait for a writer forever.
 */
describe('syncDirectoryTree', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'dbkeep-sync-test-'));
    mkdirSync(path.join(root, 'sakila', 'empty'), { recursive: true });
    writeFileSync(path.join(root, 'ibdata1'), Buffer.alloc(300_000, 7));
    for (let i = 0; i < 20; i++) writeFileSync(path.join(root, 'sakila', `t${i}.ibd`), `rows ${i}`);
    symlinkSync('sakila/t0.ibd', path.join(root, 'link'));
    symlinkSync('nowhere', path.join(root, 'dangling'));
    execFileSync('mkfifo', [path.join(root, 'leftover.fifo')]);
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const listing = () =>
    readdirSync(root, { recursive: true, withFileTypes: true })
      .map(
        (entry) =>
          `${path.relative(root, path.join(entry.parentPath, entry.name))}:${entry.isFile() ? readFileSync(path.join(entry.parentPath, entry.name)).length : entry.isSymbolicLink() ? 'link' : entry.isFIFO() ? 'fifo' : 'dir'}`,
      )
      .sort();

  it('syncs every file and directory of a tree with links, a dangling link and a FIFO, and changes none of it', async () => {
    const before = listing();
    await syncDirectoryTree(root, new AbortController().signal);
    expect(listing()).toEqual(before);
    expect(before).toContain('leftover.fifo:fifo');
    expect(before).toContain('sakila/t19.ibd:7');
  });

  it('stops at once when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('activity cancelled'));
    await expect(syncDirectoryTree(root, controller.signal)).rejects.toThrow('activity cancelled');
  });

  it('fails naming the directory it cannot read', async () => {
    await expect(syncDirectoryTree(path.join(root, 'missing'), new AbortController().signal)).rejects.toThrow(/ENOENT.*missing/);
  });
});
