import type { Connection, RowDataPacket } from 'mysql2/promise';

/**
 * What must survive a backup and restore of one database: every base table's
 * CHECKSUM TABLE and row count, and the definition of every view, trigger, routine and event.
 * Two fingerprints are equal exactly when the round trip was lossless for these.
 */
export interface DatabaseFingerprint {
  tables: Record<string, { rows: number; checksum: string }>;
  views: Record<string, string>;
  triggers: Record<string, string>;
  routines: Record<string, string>;
  events: Record<string, string>;
}

const quote = (name: string) => `\`${name.replace(/`/g, '``')}\``;

async function rows(connection: Connection, sql: string, params: unknown[]): Promise<RowDataPacket[]> {
  const [result] = await connection.query<RowDataPacket[]>(sql, params);
  return result;
}

export async function fingerprintDatabase(connection: Connection, database: string): Promise<DatabaseFingerprint> {
  const tables: DatabaseFingerprint['tables'] = {};
  const baseTables = await rows(
    connection,
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    [database],
  );
  for (const { name } of baseTables) {
    const table = `${quote(database)}.${quote(String(name))}`;
    const [checksum] = await rows(connection, `CHECKSUM TABLE ${table} EXTENDED`, []);
    const [count] = await rows(connection, `SELECT COUNT(*) AS n FROM ${table}`, []);
    tables[String(name)] = { rows: Number(count?.n), checksum: String(checksum?.Checksum) };
  }
  const definitions = async (sql: string) =>
    Object.fromEntries((await rows(connection, sql, [database])).map((r) => [String(r.name), String(r.definition)]));
  return {
    tables,
    views: await definitions(
      "SELECT TABLE_NAME AS name, CONCAT_WS(' | ', VIEW_DEFINITION, DEFINER, SECURITY_TYPE, CHECK_OPTION) AS definition FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?",
    ),
    triggers: await definitions(
      "SELECT TRIGGER_NAME AS name, CONCAT_WS(' | ', ACTION_TIMING, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_STATEMENT, DEFINER, SQL_MODE) AS definition FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?",
    ),
    routines: await definitions(
      "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) AS name, CONCAT_WS(' | ', ROUTINE_DEFINITION, DTD_IDENTIFIER, SECURITY_TYPE, DEFINER, SQL_MODE) AS definition FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
    ),
    events: await definitions(
      "SELECT EVENT_NAME AS name, CONCAT_WS(' | ', EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD, STATUS, DEFINER) AS definition FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?",
    ),
  };
}

/** Human-readable differences between two fingerprints; empty when they are equal. */
export function diffFingerprints(expected: DatabaseFingerprint, actual: DatabaseFingerprint): string[] {
  const differences: string[] = [];
  for (const kind of ['tables', 'views', 'triggers', 'routines', 'events'] as const) {
    const names = new Set([...Object.keys(expected[kind]), ...Object.keys(actual[kind])]);
    for (const name of [...names].sort()) {
      const a = JSON.stringify(expected[kind][name]);
      const b = JSON.stringify(actual[kind][name]);
      if (a !== b) differences.push(`${kind} ${name}: expected ${a ?? 'absent'}, got ${b ?? 'absent'}`);
    }
  }
  return differences;
}

export function fingerprintSize(fingerprint: DatabaseFingerprint): string {
  const count = (kind: keyof DatabaseFingerprint) => Object.keys(fingerprint[kind]).length;
  return `${count('tables')} tables, ${count('views')} views, ${count('triggers')} triggers, ${count('routines')} routines, ${count('events')} events`;
}
