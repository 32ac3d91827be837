import { describe, expect, it } from 'vitest';
import { parseResourceSet, resolveBackupConfiguration, resolveTarget, ResourceValidationError } from '../../domain/resource-set';
import {
  parseBackupSessionInput,
  parseBootstrapSessionInput,
  parsePruneSessionInput,
  parseRestoreSessionInput,
  parseRestoringSessionInput,
  parseSnapshotSourceInput,
  parseVolumeRestoreSessionInput,
} from '../../domain/session-inputs';

const set = parseResourceSet([
  {
    file: 'resources.yaml',
    text: `
apiVersion: dbkeep.io/v1alpha1
kind: Repository
metadata: { name: offsite }
spec:
  s3:
    bucket: dbkeep-backups
    credentials: { accessKeyId: { env: S3_ACCESS_KEY }, secretAccessKey: { file: /run/secrets/s3-secret } }
---
apiVersion: dbkeep.io/v1alpha1
kind: Repository
metadata: { name: local }
spec: { filesystem: { path: /backups } }
---
apiVersion: dbkeep.io/v1alpha1
kind: Target
metadata: { name: prod-db }
spec: { engine: mariadb, host: db.internal, password: { env: DB_PASSWORD } }
---
apiVersion: dbkeep.io/v1alpha1
kind: Target
metadata: { name: socket-db }
spec: { engine: mysql, socket: /run/mysqld/mysqld.sock }
---
apiVersion: dbkeep.io/v1alpha1
kind: BackupConfiguration
metadata: { name: nightly }
spec: { target: prod-db, repository: offsite, retention: { keepLast: 3 } }
`,
  },
]);
const backup = resolveBackupConfiguration(set, 'nightly');
const repository = set.repositories.get('offsite')!;
const target = resolveTarget(set, 'prod-db');

/** The input as the temporal CLI may send it: JSON, no schema in between, changed by `change`. */
function handWritten<T>(input: T, change: (input: any) => void = () => undefined): unknown {
  const copy = JSON.parse(JSON.stringify(input));
  change(copy);
  return copy;
}

/** The message a parse function refuses `input` with. */
function refusal(parse: (input: unknown) => unknown, input: unknown): string {
  try {
    parse(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ResourceValidationError);
    return (error as Error).message;
  }
  throw new Error('the input was accepted');
}

describe('parseBackupSessionInput', () => {
  it("returns the specs as the resource files would give them, defaults applied to a hand-written input's", () => {
    expect(parseBackupSessionInput(backup)).toEqual(backup);
    const parsed = parseBackupSessionInput(
      handWritten(backup, (input) => {
        input.configuration.spec = { target: 'prod-db', repository: 'offsite' };
        delete input.repository.spec.s3.region;
        delete input.target.spec.port;
      }),
    );
    expect(parsed).toMatchObject({
      configuration: { name: 'nightly', spec: { method: 'logical', compression: { algorithm: 'zstd' }, args: [], timeout: '6h' } },
      repository: { name: 'offsite', spec: { s3: { region: 'us-east-1' } } },
      target: { name: 'prod-db', spec: { port: 3306, user: 'root' } },
    });
  });

  it('names the resource and the field of every problem, args included', () => {
    const problemOf = (change: (input: any) => void) => refusal(parseBackupSessionInput, handWritten(backup, change));
    expect(problemOf((input) => (input.configuration.spec.args = ['--skip-comments', '--ho=127.0.0.9']))).toBe(
      'BackupConfiguration "nightly": spec.args.1: --ho is not allowed: the tool reads it as --host (it accepts any unambiguous prefix of an option, and --skip-, --enable-, --disable-, --loose- or --maximum- before it), and the connection target comes from the Target resource',
    );
    expect(problemOf((input) => (input.configuration.spec.compression = 'lz4'))).toMatch(
      /^BackupConfiguration "nightly": spec.compression: must be one of zstd, gzip/,
    );
    expect(problemOf((input) => (input.configuration.spec.encryption = { age: {} }))).toMatch(
      /^BackupConfiguration "nightly": spec.encryption.age.recipients: /,
    );
    expect(problemOf((input) => (input.repository.spec = { s3: input.repository.spec.s3, filesystem: { path: '/b' } }))).toBe(
      'Repository "offsite": spec: exactly one of s3 or filesystem must be set',
    );
    expect(problemOf((input) => (input.target.spec.port = 70000))).toMatch(/^Target "prod-db": spec\.port: /);
    expect(problemOf((input) => (input.configuration.name = '../etc'))).toMatch(
      /^BackupConfiguration "..\/etc": name: must be lowercase letters/,
    );
    expect(
      problemOf((input) => {
        input.configuration.spec.method = 'physical';
        input.configuration.spec.args = ['--compress'];
        input.repository.spec.s3.bucket = 'A';
      }),
    ).toBe(
      'BackupConfiguration "nightly": spec.args.0: --compress is not allowed: it compresses every file in the stream (QuickLZ .qp files), which a restore does not undo; use spec.compression; ' +
        'Repository "offsite": spec.s3.bucket: must be a valid S3 bucket name (3-63 lowercase letters, digits, "." and "-")',
    );
    expect(problemOf((input) => (input.snapshotId = 'latest'))).toMatch(/^snapshotId: must look like/);
    expect(problemOf((input) => (input.extra = 1))).toBe('Unrecognized key: "extra"');
  });

  it('names every missing part as required', () => {
    expect(refusal(parseBackupSessionInput, {})).toBe('configuration: required; target: required; repository: required');
    expect(
      refusal(
        parseBackupSessionInput,
        handWritten(backup, (input) => delete input.repository.spec),
      ),
    ).toBe('Repository "offsite": spec: required');
    expect(
      refusal(
        parseBackupSessionInput,
        handWritten(backup, (input) => delete input.target.name),
      ),
    ).toBe('target.name: required');
  });

  it('refuses a configuration naming another target or repository than the session was given', () => {
    expect(refusal(parseBackupSessionInput, { ...backup, repository: set.repositories.get('local')! })).toBe(
      'BackupConfiguration "nightly": spec.repository: names Repository "offsite", but the session\'s repository is "local"',
    );
    expect(refusal(parseBackupSessionInput, { ...backup, target: resolveTarget(set, 'socket-db') })).toBe(
      'BackupConfiguration "nightly": spec.target: names Target "prod-db", but the session\'s target is "socket-db"',
    );
  });
});

