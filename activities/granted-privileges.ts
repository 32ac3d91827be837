import { log } from '@temporalio/activity';
import type mysql from 'mysql2/promise';
import {
  accountOf,
  activeRolesOf,
  describeMissingGrants,
  grantStatements,
  mergeGrantedPrivileges,
  type GrantedPrivileges,
  type MissingGrant,
} from '../domain/database-privileges';
import { parseShowGrants } from '../domain/show-grants';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Named, TargetSpec } from '../domain/resources';

export interface SessionUserPrivileges {
  /** `'user'@'host'` as GRANT names the account the server matched. */
  account: string;
  /** The roles the session has active (by default on login), as GRANT names them; undefined when none. */
  activeRoles?: string;
  granted: GrantedPrivileges;
  /** SHOW GRANTS lines not understood (with a role active): what they grant is not in `granted`. */
  notUnderstood: string[];
}

/**
 * The session user's privileges (no privilege is needed to read one's own): the account's own
 * from information_schema, and with a role active, what SHOW GRANTS shows the roles add, which
 * information_schema does not list (domain/show-grants.ts). The tools log in as the same account,
 * with the same default roles.
 */
export async function readSessionUserPrivileges(connection: mysql.Connection): Promise<SessionUserPrivileges> {
  const [[who]] = await connection.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS account, CURRENT_ROLE() AS role');
  const account = accountOf(String(who?.account ?? ''));
  const own = await readAccountPrivileges(connection, account);
  const activeRoles = activeRolesOf(who?.role);
  if (!activeRoles) return { account, granted: own, notUnderstood: [] };
  // One column, named after the account (`Grants for backup@%`).
  const [lines] = await connection.query<mysql.RowDataPacket[]>('SHOW GRANTS');
  const { granted, notUnderstood } = parseShowGrants(lines.map((line) => String(Object.values(line)[0])));
  return { account, activeRoles, granted: mergeGrantedPrivileges(own, granted), notUnderstood };
}

async function readAccountPrivileges(connection: mysql.Connection, account: string): Promise<GrantedPrivileges> {
  const rows = async (sql: string) => (await connection.query<mysql.RowDataPacket[]>(sql, [account]))[0];
  const global = await rows('SELECT PRIVILEGE_TYPE AS privilege FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?');
  const schemas = await rows(
    'SELECT TABLE_SCHEMA AS db, PRIVILEGE_TYPE AS privilege FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?',
  );
  const tables = await rows(
    'SELECT TABLE_SCHEMA AS db, TABLE_NAME AS tbl, PRIVILEGE_TYPE AS privilege FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?',
  );
  return {
    global: new Set(global.map((r) => String(r.privilege))),
    schemas: groupBy(schemas, (r) => String(r.db)).map(([schema, group]) => ({
      schema,
      privileges: new Set(group.map((r) => String(r.privilege))),
    })),
    tables: groupBy(tables, (r) => `${String(r.db)}\u0000${String(r.tbl)}`).map(([key, group]) => {
      const [schema = '', table = ''] = key.split('\u0000');
      return { schema, table, privileges: new Set(group.map((r) => String(r.privilege))) };
    }),
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
 * or, worse, leave objects out and still succeed (domain/database-privileges.ts). When a grant
 * shown for an active role was not understood, what looks missing may be in it: that is logged,
 * and the session goes on.
 */
export function requirePrivileges(
  { account, activeRoles, granted, notUnderstood }: SessionUserPrivileges,
  target: Named<TargetSpec>,
  what: string,
  missingOf: (granted: GrantedPrivileges) => MissingGrant[],
): void {
  const missing = missingOf(granted);
  if (missing.length === 0) return;
  if (notUnderstood.length > 0) {
    log.warn('privileges not checked: a grant of the active roles was not understood, and may hold what seems missing', {
      target: target.name,
      for: what,
      missing: describeMissingGrants(missing),
      notUnderstood,
    });
    return;
  }
  throw permanentFailure(
    PermanentFailureType.InsufficientPrivileges,
    `Target "${target.name}": ${account} lacks what ${what} needs (${describeMissingGrants(missing)}); ` +
      `grant it with: ${grantStatements(missing, account).join('; ')}` +
      (activeRoles ? ` (or to a role it has active: ${activeRoles})` : ''),
  );
}
