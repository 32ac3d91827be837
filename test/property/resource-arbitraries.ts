import fc from 'fast-check';
import { stringify } from 'yaml';
import { API_VERSION, ENGINES } from '../../domain/resources';

/**
 * Generators of bad resource files for the property tests: a valid set of three resources,
 * and mutations that each break one field in a way the schemas must reject, naming the field.
 */
export type DocumentKind = 'Repository' | 'Target' | 'BackupConfiguration';

export function validDocuments(): Record<DocumentKind, Record<string, any>> {
  return {
    Repository: {
      apiVersion: API_VERSION,
      kind: 'Repository',
      metadata: { name: 'offsite' },
      spec: {
        s3: {
          endpoint: 'http://127.0.0.1:9000',
          bucket: 'db-backups',
          prefix: 'team-a/prod',
          forcePathStyle: true,
          credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { file: '/run/secrets/s3-secret' } },
        },
      },
    },
    Target: {
      apiVersion: API_VERSION,
      kind: 'Target',
      metadata: { name: 'shop-db' },
      spec: { engine: 'mariadb', host: '10.0.0.12', port: 3306, user: 'backup', password: { file: '/run/secrets/shop-db' } },
    },
    BackupConfiguration: {
      apiVersion: API_VERSION,
      kind: 'BackupConfiguration',
      metadata: { name: 'shop-nightly' },
      spec: {
        target: 'shop-db',
        repository: 'offsite',
        compression: 'zstd',
        databases: ['shop', 'billing'],
        timeout: '2h',
        schedule: { cron: '0 2 * * *', timezone: 'Europe/Berlin', catchupWindow: '10m' },
        retention: { keepLast: 3, keepDaily: 7 },
      },
    },
  };
}

export const DOCUMENT_ORDER: readonly DocumentKind[] = ['Repository', 'Target', 'BackupConfiguration'];

/** Multi-document YAML, or the same documents as JSON (which is YAML too), one per `---`. */
export function render(documents: readonly object[], format: 'yaml' | 'json'): string {
  return documents.map((d) => (format === 'yaml' ? stringify(d) : `${JSON.stringify(d)}\n`)).join('---\n');
}

/** Any value but one of the given JSON types: what a wrong type in a file looks like. */
export function wrongType(...allowed: Array<'string' | 'number' | 'boolean' | 'object' | 'array'>): fc.Arbitrary<unknown> {
  const all: Array<[string, fc.Arbitrary<unknown>]> = [
    ['string', fc.string({ maxLength: 12 })],
    ['number', fc.oneof(fc.integer(), fc.double())],
    ['boolean', fc.boolean()],
    ['null', fc.constant(null)],
    ['array', fc.array(fc.integer(), { maxLength: 3 })],
    ['object', fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.integer(), { maxKeys: 2 })],
  ];
  return fc.oneof(...all.filter(([type]) => !(allowed as string[]).includes(type)).map(([, arbitrary]) => arbitrary));
}

const CONTROL_CHARACTER = fc.integer({ min: 0, max: 31 }).map((code) => String.fromCharCode(code));

/** Text with at least one control character somewhere in it. */
export const withControlCharacter = fc
  .tuple(fc.string({ maxLength: 6 }), CONTROL_CHARACTER, fc.string({ maxLength: 6 }))
  .map(([before, control, after]) => `${before}${control}${after}`);

/** Names a DNS-label rule must refuse: path tricks, quotes, control characters, case, length, emptiness. */
export const invalidName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '..',
    '../etc',
    'a/b',
    '/abs',
    'a\\b',
    "o'brien",
    'say "hi"',
    'a b',
    'Shop',
    '-shop',
    'shop-',
    'shop.db',
    'a'.repeat(64),
  ),
  withControlCharacter,
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(s)),
  fc
    .tuple(
      fc.stringMatching(/^[a-z0-9]{1,8}$/),
      fc.constantFrom('/', '../', '..', '"', "'", '`', '\\', ' ', '\n', '\t', '\u0000', '\u001b[31m'),
    )
    .map(([name, bad]) => `${name}${bad}`),
);

