import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resourceNameSchema, snapshotIdSchema } from '../../domain/names';
import { MANIFEST_FILE, parseSnapshotKey, snapshotKey } from '../../domain/repository-layout';
import { parseResourceSet, resolveBackupConfiguration, ResourceValidationError } from '../../domain/resource-set';
import { formatSnapshotId } from '../../domain/snapshot-id';
import {
  applyMutation,
  DOCUMENT_ORDER,
  invalidMutation,
  render,
  validDocuments,
  validName,
  type DocumentKind,
} from './resource-arbitraries';

/**
 * Resource files as users (and fuzzers) write them: every broken file is refused with one
 * ResourceValidationError that names the file, the document and the field, never another
 * exception; every name that is accepted keeps object keys inside the repository's prefix.
 */
const FILE = 'resources.yaml';

/** parseResourceSet's outcome: the set, or the validation error. Any other exception fails the property. */
function parse(text: string) {
  try {
    return { ok: true as const, set: parseResourceSet([{ file: FILE, text }]) };
  } catch (error) {
    if (!(error instanceof ResourceValidationError)) throw error;
    return { ok: false as const, message: error.message };
  }
}

/** Every line of a validation error says where it comes from, and none is a stack frame. */
function expectWellFormed(message: string): void {
  expect(message).not.toMatch(/^\s+at /m);
  for (const line of message.split('\n')) expect(line).toMatch(new RegExp(`^${FILE.replace('.', '\\.')} \\(document \\d+\\): `));
}

const format = fc.constantFrom<'yaml' | 'json'>('yaml', 'json');

