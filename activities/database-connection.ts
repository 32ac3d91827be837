import mysql from 'mysql2/promise';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Named, TargetSpec } from '../domain/resources';
import { SYSTEM_SCHEMAS } from '../domain/system-schemas';
import { RESTORE_WORK_SCHEMA_PATTERN } from '../domain/kept-databases';
import type { SecretResolver } from '../secrets/secret-resolver';

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOENT', 'EAI_AGAIN']);
const AUTH_CODES = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR']);

export function describeTargetAddress(spec: TargetSpec): string {
  return spec.socket ?? `${spec.host}:${spec.port}`;
}

/**
 * Opens a mysql2 connection to a target. Authentication and reachability problems become
 * permanent failures naming the target, so a wrong password fails once, fast, instead of
 * being retried ten times.
 */
export async function connectToTarget(target: Named<TargetSpec>, secrets: SecretResolver): Promise<mysql.Connection> {
  const { spec } = target;
  const password = spec.password ? await secrets.resolve(spec.password, `Target "${target.name}" password`) : undefined;
  try {
    return await mysql.createConnection({
      ...(spec.socket ? { socketPath: spec.socket } : { host: spec.host, port: spec.port }),
      user: spec.user,
      password,
      connectTimeout: 10_000,
      multipleStatements: false,
      charset: 'utf8mb4_general_ci',
    });
  } catch (err) {
    throw classifyConnectionError(err, target);
  }
}

export function classifyConnectionError(err: unknown, target: Named<TargetSpec>): Error {
  const code = (err as { code?: string }).code ?? '';
  const where = `Target "${target.name}" (${describeTargetAddress(target.spec)})`;
  if (AUTH_CODES.has(code)) {
    return permanentFailure(
      PermanentFailureType.AuthenticationFailed,
      `${where}: access denied for user "${target.spec.user}"; check spec.user and the password secret`,
    );
  }
  if (UNREACHABLE_CODES.has(code)) {
    return permanentFailure(
      PermanentFailureType.TargetUnreachable,
      `${where}: cannot connect (${code}); check spec.host/spec.port/spec.socket and that the server is running`,
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Every database but the server's own (SYSTEM_SCHEMAS) and what a restore keeps while it runs
 * (domain/kept-databases.ts): what "all databases" means to a backup.
 */
export async function listUserDatabases(connection: mysql.Connection): Promise<string[]> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>(
    'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (?) AND SCHEMA_NAME NOT LIKE ? ORDER BY SCHEMA_NAME',
    [SYSTEM_SCHEMAS, RESTORE_WORK_SCHEMA_PATTERN],
  );
  return rows.map((r) => String(r.name));
}
