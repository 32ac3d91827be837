import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { pathWithReleaseTools } from '../../stack/database-instance';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { activityRecords, onlyActivity } from '../reliability/fault-harness';
import { configurationDocument, fingerprintDatabases, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { ObjectReplacedBetweenReads } from '../support/object-replaced-between-reads';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * `overwrite` replaces a target's databases with the snapshot's, and never loses them: a restore
 * that fails at the start, in the middle (on MariaDB and on MySQL 9.7) or at the end of its apply
 * leaves every database it was replacing exactly as it was (fingerprints equal), and dbkeep's own
 * work schemas are gone. A worker without the client fails the restore before anything is kept.
 */
let stack: E2eStack;
const replacing = new ObjectReplacedBetweenReads();
let source: MariaDbInstance;
let snapshotId: string;
const hostPath = process.env.PATH ?? '';

const BIG_ROW_BYTES = 2 * 1024 * 1024;

async function sql(instance: MariaDbInstance, statements: string[]): Promise<void> {
  const connection = await rootConnection(instance);
  try {
    for (const statement of statements) await connection.query(statement);
  } finally {
    await connection.end();
  }
}

async function schemas(instance: MariaDbInstance): Promise<string[]> {
  const connection = await rootConnection(instance);
  try {
    const [rows] = await connection.query<RowDataPacket[]>(
      'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME',
    );
    return rows.map((r) => String(r.name));
  } finally {
    await connection.end();
  }
}

/** Runs `use` with the in-process worker's PATH set to `searchPath`: the tools a worker image would have. */
async function withWorkerPath<T>(searchPath: string, use: () => Promise<T>): Promise<T> {
  process.env.PATH = searchPath;
  try {
    return await use();
  } finally {
    process.env.PATH = hostPath;
  }
}

/** The snapshot's `shop`: a table, one row of 2 MiB in the middle table, a view on another database's table (created last). */
async function createSourceShop(instance: MariaDbInstance): Promise<void> {
  await sql(instance, [
    'CREATE DATABASE other',
    'CREATE TABLE other.t (id INT PRIMARY KEY)',
    'INSERT INTO other.t VALUES (1), (2)',
    'CREATE DATABASE shop',
    'CREATE TABLE shop.a (id INT PRIMARY KEY, note VARCHAR(20))',
    "INSERT INTO shop.a VALUES (1, 'new'), (2, 'snapshot')",
    'CREATE TABLE shop.b (id INT PRIMARY KEY, payload LONGBLOB)',
    `INSERT INTO shop.b VALUES (1, REPEAT('x', ${BIG_ROW_BYTES}))`,
    'CREATE TABLE shop.c (id INT PRIMARY KEY)',
    'INSERT INTO shop.c VALUES (10), (20), (30)',
    'CREATE VIEW shop.v_other AS SELECT id FROM other.t',
  ]);
}

/** What the target holds before: other tables, views, triggers, routines and events, all of which must survive a failed restore. */
async function createTargetShop(instance: MariaDbInstance, withOther: boolean): Promise<void> {
  await sql(instance, [
    ...(withOther ? ['CREATE DATABASE other', 'CREATE TABLE other.t (id INT PRIMARY KEY)'] : []),
    'CREATE DATABASE shop CHARACTER SET latin1 COLLATE latin1_swedish_ci',
    'CREATE TABLE shop.a (id INT PRIMARY KEY, note VARCHAR(20))',
    "INSERT INTO shop.a VALUES (1, 'old'), (3, 'precious')",
    'CREATE TABLE shop.only_here (id INT PRIMARY KEY, parent INT, FOREIGN KEY (parent) REFERENCES shop.a (id)) ENGINE=InnoDB',
    'INSERT INTO shop.only_here VALUES (1, 1)',
    'CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20)) ENGINE=MyISAM',
    'CREATE TRIGGER shop.a_audit AFTER INSERT ON shop.a FOR EACH ROW INSERT INTO shop.audit (note) VALUES (NEW.note)',
    'CREATE VIEW shop.v_a AS SELECT id, note FROM shop.a',
    'CREATE VIEW shop.v_v_a AS SELECT COUNT(*) AS n FROM shop.v_a',
    'CREATE FUNCTION shop.twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2',
    'CREATE PROCEDURE shop.touch() SELECT 1',
    'CREATE EVENT shop.nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM shop.audit',
  ]);
}

async function backupShop(from: MariaDbInstance, configuration = 'shop'): Promise<string> {
  const resources = stack.resources(
    stack.targetDocument('source', from),
    configurationDocument(configuration, { target: 'source', databases: ['shop'] }),
  );
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(resources, configuration))).result();
  if (result.outcome !== 'succeeded') throw new Error('backup skipped');
  return result.snapshotId;
}

