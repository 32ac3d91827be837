import { log } from '@temporalio/activity';
import type mysql from 'mysql2/promise';
import {
  accountOf,
  describeMissingGrants,
  grantStatements,
  type GrantedPrivileges,
  type MissingGrant,
} from '../domain/database-privileges';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Named, TargetSpec } from '../domain/resources';

export interface SessionUserPrivileges {
  /** `'user'@'host'` as GRANT names the account the server matched. */
  account: string;
  /**
   * Undefined when the session has a role active: information_schema lists the account's own
   * grants only, so what the role adds is not known and nothing is concluded.
   */
  granted?: GrantedPrivileges;
}

/** The session user's own privileges, read from information_schema (no privilege needed for one's own). */
export async function readSessionUserPrivileges(connection: mysql.Connection): Promise<SessionUserPrivileges> {
  const [[who]] = await connection.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS account, CURRENT_ROLE() AS role');
  const account = accountOf(String(who?.account ?? ''));
  const role = who?.role === null || who?.role === undefined ? 'NONE' : String(who.role);
  if (role !== 'NONE') return { account };
  const rows = async (sql: string) => (await connection.query<mysql.RowDataPacket[]>(sql, [account]))[0];
  const global = await rows('SELECT PRIVILEGE_TYPE AS privilege FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?');
  const schemas = await rows(
    'SELECT TABLE_SCHEMA AS db, PRIVILEGE_TYPE AS privilege FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?',
  );
  const tables = await rows(
    'SELECT TABLE_SCHEMA AS db, TABLE_NAME AS tbl, PRIVILEGE_TYPE AS privilege FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?',
  );
  return {
    account,
    granted: {
      global: new Set(global.map((r) => String(r.privilege))),
      schemas: groupBy(schemas, (r) => String(r.db)).map(([schema, group]) => ({
        schema,
        privileges: new Set(group.map((r) => String(r.privilege))),
      })),
      tables: groupBy(tables, (r) => `${String(r.db)}\u0000${String(r.tbl)}`).map(([key, group]) => {
        const [schema = '', table = ''] = key.split('\u0000');
        return { schema, table, privileges: new Set(group.map((r) => String(r.privilege))) };
      }),
    },
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Array<[string, T[]]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups];
}

/**
 * Fails before anything runs when the session user lacks a privilege `what` needs (`a logical
 * backup`), naming each one and the GRANT that fixes it: the tools would otherwise fail late,
 * or, worse, leave objects out and still succeed (domain/database-privileges.ts).
 */
export function requirePrivileges(
  { account, granted }: SessionUserPrivileges,
  target: Named<TargetSpec>,
  what: string,
  missingOf: (granted: GrantedPrivileges) => MissingGrant[],
): void {
  if (!granted) {
    log.info('privileges not checked: the session has a role active, whose privileges information_schema does not list', {
      target: target.name,
      for: what,
    });
    return;
  }
  const missing = missingOf(granted);
  if (missing.length === 0) return;
  throw permanentFailure(
    PermanentFailureType.InsufficientPrivileges,
    `Target "${target.name}": ${account} lacks what ${what} needs (${describeMissingGrants(missing)}); ` +
      `grant it with: ${grantStatements(missing, account).join('; ')}`,
  );
}
