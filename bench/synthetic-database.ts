import type { Connection } from 'mysql2/promise';

/**
 * A deterministic database whose logical dump is about a requested size, generated inside
 * the server with INSERT ... SELECT: a client sending a gigabyte of INSERTs would take
 * longer than the backup it is meant to measure. Every value is a function of the row
 * number and table name, so two runs of the same size back up the same bytes.
 */
export const BENCH_DATABASE = 'bench';
// Only the numbers table lives here; it is dropped once the data is in, and never backed up.
const SCRATCH_DATABASE = 'bench_scratch';
const TABLE_COUNT = 4;

/**
 * Measured size of one row in mariadb-dump's output (extended INSERTs), e.g.
 * `(1234567,'acct-01234','2024-01-15 06:56:07',1234.56,'<64 hex>','order 1234567 of ...'),`.
 * It is what turns a size into a row count; the backup then reports the real raw size.
 */
const DUMP_BYTES_PER_ROW = 234;

export interface SyntheticDatabasePlan {
  database: string;
  tables: string[];
  rowsPerTable: number;
}

export function planSyntheticDatabase(dumpSizeMiB: number): SyntheticDatabasePlan {
  const rowsPerTable = Math.max(1, Math.ceil((dumpSizeMiB * 1024 * 1024) / TABLE_COUNT / DUMP_BYTES_PER_ROW));
  const tables = Array.from({ length: TABLE_COUNT }, (_, index) => `ledger_${index + 1}`);
  return { database: BENCH_DATABASE, tables, rowsPerTable };
}

function createTableSql(database: string, table: string): string {
  return `CREATE TABLE \`${database}\`.\`${table}\` (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    account VARCHAR(16) NOT NULL,
    created_at DATETIME NOT NULL,
    amount DECIMAL(12,2) NOT NULL,
    digest CHAR(64) NOT NULL,
    note VARCHAR(255) NOT NULL
  ) ENGINE=InnoDB`;
}

/**
 * The mix is what makes the dump moderately compressible, as real data is: a SHA-256 per row
 * (hex, about 2:1 under zstd), a few repeating values (accounts, a thousand 32-digit hashes) and a
 * digest fragment repeated within the row (highly compressible). The thousand hashes are the
 * first 32 digits of a SHA-256, not MD5s as until 2026-12-04: MySQL 9.7 has no MD5().
 */
function fillTableSql(database: string, table: string): string {
  return `INSERT INTO \`${database}\`.\`${table}\` (id, account, created_at, amount, digest, note)
    SELECT n,
      CONCAT('acct-', LPAD(n MOD 9973, 5, '0')),
      '2024-01-01 00:00:00' + INTERVAL n SECOND,
      (n * 7919 MOD 1000000) / 100,
      SHA2(CONCAT('${table}:', n), 256),
      CONCAT('order ', n, ' of ', LEFT(SHA2(n MOD 1000, 256), 32), ' ', REPEAT(LEFT(SHA2(CONCAT('${table}:', n), 256), 8), 8))
    FROM \`${SCRATCH_DATABASE}\`.numbers WHERE n <= ?`;
}

/** Fills numbers with 1..count by doubling: about log2(count) statements, each a single INSERT ... SELECT. */
async function createNumbersTable(connection: Connection, count: number): Promise<void> {
  await connection.query(`CREATE TABLE \`${SCRATCH_DATABASE}\`.numbers (n INT UNSIGNED NOT NULL PRIMARY KEY) ENGINE=InnoDB`);
  await connection.query(`INSERT INTO \`${SCRATCH_DATABASE}\`.numbers VALUES (1)`);
  for (let filled = 1; filled < count; filled *= 2) {
    await connection.query(
      `INSERT INTO \`${SCRATCH_DATABASE}\`.numbers SELECT n + ? FROM \`${SCRATCH_DATABASE}\`.numbers WHERE n + ? <= ?`,
      [filled, filled, count],
    );
  }
}

/** Creates the database from scratch (dropping a previous one) and fills every table of the plan. */
export async function generateSyntheticDatabase(connection: Connection, plan: SyntheticDatabasePlan): Promise<void> {
  await connection.query(`DROP DATABASE IF EXISTS \`${plan.database}\``);
  await connection.query(`DROP DATABASE IF EXISTS \`${SCRATCH_DATABASE}\``);
  await connection.query(`CREATE DATABASE \`${plan.database}\``);
  await connection.query(`CREATE DATABASE \`${SCRATCH_DATABASE}\``);
  await createNumbersTable(connection, plan.rowsPerTable);
  for (const table of plan.tables) {
    await connection.query(createTableSql(plan.database, table));
    await connection.query(fillTableSql(plan.database, table), [plan.rowsPerTable]);
  }
  await connection.query(`DROP DATABASE \`${SCRATCH_DATABASE}\``);
}
