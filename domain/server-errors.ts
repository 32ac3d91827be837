/**
 * What a failed dump or restore tool's server error means for a retry, for both engines.
 *
 * A retry of a restore applies the whole dump again, and a retry of a backup dumps everything
 * again: retrying a statement the server refuses every time repeats minutes of work five times
 * and then fails the same way. So a server error is permanent unless it is one a retry can outlast:
 * a lost or refused connection, a server shutting down or restarting, a timeout, a deadlock,
 * too many connections, a full disk or table (space can be freed).
 */
const TRANSIENT_SERVER_ERRORS: ReadonlyMap<number, string> = new Map([
  [1021, 'disk full'],
  [1040, 'too many connections'],
  [1053, 'server shutting down'],
  [1077, 'server shutting down'],
  [1078, 'server shutting down'],
  [1079, 'server shutting down'],
  [1080, 'server shutting down'],
  [1114, 'table full'],
  [1152, 'connection aborted'],
  [1154, 'read error on the connection'],
  [1155, 'read error on the connection'],
  [1156, 'packets out of order on the connection'],
  [1158, 'read error on the connection'],
  [1159, 'read timeout on the connection'],
  [1160, 'write error on the connection'],
  [1161, 'write timeout on the connection'],
  [1205, 'lock wait timeout'],
  [1213, 'deadlock'],
  [1317, 'query interrupted'],
  [1927, 'connection killed'],
  [2002, 'cannot connect'],
  [2003, 'cannot connect'],
  [2005, 'unknown server host'],
  [2006, 'server gone away'],
  [2013, 'lost connection during a query'],
  [2055, 'lost connection'],
  [3024, 'query timed out (max_execution_time)'],
  [4031, 'disconnected by the server for inactivity'],
]);

/** Server errors with a known cause, so the message says what to do; any other server error is permanent too. */
const PERMANENT_SERVER_ERRORS: ReadonlyMap<number, string> = new Map([
  [1044, 'access denied to a database'],
  [1045, 'access denied for the user'],
  [1064, 'SQL syntax error'],
  [1067, 'invalid default value'],
  [1071, 'key too long'],
  [1115, 'unknown character set'],
  [1118, 'row size too large'],
  [1142, 'command denied to the user'],
  [1143, 'column access denied to the user'],
  [1153, "a row or statement larger than the target's max_allowed_packet"],
  [1227, 'privilege missing (e.g. RELOAD for the dump, SUPER for a DEFINER)'],
  [1273, "unknown collation: the snapshot uses a collation the target's server does not have"],
  [1286, 'unknown storage engine'],
  [1301, 'a result larger than max_allowed_packet'],
  [1366, 'incorrect value for the column'],
  [1406, 'data too long for the column'],
  [1419, 'SUPER privilege needed to create a routine or trigger with binary logging on'],
  [2026, "TLS failed: the server offers none, or its certificate does not verify against spec.tls.ca; check the Target's spec.tls"],
  [3159, "the server requires TLS (require_secure_transport); set the Target's spec.tls.mode"],
  [3546, "GTID_PURGED overlaps the target's gtid_executed"],
  [3554, 'access to a system table denied'],
  [4161, 'unknown collation or character set'],
]);

/** The server refused a statement for want of a privilege: the same user is refused the same way on every retry. */
const PRIVILEGE_ERRORS: ReadonlySet<number> = new Set([1044, 1142, 1143, 1227, 1370, 1419, 3554]);

export function isPrivilegeError(code: number | undefined): boolean {
  return code !== undefined && PRIVILEGE_ERRORS.has(code);
}

// `ERROR 1064 (42000) at line 4: ...` (the clients), `Got error: 1045: ...` and `... (1227)` (the dump tools).
const CLIENT_ERROR = /ERROR (\d{4}) \([0-9A-Z]{5}\)(?: at line (\d+))?: ?(.*)/;
const DUMP_GOT_ERROR = /Got error: (\d{4}): (.*)/;
const DUMP_TRAILING_CODE = /: (?:Couldn't execute|Error) .*\((\d{4})\)\s*$/m;
const CLIENT_REFUSALS = [/ERROR at line \d+: Unknown command/, /Not allowed in the sandbox mode/];

export interface ToolFailureClass {
  permanent: boolean;
  /** The server's error code, when the tool reported one. */
  code?: number;
  /** What the failure is, in a few words. */
  reason: string;
}

/** Classifies a tool's failure by the server error it reports; without one it is transient (a crash, a signal). */
export function classifyToolFailure(message: string): ToolFailureClass {
  const code = Number(CLIENT_ERROR.exec(message)?.[1] ?? DUMP_GOT_ERROR.exec(message)?.[1] ?? DUMP_TRAILING_CODE.exec(message)?.[1] ?? NaN);
  if (Number.isInteger(code)) {
    const transient = TRANSIENT_SERVER_ERRORS.get(code);
    if (transient) return { permanent: false, code, reason: transient };
    return { permanent: true, code, reason: PERMANENT_SERVER_ERRORS.get(code) ?? `server error ${code}` };
  }
  if (CLIENT_REFUSALS.some((pattern) => pattern.test(message))) {
    return { permanent: true, reason: 'a client command in the dump, which dbkeep never runs' };
  }
  return { permanent: false, reason: 'the tool failed without a server error' };
}

/**
 * The client lost its connection in the middle of the dump (2006, 2013). A server closes the
 * connection of a client that sends a statement larger than its max_allowed_packet, and the
 * client reports only the lost connection; whether the server was up all along tells the two apart.
 */
export function isLostConnection(code: number | undefined): boolean {
  return code === 2006 || code === 2013;
}
