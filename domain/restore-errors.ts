/**
 * Which failures of the SQL client applying a dump no retry can fix. A retry drops the
 * restored databases and applies the whole dump again, so retrying a statement the target
 * will refuse every time only repeats minutes of work five times before failing the same way.
 *
 * Permanent: the statement itself is wrong for this server (syntax, unknown engine, charset or
 * collation, row too large, value out of range), the restore user lacks a privilege the dump
 * needs, or the client refused a client command in the dump. Everything else (lost connection,
 * deadlock, lock wait timeout, too many connections, a full disk) stays transient.
 */
const PERMANENT_SERVER_ERRORS: ReadonlyMap<number, string> = new Map([
  [1044, 'access denied to a database'],
  [1064, 'SQL syntax error'],
  [1067, 'invalid default value'],
  [1071, 'key too long'],
  [1115, 'unknown character set'],
  [1118, 'row size too large'],
  [1142, 'command denied to the restore user'],
  [1227, 'privilege missing (e.g. SUPER for a DEFINER)'],
  [1273, 'unknown collation'],
  [1286, 'unknown storage engine'],
  [1366, 'incorrect value for the column'],
  [1406, 'data too long for the column'],
]);

const SERVER_ERROR = /ERROR (\d{4}) \([0-9A-Z]{5}\)/;
const CLIENT_REFUSALS = [/ERROR at line \d+: Unknown command/, /Not allowed in the sandbox mode/];

/** Why the client's failure is permanent, or undefined when a retry may succeed. */
export function permanentRestoreErrorReason(clientMessage: string): string | undefined {
  const code = SERVER_ERROR.exec(clientMessage)?.[1];
  if (code !== undefined) return PERMANENT_SERVER_ERRORS.get(Number(code));
  if (CLIENT_REFUSALS.some((pattern) => pattern.test(clientMessage))) return 'a client command in the dump, which dbkeep never runs';
  return undefined;
}
