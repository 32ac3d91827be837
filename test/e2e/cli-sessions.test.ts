import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { diffFingerprints, type DatabaseFingerprint } from '../../stack/database-fingerprint';
import { findFreePort } from '../../stack/free-port';
import { startMariaDbInstance, type MariaDbInstance } from '../../stack/mariadb-instance';
import { mariadbToolPath } from '../../stack/tool-paths';
import { AesGcmPayloadCodec, ENCODING, type Keyring } from '../../secrets/payload-codec';
import { DBKEEP_CLI, runDbkeep, startDbkeep, type CommandResult } from '../support/cli-runner';
import { configurationDocument, fingerprintDatabases, rootConnection, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';

/**
 * The session commands of the README that cli.test.ts leaves out, run as users run them (the
 * built bin/dbkeep.js in a child process): restores of one database with client options, by
 * time and over existing data, imports, physical restores into replica directories, bootstrap
 * and the codec server. Payload encryption is on for the whole file, as the README has it:
 * the worker and every CLI process share DBKEEP_PAYLOAD_KEYRING_FILE.
 */
const DATABASES = ['shop_a', 'shop_b'];
const UI_ORIGIN = 'http://127.0.0.1:8233';
const key = () => randomBytes(32).toString('base64');
const keyring: Keyring = { active: 'k1', keys: { k1: key() } };

let stack: E2eStack;
let source: MariaDbInstance;
/** The target of logical restores; it writes a binary log, which shows what the client sessions logged. */
let copy: MariaDbInstance;
let resourcesFile: string;
let keyringFile: string;
/** The source when the first snapshot was taken, before more orders came in. */
let atFirstSnapshot: Record<string, DatabaseFingerprint>;
let firstSnapshotId: string;
let latestSnapshotId: string;
/** A time between the two snapshots of `shop`. */
let between: string;

function cliEnvironment(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporal.address,
    DBKEEP_TASK_QUEUE: stack.taskQueue,
    DBKEEP_PAYLOAD_KEYRING_FILE: keyringFile,
  };
}

async function dbkeep(...args: string[]): Promise<CommandResult> {
  return runDbkeep(args, { env: cliEnvironment(), cwd: stack.dir });
}

const fingerprints = (instance: MariaDbInstance, databases: readonly string[] = DATABASES) => fingerprintDatabases(instance, databases);

async function expectSameDatabases(
  expected: Record<string, DatabaseFingerprint>,
  instance: MariaDbInstance,
  databases = DATABASES,
): Promise<void> {
  const actual = await fingerprints(instance, databases);
  for (const database of databases) expect(diffFingerprints(expected[database]!, actual[database]!), database).toEqual([]);
}

async function userDatabases(instance: MariaDbInstance): Promise<string[]> {
  const rows = await rootQuery(
    instance,
    "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema') ORDER BY 1",
  );
  return rows.map((r) => String(r.name));
}

/** The statements of every binary log file of `instance`, as SHOW BINLOG EVENTS gives them. */
async function binlogStatements(instance: MariaDbInstance): Promise<string[]> {
  const statements: string[] = [];
  for (const file of await rootQuery(instance, 'SHOW BINARY LOGS')) {
    const events = await rootQuery(instance, `SHOW BINLOG EVENTS IN '${String(file.Log_name)}'`);
    statements.push(...events.map((e) => String(e.Info)));
  }
  return statements;
}

async function backup(configuration: string): Promise<string> {
  const result = await dbkeep('backup', '-f', resourcesFile, '--config', configuration, '--wait', '--json');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return (JSON.parse(result.stdout) as { snapshotId: string }).snapshotId;
}