/** Database names the tools would read as a path or another name. */
export const invalidDatabaseName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', 'a/b', '../etc', 'db.name', 'back\\slash', 'x'.repeat(65)),
  withControlCharacter,
);

export const validName: fc.Arbitrary<string> = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);

/** Cron expressions that are wrong however one reads them: field counts, ranges, macros, words. */
const invalidCron: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '',
    '* * * *',
    '* * * * * *',
    '@sometimes',
    'every day',
    '0 2 * * * *',
    '60 * * * *',
    '* 24 * * *',
    '* * 0 * *',
    '* * 32 * *',
    '* * * 13 *',
    '* * * * 8',
    '*/0 * * * *',
    '5-1 * * * *',
  ),
  fc.integer({ min: 60, max: 1_000_000 }).map((minute) => `${minute} * * * *`),
  fc.integer({ min: 24, max: 1_000_000 }).map((hour) => `0 ${hour} * * *`),
  fc.integer({ min: -1_000, max: -1 }).map((minute) => `${minute} * * * *`),
  fc.array(fc.stringMatching(/^[*0-9]{1,3}$/), { minLength: 6, maxLength: 9 }).map((fields) => fields.join(' ')),
  wrongType('string'),
);

const invalidTimeZone: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('', 'Mars/Olympus_Mons', 'UTC+25', 'Europe/Atlantis', 'GMT+99', '../../etc/localtime'),
  fc.stringMatching(/^[A-Za-z]{1,10}$/).map((zone) => `Nowhere/${zone}`),
  wrongType('string'),
);

const invalidDuration: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('', '0s', '-5m', '5', 'five minutes', '1y', '1.5.5h', 'h', '10 m'),
  fc.integer({ min: -1_000_000, max: 0 }).map((n) => `${n}m`),
  wrongType('string'),
);

/** Numbers outside a range, fractions, huge and negative values, and other types. */
export function invalidInteger(min: number, max: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: min - 1 }),
    fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER }),
    fc.constantFrom(1e308, -1e308, 2 ** 53 + 2, min + 0.5),
    fc.double({ min, max, noNaN: true }).filter((x) => !Number.isInteger(x)),
    wrongType('number'),
  );
}

/** One way to break a resource: what to change, and the field the error must then name. */
export interface Mutation {
  kind: DocumentKind;
  /** Where to set the value, from the document's root. */
  path: readonly string[];
  value: unknown;
  /** What the message must contain to name the field. */
  field: string;
  description: string;
}

function mutation(
  kind: DocumentKind,
  path: readonly string[],
  values: fc.Arbitrary<unknown>,
  field = path.join('.'),
): fc.Arbitrary<Mutation> {
  return values.map((value) => ({ kind, path, value, field, description: `${kind} ${path.join('.')} = ${JSON.stringify(value)}` }));
}

/** Adds a field the schemas do not know, at some level of a document. */
const unknownField: fc.Arbitrary<Mutation> = fc
  .tuple(
    fc.constantFrom<[DocumentKind, string[]]>(
      ['Repository', []],
      ['Repository', ['spec', 's3']],
      ['Target', ['metadata']],
      ['Target', ['spec']],
      ['BackupConfiguration', ['spec']],
      ['BackupConfiguration', ['spec', 'schedule']],
      ['BackupConfiguration', ['spec', 'retention']],
    ),
    fc.stringMatching(/^[a-z][a-zA-Z]{0,10}$/).map((key) => `x${key}`),
    fc.jsonValue({ maxDepth: 1 }),
  )
  .map(([[kind, at], key, value]) => ({
    kind,
    path: [...at, key],
    value,
    field: key,
    description: `${kind} unknown field ${[...at, key].join('.')}`,
  }));

