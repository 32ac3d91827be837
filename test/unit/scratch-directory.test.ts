import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeScratchDirectory, removeOrphanedScratchDirectories } from '../../pipeline/scratch-directory';

/** A pid that ran and exited: what a SIGKILLed worker leaves behind in directory names. */
function deadPid(): number {
  const child = spawnSync('true');
  return child.pid!;
}

describe('scratch directories', () => {
  const originalTmpdir = process.env.TMPDIR;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-scratch-test-'));
    process.env.TMPDIR = dir;
  });
  afterEach(() => {
    if (originalTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = originalTmpdir;
    rmSync(dir, { recursive: true, force: true });
  });

  it('are private to the worker and named after its pid', async () => {
    const made = await makeScratchDirectory('restore');
    expect(path.dirname(made)).toBe(dir);
    expect(path.basename(made)).toMatch(new RegExp(`^dbkeep-restore-${process.pid}-`));
    expect(statSync(made).mode & 0o777).toBe(0o700);
  });

  it("of workers that no longer run are removed at start, a running worker's and other files are kept", async () => {
    const dead = deadPid();
    for (const name of [
      `dbkeep-restore-${dead}-a`,
      `dbkeep-cred-${dead}-b`,
      `dbkeep-restore-${process.pid}-c`,
      `dbkeep-cred-${process.pid}-d`,
      'dbkeep-other-1-e',
      'unrelated',
    ]) {
      mkdirSync(path.join(dir, name));
    }
    await removeOrphanedScratchDirectories();
    expect(readdirSync(dir).sort()).toEqual(
      [`dbkeep-cred-${process.pid}-d`, `dbkeep-restore-${process.pid}-c`, 'dbkeep-other-1-e', 'unrelated'].sort(),
    );
  });
});