/** The snapshot of another configuration than the MariaDB source's `shop`. */
interface RestoreOptions {
  args?: string[];
  parallel?: number;
  snapshot?: { configuration: string; snapshotId: string };
}

function startShopRestore(into: MariaDbInstance, { snapshot, ...options }: RestoreOptions = {}) {
  const configuration = snapshot?.configuration ?? 'shop';
  const resources = stack.resources(stack.targetDocument('restored', into), configurationDocument(configuration, { target: 'restored' }));
  return stack.client.restore({
    repository: resolveBackupConfiguration(resources, configuration).repository,
    configuration,
    target: resolveTarget(resources, 'restored'),
    selector: { snapshotId: snapshot?.snapshotId ?? snapshotId },
    overwrite: true,
    ...options,
  });
}

function restoreShop(into: MariaDbInstance, options: RestoreOptions = {}) {
  return startShopRestore(into, options).then((handle) => handle.result());
}

/** Restores with overwrite, expects it to fail for good with `type`, and the target to be exactly as before. */
async function expectFailedRestoreChangesNothing(target: MariaDbInstance, type: string, options: RestoreOptions = {}) {
  const before = { schemas: await schemas(target), fingerprints: await fingerprintDatabases(target, ['shop', 'other']) };
  const failure = await workflowFailureOf(restoreShop(target, options));
  expect(failure.type).toBe(type);
  expect(failure.nonRetryable).toBe(true);
  // Bounded, whatever the client printed: the server's message, never the 2 MiB statement.
  expect(failure.message.length).toBeLessThan(2_000);
  expect(failure.message).toContain('put back');
  expect(await schemas(target)).toEqual(before.schemas);
  expect(await fingerprintDatabases(target, ['shop', 'other'])).toEqual(before.fingerprints);
  return failure;
}

beforeAll(async () => {
  stack = await startE2eStack({ openStorage: replacing.open });
  source = await stack.startMariaDb();
  await createSourceShop(source);
  snapshotId = await backupShop(source);
});

afterAll(async () => {
  process.env.PATH = hostPath;
  await stack?.stop();
});

