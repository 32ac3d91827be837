import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure } from '../../clients/failure-description';
import { parseManifest } from '../../domain/manifest';
import { resolveBackupConfiguration, type ResourceSet } from '../../domain/resource-set';
import { API_VERSION } from '../../domain/resources';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { awsCliPath } from '../../stack/tool-paths';
import { runCommand } from '../support/cli-runner';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { AWKWARD_DATABASE, awkwardRows, createAwkwardDatabase } from '../support/sample-data';

/**
 * The options of a configuration as users combine them: every compression, age encryption
 * (and the restore without dbkeep that README documents), extra dump arguments, a filesystem
 * repository, and no password on any command line.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let identityFile: string;
let recipient: string;

function resources(spec: Record<string, unknown>, extra: object[] = []): ResourceSet {
  return stack.resources(
    stack.targetDocument('source', source),
    configurationDocument('options', { target: 'source', databases: [AWKWARD_DATABASE], ...spec }),
    ...extra,
  );
}

async function backup(set: ResourceSet, configuration = 'options') {
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(set, configuration))).result();
  if (result.outcome !== 'succeeded') throw new Error('skipped');
  return result;
}

async function restoreInto(set: ResourceSet, target: MariaDbInstance, snapshotId: string, configuration = 'options') {
  const resolved = resolveBackupConfiguration(set, configuration);
  const copy = stack.targetDocument('copy', target) as { spec: Record<string, unknown> };
  const handle = await stack.client.restore({
    repository: resolved.repository,
    configuration,
    target: stack.resources(copy).targets.get('copy')!,
    selector: { snapshotId },
    overwrite: true,
    identity: resolved.configuration.spec.encryption?.age.identity,
  });
  return handle.result();
}

async function rowsOf(instance: MariaDbInstance) {
  const connection = await rootConnection(instance);
  try {
    return await awkwardRows(connection);
  } finally {
    await connection.end();
  }
}

async function storedObject(key: string): Promise<Buffer> {
  const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/${key}` }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  await createAwkwardDatabase(source);
  identityFile = path.join(stack.dir, 'age-identity.txt');
  execFileSync('age-keygen', ['-o', identityFile], { stdio: 'pipe' });
  recipient = /public key: (age1\w+)/.exec(readFileSync(identityFile, 'utf8'))![1]!;
  writeFileSync(path.join(stack.dir, 'age-recipients.txt'), `# backups\n${recipient}\n`);
});

afterAll(async () => {
  await stack?.stop();
});

describe('compression', () => {
  it.each([
    ['gzip', 'dump.sql.gz', [0x1f, 0x8b]],
    ['bzip2', 'dump.sql.bz2', [0x42, 0x5a, 0x68]],
    // MariaDB's dumps open with a /*M!999999 sandbox-mode comment.
    ['none', 'dump.sql', [0x2f, 0x2a]],
    ['zstd', 'dump.sql.zst', [0x28, 0xb5, 0x2f, 0xfd]],
  ] as const)('%s round-trips byte for byte, stored as %s', async (algorithm, file, magic) => {
    const set = resources({ compression: { algorithm, ...(algorithm === 'gzip' ? { level: 9 } : {}) } });
    const { snapshotId } = await backup(set);
    const stored = await storedObject(`options/${snapshotId}/${file}`);
    expect([...stored.subarray(0, magic.length)]).toEqual(magic);
    const target = await stack.startMariaDb();
    await restoreInto(set, target, snapshotId);
    expect(await rowsOf(target)).toEqual(await rowsOf(source));
  });
});

describe('age encryption', () => {
  const encryption = () => ({
    age: { recipients: { file: path.join(stack.dir, 'age-recipients.txt') }, identity: { file: identityFile } },
  });

  it('stores only ciphertext, records the recipients, and restores with the identity', async () => {
    const set = resources({ encryption: encryption() });
    const { snapshotId } = await backup(set);
    const stored = await storedObject(`options/${snapshotId}/dump.sql.zst.age`);
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    const manifest = parseManifest((await storedObject(`options/${snapshotId}/manifest.json`)).toString());
    expect(manifest.ok && manifest.manifest.encryption).toEqual({ method: 'age', recipients: [recipient] });
    const target = await stack.startMariaDb();
    await restoreInto(set, target, snapshotId);
    expect(await rowsOf(target)).toEqual(await rowsOf(source));
  });

  it('refuses to restore without the identity, naming the field to set', async () => {
    const set = resources({ encryption: encryption() });
    const { snapshotId } = await backup(set);
    const withoutIdentity = resources({ encryption: { age: { recipients: encryption().age.recipients } } });
    const target = await stack.startMariaDb();
    const failure = describeFailure(await restoreInto(withoutIdentity, target, snapshotId).catch((e: unknown) => e));
    expect(failure.type).toBe('SecretUnavailable');
    expect(failure.message).toContain('is encrypted with age');
    expect(failure.message).toContain('spec.encryption.age.identity on BackupConfiguration "options"');
  });

  it("is restorable without dbkeep with the README's commands", async () => {
    const set = resources({ encryption: encryption() });
    const { snapshotId } = await backup(set);
    const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Restore without dbkeep'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const target = await stack.startMariaDb();
    const defaultsFile = path.join(stack.dir, 'restore-without-dbkeep.cnf');
    writeFileSync(defaultsFile, `[client]\nhost=127.0.0.1\nport=${target.port}\nuser=root\npassword="${target.rootPassword}"\n`, {
      mode: 0o600,
    });
    const accessKey = readFileSync(path.join(stack.dir, 's3-access-key'), 'utf8');
    const result = await runCommand('bash', ['-euo', 'pipefail', '-c', script], {
      env: {
        ...process.env,
        PATH: `${path.dirname(awsCliPath())}:${process.env.PATH}`,
        ENDPOINT: stack.minio.endpoint,
        BUCKET: stack.bucket,
        KEY: `dbkeep/options/${snapshotId}/dump.sql.zst.age`,
        AWS_ACCESS_KEY_ID: accessKey,
        AWS_SECRET_ACCESS_KEY: stack.s3SecretKey,
        AWS_DEFAULT_REGION: 'us-east-1',
        AGE_IDENTITY: identityFile,
        MARIADB_DEFAULTS: defaultsFile,
      },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(await rowsOf(target)).toEqual(await rowsOf(source));
  });
});

describe('tool arguments and credentials', () => {
  it("passes the configuration's extra arguments to the dump tool", async () => {
    const set = resources({ args: ['--skip-comments', '--skip-dump-date'], compression: 'none' });
    const { snapshotId } = await backup(set);
    const dump = (await storedObject(`options/${snapshotId}/dump.sql`)).toString('utf8');
    expect(dump).not.toContain('-- MariaDB dump');
    expect(dump).not.toContain('-- Dump completed');
  });

  it("never puts the password on the dump tool's command line", async () => {
    const lock: Connection = await rootConnection(source);
    await lock.query(`LOCK TABLES \`${AWKWARD_DATABASE.replace(/`/g, '``')}\`.\`table with \`\`tick\`\` and ünïcode\` WRITE`);
    const handle = await stack.client.backupNow(resolveBackupConfiguration(resources({}), 'options'));
    let commandLine: string | undefined;
    for (let i = 0; i < 200 && commandLine === undefined; i++) {
      commandLine = readdirSync('/proc')
        .filter((entry) => /^\d+$/.test(entry))
        .map((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
          } catch {
            return '';
          }
        })
        .find((line) => line.startsWith('mariadb-dump --defaults-file='));
      if (commandLine === undefined) await sleep(50);
    }
    await lock.query('UNLOCK TABLES');
    await lock.end();
    expect((await handle.result()).outcome).toBe('succeeded');
    expect(commandLine).toBeDefined();
    expect(commandLine).toContain('--defaults-file=');
    expect(commandLine).toContain(`--port=${source.port}`);
    expect(commandLine).not.toContain(source.rootPassword);
    expect(commandLine).not.toMatch(/--password|\s-p\S/);
  });
});

describe('single-database restore', () => {
  it('restores one database out of a full backup and leaves the others on the target alone', async () => {
    const connection = await rootConnection(source);
    await connection.query(
      'CREATE DATABASE IF NOT EXISTS extra; CREATE TABLE IF NOT EXISTS extra.notes (id INT PRIMARY KEY, body TEXT); REPLACE INTO extra.notes VALUES (1, "from the backup")',
    );
    await connection.end();
    const set = resources({ databases: [AWKWARD_DATABASE, 'extra'] });
    const { snapshotId } = await backup(set);
    const target = await stack.startMariaDb();
    const before = await rootConnection(target);
    await before.query(
      'CREATE DATABASE extra; CREATE TABLE extra.notes (id INT PRIMARY KEY, body TEXT); INSERT INTO extra.notes VALUES (1, "stale")',
    );
    await before.query('CREATE DATABASE keep_me; CREATE TABLE keep_me.t (id INT); INSERT INTO keep_me.t VALUES (7)');
    await before.end();

    const resolved = resolveBackupConfiguration(set, 'options');
    const copy = stack.resources(stack.targetDocument('copy', target)).targets.get('copy')!;
    const restored = await (
      await stack.client.restore({
        repository: resolved.repository,
        configuration: 'options',
        target: copy,
        selector: { snapshotId },
        overwrite: true,
        database: 'extra',
        args: ['--max-allowed-packet=64M'],
      })
    ).result();
    expect(restored.databases).toEqual(['extra']);
    const after = await rootConnection(target);
    const [notes] = await after.query('SELECT body FROM extra.notes');
    const [kept] = await after.query('SELECT id FROM keep_me.t');
    const [awkward] = await after.query('SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [AWKWARD_DATABASE]);
    await after.end();
    expect(notes).toEqual([{ body: 'from the backup' }]);
    expect(kept).toEqual([{ id: 7 }]);
    // The single-database filter skips the other databases' tables.
    expect(awkward).toEqual([{ n: 0 }]);

    const missing = await (
      await stack.client.restore({
        repository: resolved.repository,
        configuration: 'options',
        target: copy,
        selector: { snapshotId },
        overwrite: true,
        database: 'nope',
      })
    )
      .result()
      .catch((e: unknown) => e);
    expect(describeFailure(missing)).toMatchObject({ type: 'UnknownDatabase' });
    expect(describeFailure(missing).message).toContain('not "nope"');
    await expect(
      stack.client.restore({
        repository: resolved.repository,
        configuration: 'options',
        target: copy,
        selector: { snapshotId },
        args: ['--host=elsewhere'],
      }),
    ).rejects.toThrow('restore: args.0: --host is not allowed');
  });
});

describe('import of external dumps', () => {
  it("turns backup.<time>.sql.gz files under the configuration's prefix into restorable snapshots, once", async () => {
    const { gzipSync } = await import('node:zlib');
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const optionFile = path.join(stack.dir, 'external-dump.cnf');
    writeFileSync(optionFile, `[client]\npassword="${source.rootPassword}"\n`, { mode: 0o600 });
    const dump = execFileSync(
      'mariadb-dump',
      [`--defaults-file=${optionFile}`, `--socket=${source.socket}`, '--user=root', '--hex-blob', '--databases', AWKWARD_DATABASE],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    await stack.s3.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: 'dbkeep/imports/backup.2026-11-01T02:00:00Z.sql.gz', Body: gzipSync(dump) }),
    );
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: stack.bucket,
        Key: 'dbkeep/imports/backup.2026-11-02T02:00:00Z.sql',
        Body: Buffer.from('SELECT 1;\n'),
      }),
    );
    const set = stack.resources(stack.targetDocument('source', source), configurationDocument('imports', { target: 'source' }));
    const resolved = resolveBackupConfiguration(set, 'imports');

    const first = await stack.client.importDumps(resolved);
    expect(first.imported).toEqual([
      {
        file: 'backup.2026-11-01T02:00:00Z.sql.gz',
        snapshotId: expect.stringMatching(/^20261101T020000000Z-[0-9a-f]{6}$/),
        databases: [AWKWARD_DATABASE],
      },
    ]);
    expect(first.skipped).toEqual([
      { file: 'backup.2026-11-02T02:00:00Z.sql', reason: 'no USE statements: make the dump with --databases or --all-databases' },
    ]);
    const again = await stack.client.importDumps(resolved);
    expect(again.imported).toEqual(first.imported);
    const listed = await stack.client.listSnapshots(resolved.repository, 'imports');
    expect(listed.snapshots.map((s) => [s.snapshotId, s.startedAt, s.compression])).toEqual([
      [first.imported[0]!.snapshotId, '2026-11-01T02:00:00.000Z', 'gzip'],
    ]);

    const target = await stack.startMariaDb();
    const copy = stack.resources(stack.targetDocument('copy', target)).targets.get('copy')!;
    const restored = await (
      await stack.client.restore({
        repository: resolved.repository,
        configuration: 'imports',
        target: copy,
        selector: { targetRecoveryTime: '2026-11-05T00:00:00Z' },
      })
    ).result();
    expect(restored.snapshotId).toBe(first.imported[0]!.snapshotId);
    expect(await rowsOf(target)).toEqual(await rowsOf(source));
  });

  it('never runs a client command of an imported dump: the restore fails at once, non-retryable, and nothing ran', async () => {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const marker = path.join(stack.dir, 'ran-from-an-imported-dump');
    const hostile = `CREATE DATABASE \`hostile\`;\nUSE \`hostile\`;\nCREATE TABLE t (id INT);\nsystem touch ${marker}\nINSERT INTO t VALUES (1);\n`;
    await stack.s3.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: 'dbkeep/hostile/backup.2026-11-03T02:00:00Z.sql', Body: Buffer.from(hostile) }),
    );
    const set = stack.resources(stack.targetDocument('source', source), configurationDocument('hostile', { target: 'source' }));
    const resolved = resolveBackupConfiguration(set, 'hostile');
    expect((await stack.client.importDumps(resolved)).imported).toHaveLength(1);

    const target = await stack.startMariaDb();
    const copy = stack.resources(stack.targetDocument('copy', target)).targets.get('copy')!;
    const handle = await stack.client.restore({ repository: resolved.repository, configuration: 'hostile', target: copy, selector: {} });
    const failure = describeFailure(
      await handle.result().then(
        () => undefined,
        (error: unknown) => error,
      ),
    );
    // The client (batch, binary mode, sandbox) never runs a client command: the line reaches the
    // server as SQL, which refuses it; that fails the restore at once, not after five attempts.
    expect(failure).toMatchObject({ type: 'RestoreStatementRejected', nonRetryable: true });
    expect(failure.message).toMatch(/refused a statement of the dump \(SQL syntax error\).*ERROR 1064 .* near 'system touch/);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("the AWS SDK's default credential chain", () => {
  it("serves a Repository without credentials from the worker's environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)", async () => {
    const accessKey = stack.resources().repositories.get('repo')!.spec.s3!.credentials!.accessKeyId as { file: string };
    // The worker runs in this process: its environment is the SDK's first provider (never the
    // instance metadata endpoint, which is off loopback and never asked here).
    process.env.AWS_ACCESS_KEY_ID = readFileSync(accessKey.file, 'utf8').trim();
    process.env.AWS_SECRET_ACCESS_KEY = stack.s3SecretKey;
    try {
      const set = stack.resources(
        stack.repositoryDocument('default-chain', { credentials: undefined }),
        stack.targetDocument('source', source),
        configurationDocument('chain', { target: 'source', repository: 'default-chain', databases: [AWKWARD_DATABASE] }),
      );
      expect(set.repositories.get('default-chain')!.spec.s3!.credentials).toBeUndefined();
      const result = await (await stack.client.backupNow(resolveBackupConfiguration(set, 'chain'))).result();
      if (result.outcome !== 'succeeded') throw new Error('skipped');
      expect(await stack.listKeys('chain/')).toEqual([
        `chain/${result.snapshotId}/dump.sql.zst`,
        `chain/${result.snapshotId}/manifest.json`,
      ]);
      expect(
        (await stack.client.listSnapshots(set.repositories.get('default-chain')!, 'chain')).snapshots.map((s) => s.snapshotId),
      ).toEqual([result.snapshotId]);
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });
});

describe('filesystem repository', () => {
  it('keeps the same layout, commits atomically and restores', async () => {
    const root = path.join(stack.dir, 'fs-repository');
    const fsRepository = { apiVersion: API_VERSION, kind: 'Repository', metadata: { name: 'local' }, spec: { filesystem: { path: root } } };
    const set = stack.resources(stack.targetDocument('source', source), fsRepository, {
      ...configurationDocument('local-nightly', { target: 'source', databases: [AWKWARD_DATABASE] }),
      spec: { target: 'source', repository: 'local', databases: [AWKWARD_DATABASE] },
    });
    const { snapshotId } = await backup(set, 'local-nightly');
    expect(readdirSync(path.join(root, 'local-nightly', snapshotId)).sort()).toEqual(['dump.sql.zst', 'manifest.json']);
    expect(existsSync(path.join(root, 'local-nightly', snapshotId, 'manifest.json'))).toBe(true);
    const target = await stack.startMariaDb();
    await restoreInto(set, target, snapshotId, 'local-nightly');
    expect(await rowsOf(target)).toEqual(await rowsOf(source));
  });
});
