import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { sakilaDatasetFiles } from '../../stack/sakila-dataset';
import { loadSqlFiles } from '../../stack/sql-loader';
import { rootConnection } from './e2e-stack';

/** Sakila, plus one disabled event: Sakila has none, and events must round-trip too. */
export async function loadSakila(instance: MariaDbInstance): Promise<void> {
  await loadSqlFiles(instance, sakilaDatasetFiles());
  const connection = await rootConnection(instance);
  try {
    await connection.query(
      "CREATE EVENT sakila.purge_old_payments ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM sakila.payment WHERE payment_date < '2000-01-01'",
    );
  } finally {
    await connection.end();
  }
}

/** A database name and a table name that need quoting everywhere they appear. */
export const AWKWARD_DATABASE = 'odd `db` \'q\' "x" ü-ß';
export const AWKWARD_TABLE = 'table with `tick` and ünïcode';
const q = (name: string) => `\`${name.replace(/`/g, '``')}\``;

const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** Rows that break naive dumps: every byte value, \0 and quotes in blobs, 4-byte UTF-8, NULL next to ''. */
export async function createAwkwardDatabase(instance: MariaDbInstance): Promise<void> {
  const connection = await rootConnection(instance);
  try {
    await connection.query(`CREATE DATABASE ${q(AWKWARD_DATABASE)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await connection.query(
      `CREATE TABLE ${q(AWKWARD_DATABASE)}.${q(AWKWARD_TABLE)} (
         id INT PRIMARY KEY, txt MEDIUMTEXT CHARACTER SET utf8mb4, bin LONGBLOB, note VARCHAR(20) NULL
       ) ENGINE=InnoDB`,
    );
    const rows: Array<[number, string | null, Buffer | null, string | null]> = [
      [1, 'emoji 😀🎉 and CJK 漢字 and RTL שלום', EVERY_BYTE, 'plain'],
      [2, 'quotes \' " ` and backslash \\ and \\n literal and newline\nand tab\t', Buffer.from('\'"\\\0\n\r\x1a'), ''],
      [3, null, null, null],
      [4, '', Buffer.alloc(0), 'empty'],
      [5, 'x'.repeat(70_000), Buffer.concat(Array.from({ length: 4096 }, () => EVERY_BYTE)), 'large'],
    ];
    for (const row of rows) {
      await connection.query(`INSERT INTO ${q(AWKWARD_DATABASE)}.${q(AWKWARD_TABLE)} VALUES (?, ?, ?, ?)`, row);
    }
  } finally {
    await connection.end();
  }
}

/** The awkward table's content, byte for byte (HEX), NULLs distinct from empty values. */
export async function awkwardRows(connection: Connection): Promise<RowDataPacket[]> {
  const [rows] = await connection.query<RowDataPacket[]>(
    `SELECT id, HEX(txt) AS txt, txt IS NULL AS txt_null, HEX(bin) AS bin, bin IS NULL AS bin_null, note, note IS NULL AS note_null
       FROM ${q(AWKWARD_DATABASE)}.${q(AWKWARD_TABLE)} ORDER BY id`,
  );
  return rows;
}
