import type mysql from 'mysql2/promise';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import {
  KEPT_OBJECT_KINDS,
  keepSchemaName,
  RESTORE_CONTROL_SCHEMA,
  type KeptDatabaseState,
  type KeptObjectKind,
} from '../domain/kept-databases';

/**
 * An overwriting restore never drops what it replaces before it has succeeded. Before the apply,
 * each replaced database's tables move to a keep schema with one `RENAME TABLE` (metadata only,
 * on both engines, whatever the size), after the definitions of its views, routines, events and
 * triggers were recorded in the control schema (triggers and views cannot move between schemas).
 * The database is then dropped and the dump applied as it is. Success discards the keep schemas;
 * failure, cancellation or a worker that died puts every database back as it was.
 *
 * Every step records its state on the target itself, so a retried or compensating activity on
 * another worker resumes where the last one stopped. `keep`, `discard` and `putBack` are each
 * idempotent.
 */

const q = (name: string) => `\`${name.replace(/`/g, '``')}\``;

type Row = mysql.RowDataPacket;

interface KeptDatabase {
  database: string;
  keepSchema: string;
  existed: boolean;
  state: KeptDatabaseState;
  charset: string;
  collation: string;
  /** How many tables it held when it was kept: tells a database put back from one that never had any. */
  tableCount: number;
}

async function rows(connection: mysql.Connection, sql: string, params: unknown[] = []): Promise<Row[]> {
  const [result] = await connection.query<Row[]>(sql, params);
  return result;
}

