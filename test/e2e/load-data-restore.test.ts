import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../domain/manifest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { diffFingerprints, fingerprintDatabase } from '../../stack/database-fingerprint';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, rootConnection, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * A parallel restore into MariaDB turns a big table's INSERTs into LOAD DATA LOCAL
 * (pipeline/native/dbkeep-stage.c): every value must arrive exactly as the INSERTs would have
 * written it, whether the load converts its rows from the dump's character set or, all ASCII,
 * declares them binary; and a row the server skips must fail the restore instead of going missing.
 */
const DATABASE = 'loads';
const ROWS = 12_000;
// Everything a string can hold that the two forms escape differently, or not at all.
const STRINGS = [
  'tab\there',
  'new\nline',
  'cr\rx',
  'back\\slash',
  "single'quote",
  'double"quote',
  'nul\0byte',
  'ctrl\x1az',
  'NULL',
  '\\N',
  '',
  'ü ✓ 😀',
  'ends in \\',
];

const rowsWith = (text: string) => Array.from({ length: ROWS }, (_, i) => STRINGS[i % STRINGS.length]).filter((s) => s === text).length;
// The same strings without those beyond ASCII, for a table whose loads declare their rows binary.
const ASCII_STRINGS = STRINGS.filter((text) => [...text].every((character) => character.charCodeAt(0) < 0x80));

const TABLE_COLUMNS = `(
      id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      s VARCHAR(200) CHARACTER SET utf8mb4 NOT NULL,
      l VARCHAR(50) CHARACTER SET latin1 NULL,
      d DECIMAL(12,3) NOT NULL,
      f DOUBLE NOT NULL,
      dt DATETIME(6) NOT NULL,
      ts TIMESTAMP NULL,
      e ENUM('a','b','c d') NULL,
      st SET('x','y') NOT NULL,
      n INT NULL
    ) ENGINE=InnoDB`;

async function insertRows(connection: Connection, table: string, strings: readonly string[], surname: string): Promise<void> {
  for (let from = 0; from < ROWS; from += 1000) {
    const rows = Array.from({ length: 1000 }, (_, k) => {
      const i = from + k;
      return [
        i,
        `${strings[i % strings.length]} row ${i} ${'x'.repeat(60)}`,
        i % 7 === 0 ? null : `${surname} ${i}`,
        ((i * 7919) % 1_000_000) / 1000 - 500,
        i % 5 === 0 ? 1e20 / (i + 1) : i * 1.1e-7,
        `2024-01-01 00:00:00.${String(i % 1_000_000).padStart(6, '0')}`,
        i % 4 === 0 ? null : `2024-06-0${(i % 9) + 1} 12:00:00`,
        i % 6 === 0 ? null : ['a', 'b', 'c d'][i % 3],
        ['', 'x', 'y', 'x,y'][i % 4],
        i % 3 === 0 ? null : i - 6000,
      ];
    });
    await connection.query(`INSERT INTO ${DATABASE}.${table} (id, s, l, d, f, dt, ts, e, st, n) VALUES ?`, [rows]);
  }
}

let stack: E2eStack;
let source: MariaDbInstance;

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  const connection = await rootConnection(source);
  try {
    await connection.query(`CREATE DATABASE ${DATABASE}`);
    await connection.query(`CREATE TABLE ${DATABASE}.tricky ${TABLE_COLUMNS}`);
    await connection.query(`CREATE TABLE ${DATABASE}.words ${TABLE_COLUMNS}`);
    await connection.query(`CREATE TABLE ${DATABASE}.audit (id INT NOT NULL) ENGINE=InnoDB`);
    // Made after the data, as the dump makes it: the restored rows must not fire it.
    await connection.query(`SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')`);
    await insertRows(connection, 'tricky', STRINGS, 'Müller');
    await insertRows(connection, 'words', ASCII_STRINGS, 'Mueller');
    await connection.query(
      `CREATE TRIGGER ${DATABASE}.tricky_audit AFTER INSERT ON ${DATABASE}.tricky FOR EACH ROW INSERT INTO ${DATABASE}.audit VALUES (NEW.id)`,
    );
  } finally {
    await connection.end();
  }
});