/** `dbkeep codec-server ...` in the background, once it printed the line saying where it listens. */
async function startCodecServer(args: string[]): Promise<{ line: string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [DBKEEP_CLI, 'codec-server', ...args], {
    env: cliEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!stdout.includes('\n')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dbkeep codec-server did not start: ${stderr}`);
    }
    await sleep(50);
  }
  return {
    line: stdout,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

beforeAll(async () => {
  stack = await startE2eStack({ payloadCodec: new AesGcmPayloadCodec(keyring) });
  keyringFile = path.join(stack.dir, 'keyring.json');
  writeFileSync(keyringFile, JSON.stringify(keyring), { mode: 0o600 });
  // The replica workers the stack's worker starts are `dbkeep replica-worker` processes with its environment.
  process.env.DBKEEP_PAYLOAD_KEYRING_FILE = keyringFile;
  [source, copy] = await Promise.all([stack.startMariaDb(), stack.startMariaDb({ extraArgs: ['--log-bin=binlog'] })]);
  const connection = await rootConnection(source);
  await connection.query(`
    CREATE DATABASE shop_a;
    USE shop_a;
    CREATE TABLE shop_a.orders (id INT PRIMARY KEY, item VARCHAR(40) CHARACTER SET utf8mb4, qty INT, placed DATETIME(3)) ENGINE=InnoDB;
    INSERT INTO shop_a.orders SELECT seq, CONCAT('item ', seq, ' ✓'), seq % 7, '2026-11-01 00:00:00' + INTERVAL seq MINUTE FROM seq_1_to_500;
    CREATE VIEW shop_a.large_orders AS SELECT id, qty FROM shop_a.orders WHERE qty > 3;
    CREATE DATABASE shop_b;
    USE shop_b;
    CREATE TABLE shop_b.customers (id INT PRIMARY KEY, name VARCHAR(40) CHARACTER SET utf8mb4, token BLOB) ENGINE=InnoDB;
    INSERT INTO shop_b.customers SELECT seq, CONCAT('Kundin ', seq, ' ü'), UNHEX(SHA2(seq, 256)) FROM seq_1_to_200;
    CREATE TRIGGER shop_b.customers_trimmed BEFORE INSERT ON shop_b.customers FOR EACH ROW SET NEW.name = TRIM(NEW.name);`);

  const sourceTarget = stack.targetDocument('source', source) as { spec: Record<string, unknown> };
  sourceTarget.spec.datadir = source.datadir;
  resourcesFile = path.join(stack.dir, 'resources.yaml');
  writeFileSync(
    resourcesFile,
    stack.resourcesYaml(
      sourceTarget,
      stack.targetDocument('copy', copy),
      configurationDocument('shop', { target: 'source', databases: DATABASES }),
      configurationDocument('physical', { target: 'source', method: 'physical' }),
      configurationDocument('imported', { target: 'source' }),
    ),
  );

  firstSnapshotId = await backup('shop');
  atFirstSnapshot = await fingerprints(source);
  between = new Date().toISOString();
  // Snapshot times have millisecond precision: keep the second snapshot clearly after `between`.
  await sleep(100);
  await connection.query("INSERT INTO shop_a.orders SELECT seq, CONCAT('late ', seq), 1, '2026-11-02 00:00:00' FROM seq_501_to_600");
  await connection.end();
  latestSnapshotId = await backup('shop');
}, 240_000);

afterAll(async () => {
  delete process.env.DBKEEP_PAYLOAD_KEYRING_FILE;
  await stack?.stop();
});

describe('dbkeep restore --database NAME --arg OPTION', () => {
  it('restores one database of the newest snapshot, with the client option applied to its session', async () => {
    const result = await dbkeep(
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'shop',
      '--to',
      'copy',
      '--database',
      'shop_b',
      '--arg',
      '--init-command=SET sql_log_bin=0',
      '--wait',
    );
    expect(result.stderr.split('\n')[0]).toMatch(/^restore session restore\/copy\/\S+ started$/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^snapshot ${latestSnapshotId} restored into copy: shop_b \\([^)]+ of SQL applied\\)\\n$`));
    expect(await userDatabases(copy)).toEqual(['shop_b']);
    await expectSameDatabases(await fingerprints(source), copy, ['shop_b']);
    // The restore's own session ran with sql_log_bin=0: none of its tables or rows are in the binary log.
    expect((await binlogStatements(copy)).filter((statement) => statement.includes('customers'))).toEqual([]);
  });

  it('refuses a client option that would break the restore, naming it, before contacting anything', async () => {
    const result = await dbkeep(
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'shop',
      '--to',
      'copy',
      '--arg',
      '--execute=DROP DATABASE shop_b',
      '--wait',
    );
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^dbkeep restore: --arg: .*--execute is not allowed[^\n]*\n$/);
  });
});