describe('an overwrite that fails leaves the target as it was', () => {
  it('fails at the start of the apply (a statement the target refuses at once)', async () => {
    const target = await stack.startMariaDb();
    await createTargetShop(target, true);
    const failure = await expectFailedRestoreChangesNothing(target, 'RestoreStatementRejected', {
      args: ['--init-command=DO no_such_function()'],
    });
    expect(failure.message).toMatch(/ERROR 1305/);
  });

  it("fails in the middle of the apply (a row larger than the target's max_allowed_packet), serially and in parallel", async () => {
    const target = await stack.startMariaDb({ extraArgs: ['--max-allowed-packet=1M'] });
    await createTargetShop(target, true);
    const serial = await expectFailedRestoreChangesNothing(target, 'RestoreStatementRejected');
    expect(serial.message).toMatch(/max_allowed_packet/);
    await expectFailedRestoreChangesNothing(target, 'RestoreStatementRejected', { parallel: 2 });
  });

  it("fails in the middle of the apply into MySQL 9.7 (a row larger than the target's max_allowed_packet)", async () => {
    await withWorkerPath(pathWithReleaseTools('mysql-9.7', hostPath), async () => {
      // A MySQL dump loads into MySQL only: one server is the source, then the target (a server costs a while on two cores).
      const mysql = await stack.startDatabase({ release: 'mysql-9.7', gtid: true });
      await createSourceShop(mysql);
      const snapshot = { configuration: 'shop-mysql', snapshotId: await backupShop(mysql, 'shop-mysql') };
      await sql(mysql, ['DROP DATABASE shop', 'DROP DATABASE other']);
      await createTargetShop(mysql, true);
      // Read by every session opened after it: the restore's client.
      await sql(mysql, ['SET GLOBAL max_allowed_packet = 1048576']);
      const failure = await expectFailedRestoreChangesNothing(mysql, 'RestoreStatementRejected', { snapshot });
      expect(failure.message).toMatch(/max_allowed_packet/);
    });
  });

  it('fails when the stored object changed between the checksum pass and the apply (a serial restore reads it twice)', async () => {
    const target = await stack.startMariaDb();
    await createTargetShop(target, true);
    // A valid dump of the same database with other rows: what the object "becomes" in between.
    await sql(source, ["UPDATE shop.a SET note = 'replaced' WHERE id = 1"]);
    const replacement = await backupShop(source, 'shop-replacement');
    await sql(source, ["UPDATE shop.a SET note = 'new' WHERE id = 1"]);
    const dataKey = async (configuration: string, id: string) =>
      (await stack.listKeys(`${configuration}/${id}/`)).find((key) => !key.endsWith('/manifest.json'))!;
    replacing.arm(await dataKey('shop', snapshotId), await dataKey('shop-replacement', replacement));
    try {
      const failure = await expectFailedRestoreChangesNothing(target, 'ChecksumMismatch');
      expect(failure.message).toBe(
        `snapshot ${snapshotId}: its data object changed in the repository during the restore (its SHA-256 no longer matches the manifest); ` +
          'the databases it replaces are put back as they were',
      );
      // The checksum pass read the snapshot's bytes, the apply the replacement's.
      expect(replacing.reads).toBe(2);
    } finally {
      replacing.disarm();
    }
  });

  it("fails at once, before anything is kept, when the worker lacks the engine's client", async () => {
    const target = await stack.startMariaDb();
    await createTargetShop(target, true);
    const before = { schemas: await schemas(target), fingerprints: await fingerprintDatabases(target, ['shop', 'other']) };
    // A worker image with zstd only: the in-process worker runs the tools PATH gives it.
    const bin = mkdtempSync(path.join(stack.dir, 'bin-'));
    symlinkSync(execFileSync('which', ['zstd']).toString().trim(), path.join(bin, 'zstd'));
    const { handle, failure } = await withWorkerPath(bin, async () => {
      const started = await startShopRestore(target);
      return { handle: started, failure: await workflowFailureOf(started.result()) };
    });
    expect(failure).toMatchObject({ type: 'ToolNotFound', nonRetryable: true });
    expect(failure.message).toBe(
      "mariadb (the mariadb client) is not on the worker's PATH: its image needs MariaDB's client tools, for engine mariadb (Debian: mariadb-client)",
    );
    const activities = await activityRecords(stack.client.temporal, handle.workflowId);
    expect(onlyActivity(activities, 'inspectRestoreTarget')).toMatchObject({
      outcome: 'failed',
      attempt: 1,
      failure: { type: 'ToolNotFound', nonRetryable: true },
    });
    expect(activities.map((activity) => activity.activityType)).not.toContain('restoreFromSnapshot');
    expect(await schemas(target)).toEqual(before.schemas);
    expect(before.schemas.filter((schema) => schema.startsWith('_dbkeep_'))).toEqual([]);
    expect(await fingerprintDatabases(target, ['shop', 'other'])).toEqual(before.fingerprints);
  });

  it('fails at the end of the apply (a view on a table the target lacks)', async () => {
    const target = await stack.startMariaDb();
    await createTargetShop(target, false);
    const failure = await expectFailedRestoreChangesNothing(target, 'RestoreStatementRejected');
    expect(failure.message).toMatch(/ERROR 1146/);
  });

  it('replaces the databases when it succeeds, and leaves no work schema behind', async () => {
    const target = await stack.startMariaDb();
    await createTargetShop(target, true);
    const schemasBefore = await schemas(target);
    const result = await restoreShop(target);
    expect(result.databases).toEqual(['shop']);
    expect(result.gtid).toMatch(/left alone/);
    expect(await fingerprintDatabases(target, ['shop'])).toEqual(await fingerprintDatabases(source, ['shop']));
    expect(await schemas(target)).toEqual(schemasBefore);
  });
});