async function ensureControlSchema(connection: mysql.Connection): Promise<void> {
  const control = q(RESTORE_CONTROL_SCHEMA);
  await connection.query(`CREATE DATABASE IF NOT EXISTS ${control} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await connection.query(
    `CREATE TABLE IF NOT EXISTS ${control}.kept_databases (
       database_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY,
       keep_schema VARCHAR(64) NOT NULL,
       existed BOOLEAN NOT NULL,
       state VARCHAR(16) NOT NULL,
       charset VARCHAR(64) NOT NULL,
       collation_name VARCHAR(64) NOT NULL,
       table_count INT NOT NULL,
       restore_id VARCHAR(255) NOT NULL
     ) ENGINE=InnoDB`,
  );
  await connection.query(
    `CREATE TABLE IF NOT EXISTS ${control}.kept_objects (
       database_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
       seq INT NOT NULL,
       kind VARCHAR(16) NOT NULL,
       name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
       statement LONGTEXT CHARACTER SET utf8mb4 NOT NULL,
       sql_mode VARCHAR(1024) NULL,
       time_zone VARCHAR(64) NULL,
       character_set_client VARCHAR(64) NOT NULL,
       collation_connection VARCHAR(64) NOT NULL,
       PRIMARY KEY (database_name, seq)
     ) ENGINE=InnoDB`,
  );
}

async function controlSchemaExists(connection: mysql.Connection): Promise<boolean> {
  return (await rows(connection, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [RESTORE_CONTROL_SCHEMA])).length > 0;
}

async function keptDatabases(connection: mysql.Connection, databases?: readonly string[]): Promise<KeptDatabase[]> {
  if (!(await controlSchemaExists(connection))) return [];
  const found = await rows(
    connection,
    `SELECT database_name, keep_schema, existed, state, charset, collation_name, table_count FROM ${q(RESTORE_CONTROL_SCHEMA)}.kept_databases ORDER BY database_name`,
  );
  return found
    .map((r) => ({
      database: String(r.database_name),
      keepSchema: String(r.keep_schema),
      existed: Boolean(r.existed),
      state: String(r.state) as KeptDatabaseState,
      charset: String(r.charset),
      collation: String(r.collation_name),
      tableCount: Number(r.table_count),
    }))
    .filter((kept) => databases === undefined || databases.includes(kept.database));
}

async function setState(connection: mysql.Connection, database: string, state: KeptDatabaseState): Promise<void> {
  await connection.query(`UPDATE ${q(RESTORE_CONTROL_SCHEMA)}.kept_databases SET state = ? WHERE database_name = ?`, [state, database]);
}

/** Tables, sequences and system-versioned tables: everything RENAME TABLE moves. */
async function movableTables(connection: mysql.Connection, schema: string): Promise<string[]> {
  const found = await rows(
    connection,
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW'",
    [schema],
  );
  return found.map((r) => String(r.name));
}

async function schemaExists(connection: mysql.Connection, schema: string): Promise<boolean> {
  return (await rows(connection, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [schema])).length > 0;
}

/** One RENAME TABLE for all of them: atomic on both engines, so either every table moved or none. */
async function moveTables(connection: mysql.Connection, from: string, to: string): Promise<void> {
  const tables = await movableTables(connection, from);
  if (tables.length === 0) return;
  await connection.query(`RENAME TABLE ${tables.map((t) => `${q(from)}.${q(t)} TO ${q(to)}.${q(t)}`).join(', ')}`);
}

interface ObjectDefinition {
  kind: KeptObjectKind;
  name: string;
  statement: string;
  sqlMode: string | null;
  timeZone: string | null;
  characterSetClient: string;
  collationConnection: string;
}

const SHOW_CREATE_COLUMN: Record<KeptObjectKind, string> = {
  VIEW: 'Create View',
  PROCEDURE: 'Create Procedure',
  FUNCTION: 'Create Function',
  EVENT: 'Create Event',
  TRIGGER: 'SQL Original Statement',
};

/** The database's objects that cannot move with its tables, in the order they are recreated. */
async function objectNames(connection: mysql.Connection, database: string): Promise<Array<{ kind: KeptObjectKind; name: string }>> {
  const views = await rows(
    connection,
    'SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
    [database],
  );
  const routines = await rows(
    connection,
    'SELECT ROUTINE_TYPE AS kind, ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME',
    [database],
  );
  const events = await rows(
    connection,
    'SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME',
    [database],
  );
  // Created in ACTION_ORDER, they get the same order again on their table.
  const triggers = await rows(
    connection,
    'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER',
    [database],
  );
  return [
    ...views.map((r) => ({ kind: 'VIEW' as const, name: String(r.name) })),
    ...routines
      .filter((r) => r.kind === 'PROCEDURE' || r.kind === 'FUNCTION')
      .map((r) => ({ kind: r.kind as KeptObjectKind, name: String(r.name) })),
    ...events.map((r) => ({ kind: 'EVENT' as const, name: String(r.name) })),
    ...triggers.map((r) => ({ kind: 'TRIGGER' as const, name: String(r.name) })),
  ];
}

async function showCreate(connection: mysql.Connection, database: string, kind: KeptObjectKind, name: string): Promise<ObjectDefinition> {
  const [row] = await rows(connection, `SHOW CREATE ${kind} ${q(database)}.${q(name)}`);
  const statement = row?.[SHOW_CREATE_COLUMN[kind]];
  if (typeof statement !== 'string' || statement === '') {
    // The server answers without the body when the user may not see it: a retry sees no more.
    throw permanentFailure(
      PermanentFailureType.InsufficientPrivileges,
      `cannot read the definition of ${kind.toLowerCase()} ${database}.${name} to keep it while the restore replaces it: ` +
        'the restore user needs SHOW VIEW for views, and for routines SHOW_ROUTINE on MySQL or SELECT on mysql.proc on MariaDB 10 (docs/security.md)',
    );
  }
  return {
    kind,
    name,
    statement,
    sqlMode: row!.sql_mode === undefined ? null : String(row!.sql_mode),
    timeZone: row!.time_zone === undefined ? null : String(row!.time_zone),
    characterSetClient: String(row!.character_set_client),
    collationConnection: String(row!.collation_connection),
  };
}

async function recordDefinitions(connection: mysql.Connection, database: string): Promise<void> {
  const control = q(RESTORE_CONTROL_SCHEMA);
  const definitions: ObjectDefinition[] = [];
  for (const { kind, name } of await objectNames(connection, database))
    definitions.push(await showCreate(connection, database, kind, name));
  await connection.query(`DELETE FROM ${control}.kept_objects WHERE database_name = ?`, [database]);
  for (const [seq, d] of definitions.entries()) {
    await connection.query(
      `INSERT INTO ${control}.kept_objects (database_name, seq, kind, name, statement, sql_mode, time_zone, character_set_client, collation_connection)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [database, seq, d.kind, d.name, d.statement, d.sqlMode, d.timeZone, d.characterSetClient, d.collationConnection],
    );
  }
}

