import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemStorage } from '../../storage/filesystem-storage';

/**
 * A filesystem repository given arbitrary keys (`../`, absolute paths, backslashes, empty and
 * dot segments, control characters): every write, read and delete either stays inside the
 * repository's directory or is refused. A sentinel file next to the repository must survive.
 */
let sandbox: string;
let root: string;
let sentinel: string;
let storage: FilesystemStorage;

const segment = fc.oneof(
  fc.constantFrom('..', '.', '', '~', '%2e%2e', '..\\..', '\\', 'sentinel.txt', 'repo', '/etc', '..%2f'),
  fc.string({ unit: 'binary-ascii', maxLength: 6 }),
);
const key = fc.oneof(
  fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/')),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('../sentinel.txt', 'a/../../sentinel.txt', '/../sentinel.txt', 'a/b/../../../sentinel.txt', '..', '', '/'),
);

/** Every file and directory under dir, relative to it. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

beforeAll(() => {
  sandbox = mkdtempSync(path.join(tmpdir(), 'dbkeep-fs-property-'));
  root = path.join(sandbox, 'repo');
  mkdirSync(root);
  sentinel = path.join(sandbox, 'sentinel.txt');
  writeFileSync(sentinel, 'keep me');
  storage = new FilesystemStorage(root);
});

afterAll(() => {
  rmSync(sandbox, { recursive: true, force: true });
});

describe('FilesystemStorage with arbitrary keys, property-based', () => {
  it('writes, reads and deletes only inside its directory, or refuses', async () => {
    await fc.assert(
      fc.asyncProperty(key, async (k) => {
        const outcomes: string[] = [];
        for (const operation of [() => storage.putBytes(k, Buffer.from('x')), () => storage.getBytes(k), () => storage.delete(k)]) {
          await operation().then(
            () => outcomes.push('ok'),
            (error: unknown) => outcomes.push(error instanceof Error ? error.message : String(error)),
          );
        }
        // Nothing appeared or disappeared next to the repository, and the sentinel is intact.
        expect(tree(sandbox).filter((entry) => !entry.startsWith(`repo${path.sep}`) && entry !== 'repo')).toEqual(['sentinel.txt']);
        expect(readFileSync(sentinel, 'utf8')).toBe('keep me');
        // An accepted write is listed under a key that resolves inside the repository.
        if (outcomes[0] === 'ok') {
          for await (const object of storage.list('')) {
            expect(path.resolve(root, ...object.key.split('/')).startsWith(root + path.sep)).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
