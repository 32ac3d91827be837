import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The directory holding dbkeep's package.json, found by walking up from this file: sources
 * run from the root's subfolders, compiled code from dist/'s.
 */
export function findProjectRoot(from: string = __dirname): { dir: string; version: string } | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'dbkeep') return { dir, version: pkg.version ?? 'unknown' };
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

export function projectRoot(): string {
  const found = findProjectRoot();
  if (!found) throw new Error(`cannot find dbkeep's package.json above ${__dirname}`);
  return found.dir;
}