async function recordedDefinitions(connection: mysql.Connection, database: string): Promise<ObjectDefinition[]> {
  const found = await rows(
    connection,
    `SELECT kind, name, statement, sql_mode, time_zone, character_set_client, collation_connection
       FROM ${q(RESTORE_CONTROL_SCHEMA)}.kept_objects WHERE database_name = ? ORDER BY seq`,
    [database],
  );
  return found.map((r) => ({
    kind: String(r.kind) as KeptObjectKind,
    name: String(r.name),
    statement: String(r.statement),
    sqlMode: r.sql_mode === null ? null : String(r.sql_mode),
    timeZone: r.time_zone === null ? null : String(r.time_zone),
    characterSetClient: String(r.character_set_client),
    collationConnection: String(r.collation_connection),
  }));
}

/** Recreates one object in `database` with the session settings it was defined under. */
async function recreate(connection: mysql.Connection, database: string, d: ObjectDefinition): Promise<void> {
  await connection.query(`DROP ${d.kind} IF EXISTS ${q(database)}.${q(d.name)}`);
  await connection.query('SET SESSION character_set_client = ?, SESSION collation_connection = ?', [
    d.characterSetClient,
    d.collationConnection,
  ]);
  if (d.sqlMode !== null) await connection.query('SET SESSION sql_mode = ?', [d.sqlMode]);
  if (d.timeZone !== null) await connection.query('SET SESSION time_zone = ?', [d.timeZone]);
  await connection.query(d.statement);
}

/** Views may select from views: each round creates what it can, until all exist or a round makes no progress. */
async function recreateObjects(connection: mysql.Connection, database: string): Promise<void> {
  await connection.query(`USE ${q(database)}`);
  const [savedMode] = await rows(connection, 'SELECT @@SESSION.sql_mode AS m, @@SESSION.time_zone AS tz');
  let pending = (await recordedDefinitions(connection, database)).sort(
    (a, b) => KEPT_OBJECT_KINDS.indexOf(a.kind) - KEPT_OBJECT_KINDS.indexOf(b.kind),
  );
  try {
    while (pending.length > 0) {
      const failed: Array<{ definition: ObjectDefinition; error: Error }> = [];
      for (const definition of pending) {
        try {
          await recreate(connection, database, definition);
        } catch (error) {
          failed.push({ definition, error: error as Error });
        }
      }
      if (failed.length === pending.length) {
        const first = failed[0]!;
        throw new Error(`recreating ${first.definition.kind.toLowerCase()} ${database}.${first.definition.name}: ${first.error.message}`);
      }
      pending = failed.map((f) => f.definition);
    }
  } finally {
    await connection.query('SET SESSION sql_mode = ?, SESSION time_zone = ?, NAMES utf8mb4', [savedMode!.m, savedMode!.tz]);
  }
}

/**
 * Moves every database the restore replaces out of the way, recording what it takes to put it
 * back. A database the target does not hold is recorded too, so a failed restore drops what it
 * created there. Resumes a keep an earlier attempt left unfinished.
 */
