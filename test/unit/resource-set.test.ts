import { describe, expect, it } from 'vitest';
import {
  parseResourceSet,
  resolveBackupConfiguration,
  resolveTarget,
  ResourceValidationError,
  type ResourceSet,
  type ResourceSource,
} from '../../domain/resource-set';
import { API_VERSION } from '../../domain/resources';

const repositories = `
apiVersion: dbkeep.io/v1alpha1
kind: Repository
metadata:
  name: offsite
spec:
  s3:
    endpoint: http://127.0.0.1:9000
    bucket: dbkeep-backups
    prefix: team-a/prod
    forcePathStyle: true
    credentials:
      accessKeyId: { env: S3_ACCESS_KEY }
      secretAccessKey: { file: /run/secrets/s3-secret }
---
apiVersion: dbkeep.io/v1alpha1
kind: Repository
metadata:
  name: local
  labels: { tier: cold }
spec:
  filesystem:
    path: /var/backups/dbkeep
`;

const targets = `
apiVersion: dbkeep.io/v1alpha1
kind: Target
metadata:
  name: prod-db
spec:
  engine: mariadb
  host: db.internal
  password: { env: PROD_DB_PASSWORD }
---
apiVersion: dbkeep.io/v1alpha1
kind: Target
metadata:
  name: socket-db
spec:
  engine: mysql
  socket: /run/mysqld/mysqld.sock
  port: 3307
  user: backup
`;

const configurations = `
apiVersion: dbkeep.io/v1alpha1
kind: BackupConfiguration
metadata:
  name: nightly
spec:
  target: prod-db
  repository: offsite
  compression: gzip
  databases: [shop, billing]
  schedule:
    cron: "0 2 * * *"
---
apiVersion: dbkeep.io/v1alpha1
kind: BackupConfiguration
metadata:
  name: hourly
spec:
  target: socket-db
  repository: local
  compression:
    algorithm: zstd
    level: 19
---
apiVersion: dbkeep.io/v1alpha1
kind: BackupConfiguration
metadata:
  name: defaults
spec:
  target: prod-db
  repository: local
`;

const validSources: ResourceSource[] = [
  { file: 'repositories.yaml', text: repositories },
  { file: 'targets.yaml', text: targets },
  { file: 'configurations.yaml', text: configurations },
];

/** The error message parseResourceSet throws for these sources. */
function errorOf(sources: ResourceSource[]): string {
  try {
    parseResourceSet(sources);
  } catch (err) {
    expect(err).toBeInstanceOf(ResourceValidationError);
    expect((err as Error).name).toBe('ResourceValidationError');
    return (err as Error).message;
  }
  throw new Error('parseResourceSet accepted invalid resources');
}

