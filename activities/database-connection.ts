import { isIP } from 'node:net';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import mysql from 'mysql2/promise';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Named, TargetSpec } from '../domain/resources';
import { SYSTEM_SCHEMAS } from '../domain/system-schemas';
import { RESTORE_WORK_SCHEMA_PATTERN } from '../domain/kept-databases';
import type { SecretResolver } from '../secrets/secret-resolver';
import { resolveTargetCredentials } from '../secrets/target-credentials';
import { classifyTlsFailure } from '../domain/tls-failures';
import { DEFAULT_TLS, hostCheckAfterHandshake, mysql2SslOptions } from '../domain/target-tls';

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
  const { password, tls, pems } = await resolveTargetCredentials(target, secrets);
  const address = { isIpAddress: isIP(spec.host ?? '') !== 0 };
  // The servers never speak TLS over their socket.
  const ssl = spec.socket ? undefined : mysql2SslOptions(tls.mode, pems, address);
  const connect = (withTls: boolean) =>
    mysql.createConnection({
      ...(spec.socket ? { socketPath: spec.socket } : { host: spec.host, port: spec.port }),
      user: spec.user,
      password,
      ...(withTls && ssl ? { ssl } : {}),
      connectTimeout: 10_000,
      multipleStatements: false,
      charset: 'utf8mb4_general_ci',
    });
  try {
    try {
      const connection = await connect(true);
      if (ssl && hostCheckAfterHandshake(tls.mode, address)) checkCertificateNamesHost(connection, spec.host!);
      return connection;
    } catch (err) {
      // `preferred`: plain when the server has no TLS, as the tools fall back.
      if (tls.mode === 'preferred' && (err as { code?: string }).code === 'HANDSHAKE_NO_SSL_SUPPORT') return await connect(false);
      throw err;
    }
  } catch (err) {
    if (tls.mode === 'disabled' && !spec.socket && AUTH_CODES.has((err as { code?: string }).code ?? '')) {
      if (await acceptsOverTls(spec, password)) throw classifyConnectionError(tlsRequiredError(), target);
    }
    throw classifyConnectionError(err, target);
  }
}

/**
 * verify-identity for an IP address (mysql2SslOptions): the certificate the server presented,
 * already verified against the CA, must name the address, or the connection is closed at once.
 */
function checkCertificateNamesHost(connection: mysql.Connection, host: string): void {
  const stream = (connection as unknown as { connection: { stream: TLSSocket } }).connection.stream;
  const problem =
    typeof stream.getPeerCertificate === 'function'
      ? checkServerIdentity(host, stream.getPeerCertificate())
      : new Error('verify-identity: the connection is not TLS');
  if (problem) {
    connection.destroy();
    throw problem;
  }
}

/**
 * MariaDB (10.11) refuses a plain connection to a server with require_secure_transport as a
 * wrong password would (1045, where MySQL and MariaDB 11 say 3159). The same credentials
 * accepted over TLS tell the two apart.
 */
async function acceptsOverTls(spec: TargetSpec, password: string | undefined): Promise<boolean> {
  try {
    const probe = await mysql.createConnection({
      host: spec.host,
      port: spec.port,
      user: spec.user,
      password,
      ssl: { rejectUnauthorized: false },
      connectTimeout: 10_000,
    });
    await probe.end().catch(() => undefined);
    return true;
  } catch {
    return false;
  }
}

function tlsRequiredError(): Error {
  return Object.assign(new Error('the server requires TLS'), { errno: 3159, code: 'ER_SECURE_TRANSPORT_REQUIRED' });
}

export function classifyConnectionError(err: unknown, target: Named<TargetSpec>): Error {
  const code = (err as { code?: string }).code ?? '';
  const where = `Target "${target.name}" (${describeTargetAddress(target.spec)})`;
  const tlsFailure = classifyTlsFailure(err, target.spec.tls?.mode ?? DEFAULT_TLS.mode);
  if (tlsFailure) return permanentFailure(tlsFailure.type, `${where}: ${tlsFailure.message}`);
  if (AUTH_CODES.has(code)) {
    return permanentFailure(
      PermanentFailureType.AuthenticationFailed,
      `${where}: access denied for user "${target.spec.user}"; check spec.user and the password secret` +
        // The servers refuse a connection without the client certificate a user requires as a
        // wrong password (and a `disabled` one to a TLS-only MariaDB 10.11: connectToTarget tells).
        ((target.spec.tls?.mode ?? DEFAULT_TLS.mode) === 'disabled'
          ? ''
          : ', and whether the user requires a client certificate (spec.tls.clientCertificate)'),
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