export const invalidMutation: fc.Arbitrary<Mutation> = fc.oneof(
  mutation('Target', ['spec', 'port'], invalidInteger(1, 65535)),
  mutation(
    'Target',
    ['spec', 'host'],
    fc.oneof(
      fc.constant(''),
      fc.constant('a'.repeat(254)),
      fc.string({ minLength: 1, maxLength: 12 }).filter((h) => /[^A-Za-z0-9.:_-]/.test(h)),
      wrongType('string'),
    ),
  ),
  mutation('Target', ['spec', 'user'], fc.oneof(fc.constant(''), fc.constant('u'.repeat(81)), withControlCharacter, wrongType('string'))),
  mutation(
    'Target',
    ['spec', 'engine'],
    fc.oneof(
      fc.string({ maxLength: 10 }).filter((e) => !(ENGINES as readonly string[]).includes(e)),
      wrongType('string'),
    ),
  ),
  mutation(
    'Target',
    ['spec', 'password'],
    fc.oneof(
      fc.constantFrom<unknown>(
        'hunter2',
        { env: '1NOT_A_NAME' },
        { env: 'A-B' },
        { file: 'relative/secret' },
        { file: '' },
        {},
        { env: 'A', file: '/x' },
      ),
      wrongType('object'),
    ),
  ),
  mutation(
    'Repository',
    ['spec', 's3', 'bucket'],
    fc.oneof(fc.constantFrom('', 'ab', 'UPPER', '../x', 'a/b', 'a'.repeat(64)), wrongType('string')),
  ),
  mutation(
    'Repository',
    ['spec', 's3', 'prefix'],
    fc.oneof(
      fc.constantFrom('', '/abs', 'trailing/', 'a//b', '..', '../up', 'a/../../b', 'a/./b', 'back\\slash', 'x'.repeat(513)),
      withControlCharacter,
      wrongType('string'),
    ),
  ),
  mutation(
    'Repository',
    ['spec', 's3', 'endpoint'],
    fc.oneof(fc.constantFrom('ftp://x', 'not a url', 'javascript:alert(1)', '127.0.0.1:9000', ''), wrongType('string')),
  ),
  mutation('Repository', ['spec', 's3', 'forcePathStyle'], wrongType('boolean')),
  mutation(
    'BackupConfiguration',
    ['spec', 'databases'],
    fc.oneof(
      fc.constant([]),
      fc.constant(['shop', 'shop']),
      invalidDatabaseName.map((name) => ['shop', name]),
      wrongType('array'),
    ),
  ),
  mutation('BackupConfiguration', ['spec', 'schedule', 'cron'], invalidCron),
  mutation('BackupConfiguration', ['spec', 'schedule', 'timezone'], invalidTimeZone),
  mutation('BackupConfiguration', ['spec', 'schedule', 'catchupWindow'], invalidDuration),
  mutation('BackupConfiguration', ['spec', 'timeout'], invalidDuration),
  mutation('BackupConfiguration', ['spec', 'retention', 'keepLast'], invalidInteger(0, 100_000)),
  mutation(
    'BackupConfiguration',
    ['spec', 'compression'],
    fc.oneof(
      fc.constantFrom<unknown>(
        'lz4',
        'ZSTD',
        { algorithm: 'zstd', level: 0 },
        { algorithm: 'zstd', level: 20 },
        { algorithm: 'gzip', level: 12 },
        { algorithm: 'brotli' },
      ),
      wrongType('string', 'object'),
    ),
  ),
  mutation('BackupConfiguration', ['spec', 'target'], invalidName),
  mutation('BackupConfiguration', ['spec', 'method'], fc.oneof(fc.constantFrom('incremental', 'Logical', ''), wrongType('string'))),
  fc
    .constantFrom<DocumentKind>('Repository', 'Target', 'BackupConfiguration')
    .chain((kind) => mutation(kind, ['metadata', 'name'], fc.oneof(invalidName, wrongType('string')))),
  unknownField,
);

/** A deep copy of the documents with the mutation applied. */
export function applyMutation(
  documents: Record<DocumentKind, Record<string, any>>,
  change: Mutation,
): Record<DocumentKind, Record<string, any>> {
  const copy = structuredClone(documents);
  let node: Record<string, any> = copy[change.kind];
  for (const key of change.path.slice(0, -1)) node = node[key] as Record<string, any>;
  node[change.path.at(-1)!] = change.value;
  return copy;
}