afterAll(async () => {
  await stack?.stop();
});

const configuration = 'loads';
const resources = (target: MariaDbInstance) =>
  stack.resources(
    stack.targetDocument('source', source),
    stack.targetDocument('restored', target),
    configurationDocument(configuration, { target: 'source', databases: [DATABASE] }),
  );

async function backup(): Promise<string> {
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(resources(source), configuration))).result();
  if (result.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
  return result.snapshotId;
}

async function restore(snapshotId: string, into: MariaDbInstance) {
  const set = resources(into);
  const handle = await stack.client.restore({
    repository: resolveBackupConfiguration(set, configuration).repository,
    configuration,
    target: resolveTarget(set, 'restored'),
    selector: { snapshotId },
    parallel: 2,
  });
  return handle.result();
}

async function fingerprintOf(instance: MariaDbInstance) {
  const connection = await rootConnection(instance);
  try {
    return await fingerprintDatabase(connection, DATABASE);
  } finally {
    await connection.end();
  }
}

const loadStatements = async (instance: MariaDbInstance) =>
  Number((await rootQuery(instance, "SHOW GLOBAL STATUS LIKE 'Com_load'"))[0]!.Value);
const objectKey = (snapshotId: string, file: string) => `dbkeep/${configuration}/${snapshotId}/${file}`;

async function readObject(key: string): Promise<Buffer> {
  const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

describe('parallel restore with LOAD DATA into MariaDB', () => {
  it('loads each big table with one LOAD DATA and every value as it was: escapes, NULLs, the string NULL, latin1, id 0, rows all ASCII as bytes, triggers after', async () => {
    const snapshotId = await backup();
    const target = await stack.startMariaDb();
    const before = await loadStatements(target);
    await restore(snapshotId, target);
    expect(await loadStatements(target)).toBe(before + 2);
    expect(diffFingerprints(await fingerprintOf(source), await fingerprintOf(target))).toEqual([]);
    const [row] = await rootQuery(
      target,
      `SELECT COUNT(*) AS n, SUM(id = 0) AS zero, SUM(s LIKE 'NULL row %') AS nullText FROM ${DATABASE}.tricky`,
    );
    expect(row).toMatchObject({ n: ROWS, zero: '1', nullText: String(rowsWith('NULL')) });
    expect(await rootQuery(target, `SELECT COUNT(*) AS n FROM ${DATABASE}.audit`)).toEqual([{ n: 0 }]);
  });

  it('fails, non-retryable and naming the table, when the server skips a row (a duplicate key), and leaves nothing behind', async () => {
    const snapshotId = await backup();
    const manifestKey = objectKey(snapshotId, 'manifest.json');
    const parsed = parseManifest((await readObject(manifestKey)).toString('utf8'));
    if (!parsed.ok) throw new Error(parsed.reason);
    const manifest: Manifest = parsed.manifest;
    const sql = execFileSync('zstd', ['-d', '-c'], {
      input: await readObject(objectKey(snapshotId, manifest.data.file)),
      maxBuffer: 1 << 28,
    });
    // mariadb-dump starts every row on a line of its own: row 5 becomes a second row 6.
    const text = sql.toString('utf8');
    expect(text).toContain('\n(5,');
    const altered = execFileSync('zstd', ['-c', '-q'], { input: Buffer.from(text.replace('\n(5,', '\n(6,')), maxBuffer: 1 << 28 });
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: objectKey(snapshotId, manifest.data.file), Body: altered }));
    const rewritten: Manifest = {
      ...manifest,
      data: { ...manifest.data, storedBytes: altered.length, sha256: createHash('sha256').update(altered).digest('hex') },
    };
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: manifestKey, Body: JSON.stringify(rewritten) }));

    const target = await stack.startMariaDb();
    const failure = await workflowFailureOf(restore(snapshotId, target));
    expect(failure).toMatchObject({ type: 'RestoreStatementRejected', nonRetryable: true });
    expect(failure.message).toContain(`table \`tricky\`: the target loaded ${ROWS - 1} of its ${ROWS} rows`);
    expect(await rootQuery(target, `SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${DATABASE}'`)).toEqual([
      { n: 0 },
    ]);
  });
});
