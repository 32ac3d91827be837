import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Progress } from '../../domain/progress';
import { copyDirectoryTree } from '../../pipeline/directory-copy';

describe('copyDirectoryTree', () => {
  let root: string;
  let from: string;
  let to: string;
  const progress = (): Progress => ({ phase: 'copying', bytesRead: 0, bytesWritten: 0 });

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'dbkeep-copy-test-'));
    from = path.join(root, 'from');
    to = path.join(root, 'to');
    mkdirSync(path.join(from, 'sakila'), { recursive: true, mode: 0o750 });
    chmodSync(path.join(from, 'sakila'), 0o750);
    writeFileSync(path.join(from, 'ibdata1'), Buffer.alloc(300_000, 7));
    writeFileSync(path.join(from, 'sakila', 'actor.ibd'), 'rows', { mode: 0o640 });
    chmodSync(path.join(from, 'sakila', 'actor.ibd'), 0o640);
    symlinkSync('sakila/actor.ibd', path.join(from, 'link'));
    writeFileSync(path.join(from, '.dbkeep-restore.json'), '{"restoreId":"r"}');
    execFileSync('mkfifo', [path.join(from, 'leftover.fifo')]);
    mkdirSync(to);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('copies files with their contents and modes, directories, and links as links, leaving out what it is told to and FIFOs', async () => {
    const counted = progress();
    await copyDirectoryTree({ from, to, skip: ['.dbkeep-restore.json'], signal: new AbortController().signal, progress: counted });
    expect(readdirSync(to).sort()).toEqual(['ibdata1', 'link', 'sakila']);
    expect(readFileSync(path.join(to, 'ibdata1'))).toEqual(readFileSync(path.join(from, 'ibdata1')));
    expect(readFileSync(path.join(to, 'sakila', 'actor.ibd'), 'utf8')).toBe('rows');
    expect(statSync(path.join(to, 'sakila')).mode & 0o777).toBe(0o750);
    expect(statSync(path.join(to, 'sakila', 'actor.ibd')).mode & 0o777).toBe(0o640);
    expect(readlinkSync(path.join(to, 'link'))).toBe('sakila/actor.ibd');
    expect(counted.bytesWritten).toBe(300_000 + 4);
  });

  it('copies files of any size whole: several 8 MiB blocks and a partial one, an empty file, one smaller than a disk block', async () => {
    const big = randomBytes(2 * 8 * 1024 * 1024 + 12_345);
    writeFileSync(path.join(from, 'sakila', 'payment.ibd'), big);
    writeFileSync(path.join(from, 'empty'), '');
    const counted = progress();
    await copyDirectoryTree({ from, to, skip: ['.dbkeep-restore.json'], signal: new AbortController().signal, progress: counted });
    expect(readFileSync(path.join(to, 'sakila', 'payment.ibd')).equals(big)).toBe(true);
    expect(statSync(path.join(to, 'empty')).size).toBe(0);
    expect(readFileSync(path.join(to, 'sakila', 'actor.ibd'), 'utf8')).toBe('rows');
    expect(counted.bytesWritten).toBe(300_000 + 4 + big.length);
  });

  it('refuses to replace an entry already in the target, and stops once aborted', async () => {
    writeFileSync(path.join(to, 'ibdata1'), 'already here');
    await expect(copyDirectoryTree({ from, to, signal: new AbortController().signal, progress: progress() })).rejects.toThrow(
      `dbkeep-copy exited with code 1: dbkeep-copy: ${path.join(to, 'ibdata1')}: File exists`,
    );
    expect(readFileSync(path.join(to, 'ibdata1'), 'utf8')).toBe('already here');

    const emptyTarget = path.join(root, 'aborted');
    mkdirSync(emptyTarget);
    const controller = new AbortController();
    controller.abort();
    await expect(copyDirectoryTree({ from, to: emptyTarget, signal: controller.signal, progress: progress() })).rejects.toThrow(/abort/i);
    expect(readdirSync(emptyTarget)).toEqual([]);
  });
});
