/**
 * The checks of a physical snapshot's restore drill (docs/restore-drills.md), as pure functions
 * of what the scratch server answered: which tables CHECK TABLE covers, what its rows say, and
 * the differences the drill reports.
 */

/**
 * The table types of information_schema.TABLES that CHECK TABLE checks: MariaDB's
 * system-versioned tables are base tables too; views and sequences are not (CHECK TABLE only
 * notes that a sequence's engine "doesn't support check").
 */
export const CHECKED_TABLE_TYPES = ['BASE TABLE', 'SYSTEM VERSIONED'] as const;

/** One row of CHECK TABLE's result (`Msg_type`, `Msg_text`). */
export interface CheckTableRow {
  msgType: string;
  msgText: string;
}

/** How much of a server's or tool's message a difference keeps. */
const MESSAGE_CHARS = 300;

/** The statuses of a table that passed: InnoDB's, and MyISAM's for a table unchanged since its last check. */
const PASSED_STATUSES = new Set(['ok', 'table is already up to date']);

/**
 * What CHECK TABLE's rows say is wrong with a table, bounded; undefined when it passed. A table
 * fails on an `error` row (corruption, an upgrade needed) or a final status other than OK; notes
 * and warnings alone (an engine that checks nothing, MEMORY) do not fail it.
 */
export function checkTableFailure(rows: readonly CheckTableRow[]): string | undefined {
  const errors = rows.filter((row) => row.msgType.toLowerCase() === 'error').map((row) => row.msgText);
  const statuses = rows.filter((row) => row.msgType.toLowerCase() === 'status');
  const status = statuses.at(-1)?.msgText;
  const failedStatus = status !== undefined && !PASSED_STATUSES.has(status.trim().toLowerCase()) ? status : undefined;
  if (errors.length === 0 && failedStatus === undefined) return undefined;
  return bounded([...errors, ...(failedStatus !== undefined && !errors.includes(failedStatus) ? [failedStatus] : [])].join('; '));
}

/**
 * The differences of a physical drill, one line each: the tables that failed CHECK TABLE (with
 * the server's message), the databases of the snapshot's manifest the restored copy lacks (a
 * database created after the backup's preflight is in the copy but not the list, so only missing
 * ones count), and the dump of the restored copy when it failed (a row the server could not read).
 */
export function physicalDrillDifferences(params: {
  failedChecks: ReadonlyArray<{ database: string; table: string; failure: string }>;
  restoredDatabases: readonly string[];
  snapshotDatabases: readonly string[];
  dumpFailure?: string;
}): string[] {
  const restored = new Set(params.restoredDatabases);
  return [
    ...params.failedChecks.map(({ database, table, failure }) => `table ${database}.${table}: CHECK TABLE failed: ${failure}`),
    ...params.snapshotDatabases
      .filter((database) => !restored.has(database))
      .map((database) => `database ${database}: missing after the restore`),
    ...(params.dumpFailure === undefined ? [] : [`the dump of the restored copy failed: ${bounded(params.dumpFailure)}`]),
  ];
}

function bounded(message: string): string {
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return oneLine.length <= MESSAGE_CHARS ? oneLine : `${oneLine.slice(0, MESSAGE_CHARS - 1)}…`;
}