describe('dbkeep restore --at TIME --overwrite', () => {
  it('refuses the target holding a database of the snapshot without --overwrite, and changes nothing', async () => {
    await rootQuery(
      copy,
      "CREATE DATABASE keep_me; CREATE TABLE keep_me.notes (id INT PRIMARY KEY); INSERT INTO keep_me.notes VALUES (7); INSERT INTO shop_b.customers VALUES (9999, 'stray', NULL)",
    );
    const before = await fingerprints(copy, ['shop_b', 'keep_me']);
    const result = await dbkeep('restore', '-f', resourcesFile, '--config', 'shop', '--to', 'copy', '--at', between, '--wait');
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(
      /^dbkeep restore: RestoreTargetNotEmpty: Target "copy" already holds .*nothing was changed/,
    );
    await expectSameDatabases(before, copy, ['shop_b', 'keep_me']);
  });

  it('with --overwrite restores the newest snapshot at or before the time, replacing its databases and leaving the others', async () => {
    const keepMe = await fingerprints(copy, ['keep_me']);
    const result = await dbkeep(
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'shop',
      '--to',
      'copy',
      '--at',
      between,
      '--overwrite',
      '--wait',
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^snapshot ${firstSnapshotId} restored into copy: shop_a, shop_b \\([^)]+ of SQL applied\\)\\n$`),
    );
    expect(await userDatabases(copy)).toEqual(['keep_me', 'shop_a', 'shop_b']);
    // The first snapshot's orders, without those that came later; the stray customer is gone.
    await expectSameDatabases(atFirstSnapshot, copy);
    await expectSameDatabases(keepMe, copy, ['keep_me']);
    // Without --init-command the client session is logged like any other: the check above can see one.
    expect((await binlogStatements(copy)).some((statement) => statement.includes('INSERT INTO `orders`'))).toBe(true);
  });

  it('fails with SnapshotNotFound for a time before every snapshot', async () => {
    const result = await dbkeep(
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'shop',
      '--to',
      'copy',
      '--at',
      '2000-01-01T00:00:00Z',
      '--overwrite',
      '--wait',
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(
      /^dbkeep restore: SnapshotNotFound: configuration "shop" in .* has no snapshot at or before 2000-01-01T00:00:00Z \(2 valid snapshot\(s\)\)$/,
    );
  });
});

describe('dbkeep import', () => {
  const file = 'backup.2026-11-01T02:00:00Z.sql.gz';
  let importedId: string;

  it("turns an external mariadb-dump under the configuration's prefix into a snapshot, the same one when run again", async () => {
    const optionFile = path.join(stack.dir, 'external-dump.cnf');
    writeFileSync(optionFile, `[client]\nuser=root\npassword="${source.rootPassword}"\nsocket=${source.socket}\n`, { mode: 0o600 });
    const dump = execFileSync(
      mariadbToolPath('mariadb-dump'),
      [`--defaults-file=${optionFile}`, '--single-transaction', '--databases', 'shop_a'],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/imported/${file}`, Body: gzipSync(dump) }));

    const first = await dbkeep('import', '-f', resourcesFile, '--config', 'imported');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const line = first.stdout.match(/^imported (\S+) as snapshot (\S+) \((.*)\)\n$/);
    expect(line?.slice(1)).toEqual([file, expect.stringMatching(/^20261101T020000000Z-[0-9a-f]{6}$/), 'shop_a']);
    importedId = line![2]!;

    const again = await dbkeep('import', '-f', resourcesFile, '--config', 'imported', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ imported: [{ file, snapshotId: importedId, databases: ['shop_a'] }], skipped: [] });
    expect(await stack.listKeys('imported/')).toEqual(
      [`imported/${file}`, `imported/${importedId}/dump.sql.gz`, `imported/${importedId}/manifest.json`].sort(),
    );
  });

  it('restores the imported snapshot like any other', async () => {
    const result = await dbkeep(
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'imported',
      '--to',
      'copy',
      '--snapshot',
      importedId,
      '--overwrite',
      '--wait',
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^snapshot ${importedId} restored into copy: shop_a \\(`));
    await expectSameDatabases(await fingerprints(source, ['shop_a']), copy, ['shop_a']);
  });
});

describe('dbkeep restore --replicas N --volume-dir DIR', () => {
  let snapshotId: string;
  let root: string;

  /** Starts a server on each replica directory and checks it holds exactly the source's data. */
  async function expectReplicasMatchSource(): Promise<void> {
    const expected = await fingerprints(source);
    for (const ordinal of [0, 1]) {
      const datadir = path.join(root, `replica-${ordinal}`);
      const replica = await startMariaDbInstance({ dir: `${datadir}-run`, existingDatadir: datadir, rootPassword: source.rootPassword });
      try {
        await expectSameDatabases(expected, replica);
      } finally {
        await replica.stop();
      }
    }
  }

  it('restores a physical snapshot into 2 directories, each a data directory a server starts on with the source data', async () => {
    snapshotId = await backup('physical');
    root = path.join(stack.dir, 'volumes');
    const result = await dbkeep(
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'physical',
      '--replicas',
      '2',
      '--volume-dir',
      path.join(root, 'replica-${POD_ORDINAL}'),
      '--wait',
    );
    expect(result.stderr.split('\n')[0]).toMatch(/^restore session restore-volumes\/physical\/\S+ started$/);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`snapshot ${snapshotId} restored into 2 volume(s):`);
    expect(lines.slice(1).map((l) => l.replace(/, [^,]+, [\d.]+s$/, ''))).toEqual(
      [0, 1].map((ordinal) => `  replica ${ordinal}: ${path.join(root, `replica-${ordinal}`)}`),
    );

    await expectReplicasMatchSource();
  });

  it('refuses the prepared data directories of that restore without --overwrite, and replaces them with it', async () => {
    const args = [
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'physical',
      '--replicas',
      '2',
      '--volume-dir',
      path.join(root, 'replica-${POD_ORDINAL}'),
      '--wait',
    ];
    const refused = await dbkeep(...args);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n').at(-1)).toMatch(
      /^dbkeep restore: VolumeNotEmpty: replica \d: volume .*replica-\d.*nothing was changed/,
    );

    const replaced = await dbkeep(...args, '--overwrite');
    expect(replaced.code).toBe(0);
    expect(replaced.stdout.split('\n')[0]).toBe(`snapshot ${snapshotId} restored into 2 volume(s):`);
    await expectReplicasMatchSource();
  });
});

describe('dbkeep bootstrap', () => {
  it('waits for a new instance to accept connections, then applies the snapshot its bootstrapFrom selects', async () => {
    const port = await findFreePort();
    const password = `fresh-${randomBytes(6).toString('hex')}`;
    const fresh = stack.targetDocument('fresh', source, password) as { spec: Record<string, unknown> };
    fresh.spec.port = port;
    fresh.spec.bootstrapFrom = { configuration: 'shop', targetRecoveryTime: between };
    const freshFile = path.join(stack.dir, 'fresh.yaml');
    writeFileSync(freshFile, stringify(fresh));
    // The new instance's accounts are made before it first listens on the Target's port, so
    // the session sees it unreachable, then ready, never half set up.
    const initialized = await startMariaDbInstance({ dir: path.join(stack.dir, 'fresh-init'), rootPassword: password });
    await initialized.stop();

    const bootstrapped = startDbkeep(
      ['bootstrap', '-f', resourcesFile, '-f', freshFile, '--target', 'fresh', '--wait-seconds', '120', '--wait'],
      {
        env: cliEnvironment(),
        cwd: stack.dir,
      },
    );
    // The instance starts once the session is polling for it, however long the CLI took to start.
    const workflowId = await vi.waitFor(
      () => {
        const started = bootstrapped.stderr.match(/^bootstrap session (bootstrap\/fresh\/\S+) started$/m);
        expect(started).not.toBeNull();
        return started![1]!;
      },
      { timeout: 60_000, interval: 100 },
    );
    await vi.waitFor(
      async () => expect((await stack.client.status(workflowId)).steps.map((step) => step.name)).toContain('wait-for-target'),
      { timeout: 60_000, interval: 200 },
    );
    const instanceStartedAt = Date.now();
    const instance = await startMariaDbInstance({
      dir: path.join(stack.dir, 'fresh'),
      existingDatadir: initialized.datadir,
      port,
      rootPassword: password,
    });
    try {
      const result = await bootstrapped.result;
      expect(result.stderr.split('\n')[0]).toBe(`bootstrap session ${workflowId} started`);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`fresh bootstrapped from logical snapshot ${firstSnapshotId}\n`);
      await expectSameDatabases(atFirstSnapshot, instance);
      // It waited through the instance's start: it saw it unreachable first, then ready.
      const waited = (await stack.client.status(workflowId)).steps.find((step) => step.name === 'wait-for-target')!;
      expect(Date.parse(waited.startedAt)).toBeLessThan(instanceStartedAt);
      expect(Date.parse(waited.endedAt!)).toBeGreaterThan(instanceStartedAt);
    } finally {
      await instance.stop();
    }
  });
});

describe('dbkeep codec-server', () => {
  it("decodes the encrypted input of a session started by the CLI, for the UI's origin, and stops on SIGTERM", async () => {
    const port = await findFreePort();
    const server = await startCodecServer(['--port', String(port), '--ui-origin', UI_ORIGIN]);
    try {
      expect(server.line).toBe(`codec server on http://127.0.0.1:${port} for ${UI_ORIGIN} (POST /decode, /encode)\n`);
      const history = await stack.client.temporal.workflow.getHandle(`backup/shop/${firstSnapshotId}`).fetchHistory();
      const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
      // As the server stores it: encrypted, no database name in it.
      expect(Buffer.from(input.metadata!.encoding!).toString()).toBe(ENCODING);
      expect(Buffer.from(input.data!).toString('latin1')).not.toContain('shop_a');

      const response = await fetch(`http://127.0.0.1:${port}/decode`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: UI_ORIGIN },
        body: JSON.stringify({
          payloads: [
            {
              metadata: Object.fromEntries(Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
              data: Buffer.from(input.data!).toString('base64'),
            },
          ],
        }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
      const body = (await response.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
      expect(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
      const decoded = JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString()) as {
        configuration: { name: string; spec: { databases: string[] } };
      };
      expect(decoded.configuration).toMatchObject({ name: 'shop', spec: { databases: DATABASES } });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('refuses to start without the keyring, saying which setting to give', async () => {
    const result = await runDbkeep(['codec-server', '--port', '1'], {
      env: { ...cliEnvironment(), DBKEEP_PAYLOAD_KEYRING_FILE: '' },
      cwd: stack.dir,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('dbkeep codec-server: set DBKEEP_PAYLOAD_KEYRING_FILE to the keyring the workers use\n');
  });
});