describe('resource files, property-based', () => {
  it('the valid base set parses, as YAML and as JSON', () => {
    for (const f of ['yaml', 'json'] as const) {
      const documents = validDocuments();
      const set = parseResourceSet([
        {
          file: FILE,
          text: render(
            DOCUMENT_ORDER.map((k) => documents[k]),
            f,
          ),
        },
      ]);
      expect(resolveBackupConfiguration(set, 'shop-nightly').target.spec.port).toBe(3306);
    }
  });

  it('refuses every invalid field (wrong types, huge and negative numbers, bad names, cron, time zones, unknown fields), naming it', () => {
    fc.assert(
      fc.property(invalidMutation, format, (change, f) => {
        const documents = applyMutation(validDocuments(), change);
        const result = parse(
          render(
            DOCUMENT_ORDER.map((k) => documents[k]),
            f,
          ),
        );
        expect(result.ok, change.description).toBe(false);
        if (result.ok) return;
        expectWellFormed(result.message);
        const index = DOCUMENT_ORDER.indexOf(change.kind) + 1;
        const lines = result.message.split('\n').filter((line) => line.startsWith(`${FILE} (document ${index}): `));
        expect(lines.join('\n'), change.description).toContain(change.field);
      }),
      { numRuns: 400 },
    );
  });

  it('refuses a duplicate name within a kind, naming the first definition; equal names across kinds are fine', () => {
    fc.assert(
      fc.property(fc.constantFrom<DocumentKind>(...DOCUMENT_ORDER), validName, format, (kind, name, f) => {
        const documents = validDocuments();
        const twice = render([...DOCUMENT_ORDER.map((k) => documents[k]), documents[kind]], f);
        const duplicate = parse(twice);
        expect(duplicate.ok).toBe(false);
        if (!duplicate.ok) {
          expectWellFormed(duplicate.message);
          expect(duplicate.message).toContain(
            `${FILE} (document 4): ${kind} "${documents[kind].metadata.name}": metadata.name: duplicate, already defined in ${FILE} (document ${DOCUMENT_ORDER.indexOf(kind) + 1})`,
          );
        }
        // One name for all three kinds, references updated: valid.
        documents.Repository.metadata.name = name;
        documents.Target.metadata.name = name;
        documents.BackupConfiguration.metadata.name = name;
        documents.BackupConfiguration.spec.target = name;
        documents.BackupConfiguration.spec.repository = name;
        const shared = parse(
          render(
            DOCUMENT_ORDER.map((k) => documents[k]),
            f,
          ),
        );
        expect(shared.ok).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('never throws anything but a ResourceValidationError on malformed text, and never hangs', () => {
    const documents = validDocuments();
    const valid = render(
      DOCUMENT_ORDER.map((k) => documents[k]),
      'yaml',
    );
    const malformed = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.string({ unit: fc.constantFrom(...'{}[]:,-?&*!|>\'"%@`#\n\t ab1'.split('')), maxLength: 80 }),
      fc.nat({ max: valid.length }).map((cut) => valid.slice(0, cut)),
      fc.tuple(fc.nat({ max: valid.length }), fc.string({ maxLength: 5 })).map(([at, junk]) => valid.slice(0, at) + junk + valid.slice(at)),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.jsonValue().map((value) => JSON.stringify(value).slice(0, -1)),
    );
    fc.assert(
      fc.property(malformed, (text) => {
        const result = parse(text);
        if (!result.ok) expectWellFormed(result.message);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses pathological YAML (alias bomb, unresolved alias, deep nesting) with a ResourceValidationError, quickly', () => {
    const levels = Array.from({ length: 9 }, (_, i) => {
      const [previous, next] = [String.fromCharCode(97 + i), String.fromCharCode(98 + i)];
      return `${next}: &${next} [${Array(10).fill(`*${previous}`).join(',')}]`;
    });
    const pathological = {
      aliasBomb: ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...levels].join('\n'),
      unresolvedAlias: 'kind: *target',
      deepFlow: '['.repeat(20_000),
      deepBlock: Array.from({ length: 3_000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
    };
    for (const [name, text] of Object.entries(pathological)) {
      const started = Date.now();
      const result = parse(text);
      expect(result.ok, name).toBe(false);
      if (!result.ok) expectWellFormed(result.message);
      expect(Date.now() - started, name).toBeLessThan(5_000);
    }
  });
});

describe('names and object keys, property-based', () => {
  it('a name the schema accepts can never leave its folder: no "/", "..", "\\\\", control characters', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 70 }), validName, fc.stringMatching(/^[a-z0-9./\\-]{1,10}$/)), (name) => {
        if (!resourceNameSchema.safeParse(name).success) return;
        expect(name).not.toMatch(/[/\\]|\.\.|\p{Cc}/u);
        expect(name).not.toBe('.');
      }),
      { numRuns: 2000 },
    );
  });

  it('snapshot keys built from accepted names stay inside the repository prefix and parse back', () => {
    const snapshotId = fc
      .tuple(
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.stringMatching(/^[0-9a-f]{6}$/),
      )
      .map(([time, suffix]) => formatSnapshotId(time, suffix));
    const prefix = fc.array(validName, { minLength: 0, maxLength: 3 }).map((segments) => segments.join('/'));
    fc.assert(
      fc.property(
        validName,
        snapshotId,
        fc.constantFrom(MANIFEST_FILE, 'dump.sql.zst', 'dump.sql'),
        prefix,
        (configuration, id, file, root) => {
          expect(snapshotIdSchema.safeParse(id).success).toBe(true);
          const key = snapshotKey(configuration, id, file);
          expect(parseSnapshotKey(key)).toEqual({ configuration, snapshotId: id, fileName: file });
          const full = root ? `${root}/${key}` : key;
          expect(path.posix.normalize(full)).toBe(full);
          expect(full.startsWith(root ? `${root}/${configuration}/` : `${configuration}/`)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an S3 prefix the schema accepts is a plain relative key prefix', () => {
    const candidate = fc.oneof(
      fc.string({ unit: 'binary-ascii', maxLength: 20 }),
      fc.array(fc.constantFrom('a', 'b1', '.', '..', '', ' ', '\\', '~', '%2e%2e'), { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
    );
    fc.assert(
      fc.property(candidate, (prefix) => {
        const documents = validDocuments();
        documents.Repository.spec.s3.prefix = prefix;
        const result = parse(
          render(
            DOCUMENT_ORDER.map((k) => documents[k]),
            'json',
          ),
        );
        if (!result.ok) {
          expectWellFormed(result.message);
          expect(result.message).toContain('spec.s3.prefix');
          return;
        }
        expect(path.posix.normalize(prefix)).toBe(prefix);
        expect(prefix.split('/')).not.toContain('..');
        expect(path.posix.isAbsolute(prefix)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