describe('parseRestoreSessionInput', () => {
  const restore = { repository, configuration: 'nightly', target, selector: {}, overwrite: false };

  it('accepts what `dbkeep restore` sends, with the restore options defaulted', () => {
    expect(parseRestoreSessionInput(restore)).toEqual({ ...restore, parallel: 1 });
  });

  it('names the wrong field: selector, options, resources, unknown keys, missing parts', () => {
    expect(refusal(parseRestoreSessionInput, { ...restore, selector: { snapshotId: '../../../etc/passwd' } })).toMatch(/^selector: /);
    expect(refusal(parseRestoreSessionInput, { ...restore, args: ['--execute=DROP DATABASE shop'] })).toMatch(
      /^args\.0: --execute is not allowed/,
    );
    expect(refusal(parseRestoreSessionInput, { ...restore, parallel: 0 })).toMatch(/^parallel: /);
    expect(refusal(parseRestoreSessionInput, { ...restore, database: 'a/b' })).toMatch(/^database: /);
    expect(refusal(parseRestoreSessionInput, { ...restore, identity: { file: 'key' } })).toBe('identity.file: must be an absolute path');
    expect(
      refusal(
        parseRestoreSessionInput,
        handWritten(restore, (input) => (input.target.spec.engine = 'oracle')),
      ),
    ).toMatch(/^Target "prod-db": spec\.engine: /);
    expect(refusal(parseRestoreSessionInput, { ...restore, overwrite: 'yes' })).toMatch(/^overwrite: /);
    expect(refusal(parseRestoreSessionInput, { ...restore, force: true })).toBe('Unrecognized key: "force"');
    expect(refusal(parseRestoreSessionInput, { selector: {} })).toBe(
      'repository: required; configuration: required; target: required; overwrite: required',
    );
  });
});

describe('parseVolumeRestoreSessionInput', () => {
  const volumes = {
    repository,
    configuration: 'nightly',
    selector: {},
    replicas: 3,
    volumeTemplate: '/data/replica-${POD_ORDINAL}',
    overwrite: false,
    restoreId: '20261121T161704123Z-3f9a1c',
  };

  it('accepts a directory or a claim template per replica', () => {
    expect(parseVolumeRestoreSessionInput(volumes)).toEqual(volumes);
    const { volumeTemplate: _, ...withoutDirectory } = volumes;
    expect(parseVolumeRestoreSessionInput({ ...withoutDirectory, volumeClaimTemplate: { name: 'data-${POD_ORDINAL}' } })).toMatchObject({
      volumeClaimTemplate: { name: 'data-${POD_ORDINAL}' },
    });
  });

  it('names the wrong field of the layout, the templates and the restore id', () => {
    expect(refusal(parseVolumeRestoreSessionInput, { ...volumes, replicas: 65 })).toMatch(/^replicas: must be a whole number from 1 to 64/);
    expect(refusal(parseVolumeRestoreSessionInput, { ...volumes, volumeTemplate: '/data/replica' })).toMatch(
      /^volumeTemplate: with 3 replicas it must contain \$\{POD_ORDINAL\}/,
    );
    expect(refusal(parseVolumeRestoreSessionInput, { ...volumes, volumeTemplate: '../data/${POD_ORDINAL}' })).toMatch(
      /^volumeTemplate: must be an absolute directory path/,
    );
    expect(refusal(parseVolumeRestoreSessionInput, { ...volumes, volumeClaimTemplate: { name: 'data-${POD_ORDINAL}' } })).toMatch(
      /^volumeTemplate: exactly one of volumeTemplate/,
    );
    expect(refusal(parseVolumeRestoreSessionInput, { ...volumes, restoreId: 'a/../b' })).toMatch(/^restoreId: /);
  });
});

