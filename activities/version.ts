import { readFileSync } from 'node:fs';
import path from 'node:path';

/** dbkeep's own version, recorded in every manifest. */
export const DBKEEP_VERSION: string = (() => {
  for (const candidate of [path.join(__dirname, '..', 'package.json'), path.join(__dirname, '..', '..', 'package.json')]) {
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'dbkeep' && pkg.version) return pkg.version;
    } catch {
      // try the next location: sources run from the root, compiled code from dist/
    }
  }
  return 'unknown';
})();
