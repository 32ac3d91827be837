import type { ClientFamily } from './target-tls';

/**
 * The privileges a logical backup needs, per client family, and what a user lacks of them.
 * Measured with each engine's dump tool (docs/security.md has the table):
 *
 * - MariaDB: SELECT, SHOW VIEW, TRIGGER and EVENT on each database dumped, and SELECT on
 *   mysql.proc. Without the last, mariadb-dump leaves every routine out of the dump and still
 *   exits 0: a backup that looks complete and is not.
 * - MySQL: SELECT, SHOW VIEW, TRIGGER, EVENT and PROCESS, globally. mysqldump reads system
 *   tables (masking policies) and tablespaces besides the databases, and without these it
 *   reports errors yet exits 0.
 *
 * The replication position needs more (RELOAD or FLUSH_TABLES and REPLICATION CLIENT on MySQL,
 * BINLOG MONITOR on MariaDB); without them the snapshot records none, with a warning.
 */
export const BACKUP_DATABASE_PRIVILEGES = ['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT'] as const;
export const MYSQL_BACKUP_GLOBAL_PRIVILEGES = ['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT', 'PROCESS'] as const;

/** The session user's privileges as information_schema lists them (USER_, SCHEMA_ and TABLE_PRIVILEGES). */
export interface GrantedPrivileges {
  global: ReadonlySet<string>;
  /** Database-level grants; the schema is a LIKE pattern (`shop\_%`) as GRANT takes it. */
  schemas: ReadonlyArray<{ schema: string; privileges: ReadonlySet<string> }>;
  tables: ReadonlyArray<{ schema: string; table: string; privileges: ReadonlySet<string> }>;
}

/** One grant the user lacks: a privilege on `*.*`, on a database, or on one table. */
export interface MissingGrant {
  privileges: string[];
  on: { level: 'global' } | { level: 'database'; database: string } | { level: 'table'; database: string; table: string };
}

export function missingBackupPrivileges(family: ClientFamily, granted: GrantedPrivileges, databases: readonly string[]): MissingGrant[] {
  if (family === 'mysql') {
    const lacking = MYSQL_BACKUP_GLOBAL_PRIVILEGES.filter((p) => !granted.global.has(p));
    return lacking.length > 0 ? [{ privileges: [...lacking], on: { level: 'global' } }] : [];
  }
  const missing: MissingGrant[] = [];
  for (const database of databases) {
    const lacking = BACKUP_DATABASE_PRIVILEGES.filter((p) => !hasOnDatabase(granted, p, database));
    if (lacking.length > 0) missing.push({ privileges: [...lacking], on: { level: 'database', database } });
  }
  const routinesVisible =
    hasOnDatabase(granted, 'SELECT', 'mysql') ||
    hasOnDatabase(granted, 'SHOW CREATE ROUTINE', 'mysql') ||
    granted.global.has('SHOW CREATE ROUTINE') ||
    granted.tables.some((t) => t.schema === 'mysql' && t.table === 'proc' && t.privileges.has('SELECT'));
  if (!routinesVisible) missing.push({ privileges: ['SELECT'], on: { level: 'table', database: 'mysql', table: 'proc' } });
  return missing;
}

function hasOnDatabase(granted: GrantedPrivileges, privilege: string, database: string): boolean {
  return granted.global.has(privilege) || granted.schemas.some((s) => s.privileges.has(privilege) && likePattern(s.schema).test(database));
}

/** A GRANT's database name as the server matches it: `_` and `%` are wildcards unless escaped. */
function likePattern(schema: string): RegExp {
  let source = '';
  for (let i = 0; i < schema.length; i++) {
    const c = schema[i]!;
    if (c === '\\' && i + 1 < schema.length) source += escapeRegExp(schema[++i]!);
    else if (c === '_') source += '.';
    else if (c === '%') source += '.*';
    else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`, 's');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The GRANT statements that give `account` ('user'@'host') what is missing, one per object. */
export function grantStatements(missing: readonly MissingGrant[], account: string): string[] {
  return missing.map(({ privileges, on }) => {
    const object =
      on.level === 'global'
        ? '*.*'
        : on.level === 'database'
          ? `${quoteName(on.database)}.*`
          : `${quoteName(on.database)}.${quoteName(on.table)}`;
    return `GRANT ${privileges.join(', ')} ON ${object} TO ${account}`;
  });
}

function quoteName(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** `'user'@'host'` from CURRENT_USER() (`user@host`, the host after the last @). */
export function accountOf(currentUser: string): string {
  const at = currentUser.lastIndexOf('@');
  const quote = (part: string) => `'${part.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `${quote(currentUser.slice(0, at))}@${quote(currentUser.slice(at + 1))}`;
}