export async function keepReplacedDatabases(connection: mysql.Connection, databases: readonly string[], restoreId: string): Promise<void> {
  await ensureControlSchema(connection);
  // Foreign keys from other databases may point at tables that move.
  await connection.query('SET SESSION foreign_key_checks = 0');
  const already = new Map((await keptDatabases(connection, databases)).map((k) => [k.database, k]));
  for (const database of databases) {
    let kept = already.get(database);
    if (kept === undefined) {
      const [schema] = await rows(
        connection,
        'SELECT DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation_name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
        [database],
      );
      kept = {
        database,
        keepSchema: keepSchemaName(database),
        existed: schema !== undefined,
        state: schema === undefined ? 'kept' : 'saving',
        charset: String(schema?.charset ?? ''),
        collation: String(schema?.collation_name ?? ''),
        tableCount: schema === undefined ? 0 : (await movableTables(connection, database)).length,
      };
      await connection.query(
        `INSERT INTO ${q(RESTORE_CONTROL_SCHEMA)}.kept_databases (database_name, keep_schema, existed, state, charset, collation_name, table_count, restore_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [database, kept.keepSchema, kept.existed, kept.state, kept.charset, kept.collation, kept.tableCount, restoreId],
      );
    }
    if (kept.state === 'saving') {
      await recordDefinitions(connection, database);
      await setState(connection, database, 'saved');
      kept.state = 'saved';
    }
    if (kept.state === 'saved') {
      await connection.query(`CREATE DATABASE IF NOT EXISTS ${q(kept.keepSchema)}`);
      // Triggers cannot change schema with their table; their definitions are recorded.
      for (const trigger of await rows(
        connection,
        'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?',
        [database],
      )) {
        await connection.query(`DROP TRIGGER IF EXISTS ${q(database)}.${q(String(trigger.name))}`);
      }
      if (await schemaExists(connection, database)) await moveTables(connection, database, kept.keepSchema);
      await connection.query(`DROP DATABASE IF EXISTS ${q(database)}`);
      await setState(connection, database, 'kept');
    }
  }
}

/** After a successful restore: what was kept is no longer needed. */
export async function discardKeptDatabases(connection: mysql.Connection, databases: readonly string[]): Promise<void> {
  await connection.query('SET SESSION foreign_key_checks = 0');
  for (const kept of await keptDatabases(connection, databases)) {
    await connection.query(`DROP DATABASE IF EXISTS ${q(kept.keepSchema)}`);
    await forget(connection, kept.database);
  }
  await dropControlSchemaIfUnused(connection);
}

/**
 * After a failed or cancelled restore: every database it replaced is back as it was before, and
 * those it created are gone. Returns the databases put back.
 */
export async function putBackKeptDatabases(connection: mysql.Connection, databases: readonly string[]): Promise<string[]> {
  await connection.query('SET SESSION foreign_key_checks = 0');
  const putBack: string[] = [];
  for (const kept of await keptDatabases(connection, databases)) {
    if (!kept.existed) {
      await connection.query(`DROP DATABASE IF EXISTS ${q(kept.database)}`);
    } else if (kept.state === 'saving') {
      // Nothing was moved or dropped yet: the database is as it was.
    } else {
      // RENAME moves all tables or none: a keep schema still holding tables has not been moved back.
      const stillKept = (await schemaExists(connection, kept.keepSchema)) && (await movableTables(connection, kept.keepSchema)).length > 0;
      // Once kept, the database holds what the failed apply left, unless its tables are back already.
      if (kept.state === 'kept' && (stillKept || kept.tableCount === 0))
        await connection.query(`DROP DATABASE IF EXISTS ${q(kept.database)}`);
      await connection.query(`CREATE DATABASE IF NOT EXISTS ${q(kept.database)}${defaultCharacterSet(kept)}`);
      if (stillKept) await moveTables(connection, kept.keepSchema, kept.database);
      await recreateObjects(connection, kept.database);
      await connection.query(`DROP DATABASE IF EXISTS ${q(kept.keepSchema)}`);
      putBack.push(kept.database);
    }
    await forget(connection, kept.database);
  }
  await dropControlSchemaIfUnused(connection);
  return putBack;
}

/** The database's own defaults again; names read back from the control table are only used as plain words. */
function defaultCharacterSet(kept: KeptDatabase): string {
  const word = /^[A-Za-z0-9_]+$/;
  return word.test(kept.charset) && word.test(kept.collation) ? ` CHARACTER SET ${kept.charset} COLLATE ${kept.collation}` : '';
}

async function forget(connection: mysql.Connection, database: string): Promise<void> {
  const control = q(RESTORE_CONTROL_SCHEMA);
  await connection.query(`DELETE FROM ${control}.kept_objects WHERE database_name = ?`, [database]);
  await connection.query(`DELETE FROM ${control}.kept_databases WHERE database_name = ?`, [database]);
}

async function dropControlSchemaIfUnused(connection: mysql.Connection): Promise<void> {
  if (!(await controlSchemaExists(connection))) return;
  const [left] = await rows(connection, `SELECT COUNT(*) AS n FROM ${q(RESTORE_CONTROL_SCHEMA)}.kept_databases`);
  if (Number(left?.n) === 0) await connection.query(`DROP DATABASE IF EXISTS ${q(RESTORE_CONTROL_SCHEMA)}`);
}