/** One resource document of `kind` named `name` with `spec` (YAML, indented by two). */
function resource(kind: string, name: string, spec: string, apiVersion = API_VERSION): string {
  return `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
}

const minimalTarget = resource('Target', 'db', 'engine: mariadb\nhost: db.internal');
const minimalRepository = resource('Repository', 'repo', 'filesystem:\n  path: /backups');

/** Errors of a single document in file `f.yaml`, with a valid target and repository beside it. */
function errorsOfDocument(doc: string): string {
  return errorOf([
    { file: 'f.yaml', text: doc },
    { file: 'base.yaml', text: `${minimalTarget}---\n${minimalRepository}` },
  ]);
}

describe('parseResourceSet: a valid set', () => {
  const set = parseResourceSet(validSources);

  it('collects every resource by kind and name', () => {
    expect([...set.repositories.keys()]).toEqual(['offsite', 'local']);
    expect([...set.targets.keys()]).toEqual(['prod-db', 'socket-db']);
    expect([...set.backupConfigurations.keys()]).toEqual(['nightly', 'hourly', 'defaults']);
  });

  it('keeps an S3 repository with its secret references and defaults the region', () => {
    expect(set.repositories.get('offsite')).toEqual({
      name: 'offsite',
      spec: {
        s3: {
          endpoint: 'http://127.0.0.1:9000',
          bucket: 'dbkeep-backups',
          prefix: 'team-a/prod',
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { file: '/run/secrets/s3-secret' } },
        },
      },
    });
  });

  it('keeps a filesystem repository', () => {
    expect(set.repositories.get('local')).toEqual({ name: 'local', spec: { filesystem: { path: '/var/backups/dbkeep' } } });
  });

  it('defaults a TCP target to port 3306 and user root', () => {
    expect(set.targets.get('prod-db')).toEqual({
      name: 'prod-db',
      spec: { engine: 'mariadb', host: 'db.internal', port: 3306, user: 'root', password: { env: 'PROD_DB_PASSWORD' } },
    });
  });

  it('keeps a socket target and its explicit user', () => {
    expect(set.targets.get('socket-db')).toEqual({
      name: 'socket-db',
      spec: { engine: 'mysql', socket: '/run/mysqld/mysqld.sock', port: 3307, user: 'backup' },
    });
  });

  it('reads compression in its string form', () => {
    const nightly = set.backupConfigurations.get('nightly')!.spec;
    expect(nightly.compression).toEqual({ algorithm: 'gzip' });
    expect(nightly.method).toBe('logical');
    expect(nightly.databases).toEqual(['shop', 'billing']);
    expect(nightly.schedule).toEqual({ cron: '0 2 * * *', timezone: 'UTC', suspend: false, overlapPolicy: 'Skip', catchupWindow: '10m' });
  });

  it('reads compression in its object form', () => {
    expect(set.backupConfigurations.get('hourly')!.spec.compression).toEqual({ algorithm: 'zstd', level: 19 });
  });

  it('defaults compression to zstd and leaves databases and schedule unset', () => {
    const spec = set.backupConfigurations.get('defaults')!.spec;
    expect(spec).toEqual({
      target: 'prod-db',
      repository: 'local',
      method: 'logical',
      timeout: '6h',
      args: [],
      compression: { algorithm: 'zstd' },
    });
  });

  it('accepts an object-form compression without an algorithm as zstd', () => {
    const parsed = parseResourceSet([
      {
        file: 'a.yaml',
        text: `${minimalTarget}---\n${minimalRepository}---\n${resource('BackupConfiguration', 'c', 'target: db\nrepository: repo\ncompression: { level: 5 }')}`,
      },
    ]);
    expect(parsed.backupConfigurations.get('c')!.spec.compression).toEqual({ algorithm: 'zstd', level: 5 });
  });

  it('accepts JSON, empty documents and resources spread over files in any order', () => {
    const json = JSON.stringify({
      apiVersion: API_VERSION,
      kind: 'Target',
      metadata: { name: 'db' },
      spec: { engine: 'percona-xtradb', host: '10.0.0.5', port: 13306 },
    });
    const parsed = parseResourceSet([
      { file: 'config.yaml', text: `---\n---\n${resource('BackupConfiguration', 'c', 'target: db\nrepository: repo')}---\n` },
      { file: 'target.json', text: json },
      { file: 'repo.yaml', text: minimalRepository },
      { file: 'empty.yaml', text: '' },
    ]);
    expect(parsed.targets.get('db')!.spec).toEqual({ engine: 'percona-xtradb', host: '10.0.0.5', port: 13306, user: 'root' });
    expect(resolveBackupConfiguration(parsed, 'c').repository.name).toBe('repo');
  });

  it('allows the same name for resources of different kinds', () => {
    const parsed = parseResourceSet([
      {
        file: 'same.yaml',
        text: [
          resource('Target', 'prod', 'engine: mariadb\nhost: db'),
          resource('Repository', 'prod', 'filesystem:\n  path: /b'),
          resource('BackupConfiguration', 'prod', 'target: prod\nrepository: prod'),
        ].join('---\n'),
      },
    ]);
    expect(resolveBackupConfiguration(parsed, 'prod').target.name).toBe('prod');
  });
});

describe('parseResourceSet: errors', () => {
  it('rejects an unknown kind, naming the file, the document and the kinds it knows', () => {
    const message = errorOf([
      { file: 'base.yaml', text: `${minimalTarget}---\n${minimalRepository}` },
      { file: 'extra.yaml', text: `${minimalTarget.replace('name: db', 'name: db2')}---\n${resource('Backup', 'b', 'x: 1')}` },
    ]);
    expect(message).toBe('extra.yaml (document 2): kind: must be one of Repository, Target, BackupConfiguration, got "Backup"');
  });

  it('rejects a document without a kind', () => {
    expect(errorsOfDocument('apiVersion: dbkeep.io/v1alpha1\nmetadata:\n  name: x\n')).toBe(
      'f.yaml (document 1): kind: must be one of Repository, Target, BackupConfiguration, got null',
    );
  });

  it('rejects a wrong apiVersion', () => {
    const message = errorsOfDocument(resource('Target', 'other', 'engine: mariadb\nhost: h', 'dbkeep.io/v1'));
    expect(message).toBe('f.yaml (document 1): Target "other": apiVersion: must be dbkeep.io/v1alpha1');
  });

  it('rejects an unknown field in a spec, naming its path', () => {
    const message = errorsOfDocument(resource('Target', 'other', 'engine: mariadb\nhost: h\nhostname: h2'));
    expect(message).toMatch(/^f\.yaml \(document 1\): Target "other": spec: .*"hostname"/);
  });

  it('rejects an unknown field in metadata and at the top level', () => {
    const doc = `${resource('Repository', 'r2', 'filesystem:\n  path: /b')}status: ready\n`.replace(
      'name: r2',
      'name: r2\n  namespace: prod',
    );
    const message = errorsOfDocument(doc);
    expect(message).toMatch(/^f\.yaml \(document 1\): Repository "r2": /);
    expect(message).toMatch(/"namespace"/);
    expect(message).toMatch(/"status"/);
  });

  it('rejects an unknown field nested in s3', () => {
    const message = errorsOfDocument(resource('Repository', 'r2', 's3:\n  bucket: my-bucket\n  secure: true'));
    expect(message).toMatch(/^f\.yaml \(document 1\): Repository "r2": spec\.s3: .*"secure"/);
  });

  it('rejects a target with both host and socket', () => {
    expect(errorsOfDocument(resource('Target', 't', 'engine: mariadb\nhost: h\nsocket: /run/mysqld.sock'))).toBe(
      'f.yaml (document 1): Target "t": spec: exactly one of host, socket, service or appBinding must be set',
    );
  });

  it('takes one way of choosing a bootstrap snapshot: an id, a recovery time or a point in time', () => {
    const bootstrapping = (from: string) => resource('Target', 't', `engine: mariadb\nhost: h\nbootstrapFrom: ${from}`);
    const parsed = parseResourceSet([{ file: 'f.yaml', text: bootstrapping('{ configuration: c, pointInTime: { latest: true } }') }]);
    expect(parsed.targets.get('t')?.spec.bootstrapFrom).toEqual({ configuration: 'c', pointInTime: { latest: true } });
    expect(
      errorsOfDocument(
        bootstrapping("{ configuration: c, snapshotId: 20261204T010000123Z-abcdef, pointInTime: { at: '2026-12-04T03:00:00Z' } }"),
      ),
    ).toBe('f.yaml (document 1): Target "t": spec.bootstrapFrom: set at most one of snapshotId, targetRecoveryTime and pointInTime');
  });

  it('takes a drill schedule in spec.verification, on a logical or a physical configuration', () => {
    const drilled = (spec: string) => resource('BackupConfiguration', 'c', `target: db\nrepository: repo\n${spec}`);
    const parsed = parseResourceSet([
      { file: 'f.yaml', text: drilled("verification: { schedule: { cron: '0 4 * * 0' } }") },
      { file: 'base.yaml', text: `${minimalTarget}---\n${minimalRepository}` },
    ]);
    expect(parsed.backupConfigurations.get('c')?.spec.verification).toEqual({
      scratch: 'local',
      schedule: { cron: '0 4 * * 0', timezone: 'UTC' },
    });
    expect(errorsOfDocument(drilled("verification: { schedule: { cron: '0 4 * *' } }"))).toMatch(
      /^f\.yaml \(document 1\): BackupConfiguration "c": spec\.verification\.schedule\.cron: /,
    );
    // A physical snapshot's drill proves its integrity instead of comparing with a fingerprint.
    const physical = parseResourceSet([
      { file: 'f.yaml', text: drilled('method: physical\nverification: { everyN: 2 }') },
      {
        file: 'base.yaml',
        text: `${resource('Target', 'db', 'engine: mariadb\nhost: db.internal\ndatadir: /var/lib/mysql')}---\n${minimalRepository}`,
      },
    ]);
    expect(physical.backupConfigurations.get('c')?.spec).toMatchObject({
      method: 'physical',
      verification: { scratch: 'local', everyN: 2 },
    });
  });

  it('rejects a target with neither host nor socket', () => {
    expect(errorsOfDocument(resource('Target', 't', 'engine: mariadb'))).toBe(
      'f.yaml (document 1): Target "t": spec: exactly one of host, socket, service or appBinding must be set',
    );
  });

  it('rejects a target with a host and a Service or an AppBinding', () => {
    const expected = 'f.yaml (document 1): Target "t": spec: exactly one of host, socket, service or appBinding must be set';
    expect(errorsOfDocument(resource('Target', 't', 'engine: mariadb\nhost: h\nservice: { name: db }'))).toBe(expected);
    expect(errorsOfDocument(resource('Target', 't', 'engine: mariadb\nservice: { name: db }\nappBinding: { name: db }'))).toBe(expected);
  });

  it('reads a Service target, and an AppBinding target whose user is left to the AppBinding', () => {
    const parsed = parseResourceSet([
      {
        file: 'k.yaml',
        text: [
          resource('Target', 'by-service', 'engine: mariadb\nservice: { name: galera, namespace: db, port: mysql }\ngalera: {}'),
          resource('Target', 'by-binding', 'engine: mariadb\nappBinding: { name: shop }'),
        ].join('---\n'),
      },
    ]);
    expect(parsed.targets.get('by-service')!.spec).toEqual({
      engine: 'mariadb',
      service: { name: 'galera', namespace: 'db', port: 'mysql' },
      port: 3306,
      user: 'root',
      galera: { members: [], ignoreGlobalPriv: true },
    });
    expect(parsed.targets.get('by-binding')!.spec).toEqual({ engine: 'mariadb', appBinding: { name: 'shop' }, port: 3306 });
  });

  it('names the field of a malformed Service reference', () => {
    expect(errorsOfDocument(resource('Target', 't', 'engine: mariadb\nservice: { name: 1db, port: 0 }'))).toBe(
      'f.yaml (document 1): Target "t": spec.service.name: must be a DNS-1035 label: lowercase letters, digits and "-", starting with a letter and ending with a letter or digit; ' +
        'spec.service.port: Too small: expected number to be >=1',
    );
  });

  it('rejects a repository with neither s3 nor filesystem, or both', () => {
    const expected = 'f.yaml (document 1): Repository "r2": spec: exactly one of s3 or filesystem must be set';
    expect(errorsOfDocument(resource('Repository', 'r2', '{}'))).toBe(expected);
    expect(errorsOfDocument(resource('Repository', 'r2', 's3:\n  bucket: abc\nfilesystem:\n  path: /b'))).toBe(expected);
  });

  it('rejects a password given as a plain string, without repeating it', () => {
    const message = errorsOfDocument(resource('Target', 't', 'engine: mariadb\nhost: h\npassword: hunter2-s3cr3t'));
    expect(message).toBe(
      'f.yaml (document 1): Target "t": spec.password: must be a secret reference: { env: NAME } or { file: /absolute/path }',
    );
    expect(message).not.toContain('hunter2');
  });

  it('rejects S3 credentials given as plain strings', () => {
    const message = errorsOfDocument(
      resource('Repository', 'r2', 's3:\n  bucket: abc\n  credentials:\n    accessKeyId: AKIAEXAMPLE\n    secretAccessKey: { env: S }'),
    );
    expect(message).toContain('spec.s3.credentials.accessKeyId: must be a secret reference');
    expect(message).not.toContain('AKIAEXAMPLE');
  });

  it('rejects a secret reference to a relative file or a bad variable name', () => {
    const file = errorsOfDocument(resource('Target', 't', 'engine: mariadb\nhost: h\npassword: { file: secrets/pw }'));
    expect(file).toContain('Target "t": spec.password');
    const env = errorsOfDocument(resource('Target', 't', 'engine: mariadb\nhost: h\npassword: { env: "1-BAD" }'));
    expect(env).toContain('Target "t": spec.password');
  });

  it('rejects relative paths, naming each field', () => {
    expect(errorsOfDocument(resource('Repository', 'r2', 'filesystem:\n  path: backups/db'))).toBe(
      'f.yaml (document 1): Repository "r2": spec.filesystem.path: must be an absolute path',
    );
    expect(errorsOfDocument(resource('Target', 't', 'engine: mariadb\nsocket: run/mysqld.sock'))).toContain(
      'Target "t": spec.socket: must be an absolute path',
    );
    expect(errorsOfDocument(resource('Repository', 'r2', 's3:\n  bucket: abc\n  tls:\n    caFile: ca.pem'))).toBe(
      'f.yaml (document 1): Repository "r2": spec.s3.tls.caFile: must be an absolute path',
    );
  });

  it.each(['a/../b', '..', '../escape', 'a/./b', 'a//b', '/abs', 'trailing/'])('rejects the prefix %j', (prefix) => {
    const message = errorsOfDocument(resource('Repository', 'r2', `s3:\n  bucket: abc\n  prefix: "${prefix}"`));
    expect(message).toMatch(/^f\.yaml \(document 1\): Repository "r2": spec\.s3\.prefix: must /);
  });

  it('rejects a prefix with a backslash or a control character', () => {
    expect(errorsOfDocument(resource('Repository', 'r2', 's3:\n  bucket: abc\n  prefix: "a\\\\b"'))).toContain(
      'spec.s3.prefix: must not contain control characters or backslashes',
    );
    expect(errorsOfDocument(resource('Repository', 'r2', 's3:\n  bucket: abc\n  prefix: "a\\tb"'))).toContain(
      'spec.s3.prefix: must not contain control characters or backslashes',
    );
  });

  it('rejects a bad bucket name and an endpoint that is not http(s)', () => {
    const message = errorsOfDocument(resource('Repository', 'r2', 's3:\n  bucket: My_Bucket\n  endpoint: ftp://example.com'));
    expect(message).toContain('spec.s3.bucket: must be a valid S3 bucket name');
    expect(message).toContain('spec.s3.endpoint: must be an http:// or https:// URL');
  });

  it('rejects level 12 for gzip, naming the level', () => {
    expect(
      errorsOfDocument(resource('BackupConfiguration', 'c', 'target: db\nrepository: repo\ncompression: { algorithm: gzip, level: 12 }')),
    ).toBe('f.yaml (document 1): BackupConfiguration "c": spec.compression.level: level above 9 is only valid for zstd');
  });

  it('accepts level 12 for zstd', () => {
    const parsed = parseResourceSet([
      {
        file: 'f.yaml',
        text: `${minimalTarget}---\n${minimalRepository}---\n${resource('BackupConfiguration', 'c', 'target: db\nrepository: repo\ncompression: { algorithm: zstd, level: 12 }')}`,
      },
    ]);
    expect(parsed.backupConfigurations.get('c')!.spec.compression).toEqual({ algorithm: 'zstd', level: 12 });
  });

  it('rejects an unknown compression algorithm', () => {
    expect(errorsOfDocument(resource('BackupConfiguration', 'c', 'target: db\nrepository: repo\ncompression: lz4'))).toContain(
      'BackupConfiguration "c": spec.compression: must be one of zstd, gzip, bzip2, none or { algorithm, level }',
    );
  });

  it('rejects a port out of range, naming spec.port', () => {
    expect(errorsOfDocument(resource('Target', 't', 'engine: mariadb\nhost: h\nport: 70000'))).toMatch(
      /^f\.yaml \(document 1\): Target "t": spec\.port: /,
    );
    expect(errorsOfDocument(resource('Target', 't', 'engine: mariadb\nhost: h\nport: "3306"'))).toMatch(
      /^f\.yaml \(document 1\): Target "t": spec\.port: /,
    );
  });

  it('rejects an invalid resource name, naming metadata.name', () => {
    expect(errorsOfDocument(resource('Target', '"../x"', 'engine: mariadb\nhost: h'))).toBe(
      'f.yaml (document 1): Target "../x": metadata.name: must be lowercase letters, digits and "-", starting and ending with a letter or digit',
    );
    expect(errorsOfDocument(`apiVersion: ${API_VERSION}\nkind: Target\nspec:\n  engine: mariadb\n  host: h\n`)).toMatch(
      /^f\.yaml \(document 1\): Target \(unnamed\): metadata: /,
    );
  });

  it('rejects a database listed twice or with a dot', () => {
    const message = errorsOfDocument(resource('BackupConfiguration', 'c', 'target: db\nrepository: repo\ndatabases: [shop, shop]'));
    expect(message).toContain('spec.databases: must not list a database twice');
    expect(errorsOfDocument(resource('BackupConfiguration', 'c', 'target: db\nrepository: repo\ndatabases: [a.b]'))).toContain(
      'spec.databases.0: must not contain control characters',
    );
  });

  it('rejects duplicate names of one kind, pointing at the first definition', () => {
    const message = errorOf([
      { file: 'a.yaml', text: `${minimalTarget}---\n${minimalRepository}` },
      { file: 'b.yaml', text: `${minimalRepository}---\n${minimalTarget}` },
    ]);
    expect(message.split('\n')).toEqual([
      'b.yaml (document 1): Repository "repo": metadata.name: duplicate, already defined in a.yaml (document 2)',
      'b.yaml (document 2): Target "db": metadata.name: duplicate, already defined in a.yaml (document 1)',
    ]);
  });

  it('rejects a configuration referencing a missing target or repository', () => {
    const message = errorOf([{ file: 'c.yaml', text: resource('BackupConfiguration', 'nightly', 'target: ghost\nrepository: void') }]);
    expect(message.split('\n')).toEqual([
      'c.yaml (document 1): BackupConfiguration "nightly": spec.target: no Target named "ghost" in the given files',
      'c.yaml (document 1): BackupConfiguration "nightly": spec.repository: no Repository named "void" in the given files',
    ]);
  });

  it('reports invalid YAML with the file and document', () => {
    expect(errorsOfDocument('apiVersion: [unclosed\nkind: Target\n')).toMatch(/^f\.yaml \(document 1\): invalid YAML: \S/);
  });

  it('reports duplicate YAML keys instead of silently keeping the last', () => {
    const doc = resource('Target', 't', 'engine: mariadb\nhost: a\nhost: b');
    expect(errorsOfDocument(doc)).toMatch(/^f\.yaml \(document 1\): invalid YAML: .*unique/i);
  });

  it.each([
    ['a list', '- a\n- b\n'],
    ['a string', 'just text\n'],
    ['a number', '42\n'],
  ])('rejects a document that is %s', (_what, doc) => {
    expect(errorsOfDocument(doc)).toBe('f.yaml (document 1): must be a mapping with apiVersion, kind, metadata and spec');
  });

  it('reports every error in every file at once', () => {
    const message = errorOf([
      {
        file: 'one.yaml',
        text: [
          resource('Target', 't', 'engine: mariadb\nhost: h\nsocket: /s'),
          resource('Repository', 'r', 'filesystem:\n  path: relative'),
          '- not a mapping\n',
        ].join('---\n'),
      },
      {
        file: 'two.yaml',
        text: [
          'key: [broken\n',
          resource('Widget', 'w', '{}'),
          resource('BackupConfiguration', 'c', 'target: t\nrepository: r\ncompression: { algorithm: bzip2, level: 12 }'),
          resource('BackupConfiguration', 'd', 'target: t\nrepository: r'),
        ].join('---\n'),
      },
    ]);
    const lines = message.split('\n');
    expect(lines).toHaveLength(8);
    expect(lines[0]).toBe('one.yaml (document 1): Target "t": spec: exactly one of host, socket, service or appBinding must be set');
    expect(lines[1]).toBe('one.yaml (document 2): Repository "r": spec.filesystem.path: must be an absolute path');
    expect(lines[2]).toBe('one.yaml (document 3): must be a mapping with apiVersion, kind, metadata and spec');
    expect(lines[3]).toMatch(/^two\.yaml \(document 1\): invalid YAML: /);
    expect(lines[4]).toMatch(/^two\.yaml \(document 2\): kind: must be one of .*, got "Widget"$/);
    expect(lines[5]).toBe('two.yaml (document 3): BackupConfiguration "c": spec.compression.level: level above 9 is only valid for zstd');
    // The invalid target and repository are missing from the set, so the valid configuration's references fail too.
    expect(lines[6]).toBe('two.yaml (document 4): BackupConfiguration "d": spec.target: no Target named "t" in the given files');
    expect(lines[7]).toBe('two.yaml (document 4): BackupConfiguration "d": spec.repository: no Repository named "r" in the given files');
  });

  it('reports several fields of one resource in one line', () => {
    const message = errorsOfDocument(resource('Target', 't', 'engine: oracle\nhost: h\nport: 0\nuser: ""'));
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain('spec.engine: ');
    expect(message).toContain('spec.port: ');
    expect(message).toContain('spec.user: ');
  });
});

describe('resolveBackupConfiguration and resolveTarget', () => {
  const set: ResourceSet = parseResourceSet(validSources);

  it('resolves a configuration with its target and repository', () => {
    const resolved = resolveBackupConfiguration(set, 'hourly');
    expect(resolved.configuration.name).toBe('hourly');
    expect(resolved.target).toBe(set.targets.get('socket-db'));
    expect(resolved.repository).toBe(set.repositories.get('local'));
  });

  it('names the missing configuration and the defined ones', () => {
    expect(() => resolveBackupConfiguration(set, 'weekly')).toThrow(
      new ResourceValidationError('no BackupConfiguration named "weekly" in the given files (defined: nightly, hourly, defaults)'),
    );
  });

  it('resolves a target', () => {
    expect(resolveTarget(set, 'prod-db')).toBe(set.targets.get('prod-db'));
  });

  it('names the missing target and the defined ones', () => {
    expect(() => resolveTarget(set, 'staging-db')).toThrow('no Target named "staging-db" in the given files (defined: prod-db, socket-db)');
  });

  it('omits the defined list when there are none of that kind', () => {
    const onlyRepos = parseResourceSet([{ file: 'r.yaml', text: minimalRepository }]);
    let thrown: unknown;
    try {
      resolveTarget(onlyRepos, 'db');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ResourceValidationError);
    expect((thrown as Error).message).toBe('no Target named "db" in the given files');
  });
});