describe('parseBootstrapSessionInput', () => {
  const bootstrap = { target, repository, configuration: 'nightly', selector: {}, waitSeconds: 600 };

  it('accepts what `dbkeep bootstrap` sends, and names the wrong field', () => {
    expect(parseBootstrapSessionInput(bootstrap)).toEqual(bootstrap);
    expect(refusal(parseBootstrapSessionInput, { ...bootstrap, waitSeconds: -1 })).toMatch(/^waitSeconds: /);
    expect(refusal(parseBootstrapSessionInput, { ...bootstrap, configuration: 'Nightly' })).toMatch(/^configuration: must be lowercase/);
    expect(refusal(parseBootstrapSessionInput, { ...bootstrap, selector: { targetRecoveryTime: 'yesterday' } })).toMatch(/^selector/);
    expect(refusal(parseBootstrapSessionInput, { ...bootstrap, repository: { name: 'offsite', spec: {} } })).toBe(
      'Repository "offsite": spec: exactly one of s3 or filesystem must be set',
    );
  });

  it('takes a point in time with an empty selector only', () => {
    const pointInTime = { ...bootstrap, pointInTime: { at: '2026-12-04T03:00:00Z' } };
    expect(parseBootstrapSessionInput(pointInTime)).toEqual(pointInTime);
    expect(refusal(parseBootstrapSessionInput, { ...pointInTime, selector: { snapshotId: '20261204T010000123Z-abcdef' } })).toBe(
      'selector: a point-in-time bootstrap chooses its snapshot from the recoverable window: leave selector empty',
    );
    expect(refusal(parseBootstrapSessionInput, { ...bootstrap, pointInTime: { at: 'noon' } })).toMatch(/^pointInTime/);
  });
});

describe('parsePruneSessionInput', () => {
  const prune = { repository, configuration: 'nightly', policy: { keepLast: 3 }, dryRun: false };

  it('accepts what `dbkeep prune` sends, and names the wrong field', () => {
    expect(parsePruneSessionInput(prune)).toMatchObject(prune);
    expect(refusal(parsePruneSessionInput, { ...prune, policy: { keepLast: -1 } })).toMatch(/^policy\.keepLast: /);
    expect(refusal(parsePruneSessionInput, { ...prune, dryRun: 'no' })).toMatch(/^dryRun: /);
    expect(refusal(parsePruneSessionInput, { configuration: 'nightly', dryRun: true })).toBe('repository: required');
  });
});

describe('parseSnapshotSourceInput', () => {
  it("checks the part of a restore's input that chooses the snapshot, whatever else the input holds", () => {
    const source = { repository, configuration: 'nightly', selector: { snapshotId: '20261121T161704123Z-3f9a1c' }, method: 'logical' };
    expect(parseSnapshotSourceInput(source)).toEqual({ repository, configuration: 'nightly', selector: source.selector });
    expect(refusal(parseSnapshotSourceInput, { ...source, selector: { snapshotId: '../../../etc/passwd' } })).toMatch(
      /^selector.*snapshotId|^selector: /,
    );
  });
});

describe('parseRestoringSessionInput', () => {
  it("parses a restore, volume restore or bootstrap session's whole input with its kind's function", () => {
    // A bootstrap's logical restore, as the bootstrap session starts it: no parallel, no options.
    const restore = handWritten({ repository, configuration: 'nightly', target, selector: {}, overwrite: false });
    expect(parseRestoringSessionInput({ kind: 'restore', input: restore })).toEqual({
      kind: 'restore',
      input: parseRestoreSessionInput(restore),
    });
    const volumes = {
      repository,
      configuration: 'nightly',
      selector: {},
      replicas: 2,
      volumeTemplate: '/data/r-${POD_ORDINAL}',
      overwrite: false,
    };
    expect(parseRestoringSessionInput({ kind: 'volumeRestore', input: volumes })).toEqual({ kind: 'volumeRestore', input: volumes });
    const bootstrap = { target, repository, configuration: 'nightly', selector: {}, waitSeconds: 600 };
    expect(parseRestoringSessionInput({ kind: 'bootstrap', input: bootstrap })).toEqual({
      kind: 'bootstrap',
      input: parseBootstrapSessionInput(bootstrap),
    });
  });

  it('refuses what the parts it did not check before hold, and a kind it does not know', () => {
    const restore = { repository, configuration: 'nightly', target, selector: {}, overwrite: false };
    expect(refusal(parseRestoringSessionInput, { kind: 'restore', input: { ...restore, parallel: 0 } })).toMatch(/^parallel: /);
    expect(refusal(parseRestoringSessionInput, { kind: 'restore', input: { ...restore, overwrite: 'yes' } })).toMatch(/^overwrite: /);
    expect(refusal(parseRestoringSessionInput, { kind: 'bootstrap', input: { ...restore, waitSeconds: -1 } })).toMatch(/waitSeconds/);
    expect(refusal(parseRestoringSessionInput, { kind: 'backup', input: restore })).toMatch(/^session\.kind: /);
    expect(refusal(parseRestoringSessionInput, undefined)).toMatch(/^session\.kind: /);
  });
});
