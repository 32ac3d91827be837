import type { ServerIdentity } from './server-flavor';
import type { ClientFamily } from './target-tls';

/**
 * The privileges a backup or restore needs, and what a user lacks of them (docs/security.md has
 * the tables). A logical backup's, measured with each engine's dump tool:
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

/**
 * A physical backup's, measured on MariaDB 10.11 and 11.8. mariadb-backup needs RELOAD (BACKUP
 * STAGE) and PROCESS (SHOW ENGINE INNODB STATUS), globally; LOCK TABLES is not needed. With a
 * binary log it also runs SHOW MASTER STATUS, which needs BINLOG MONITOR (or SUPER before
 * MariaDB 11.0), and fails at the very end of the copy without it. SHOW DATABASES is dbkeep's:
 * the manifest lists the databases the copy holds, and without it the user sees none of them.
 */
export const MARIADB_PHYSICAL_BACKUP_PRIVILEGES = ['RELOAD', 'PROCESS', 'SHOW DATABASES'] as const;

/**
 * The session's privileges: the account's own as information_schema lists them (USER_, SCHEMA_ and
 * TABLE_PRIVILEGES, one privilege a row), and what its active roles add as SHOW GRANTS shows it
 * (domain/show-grants.ts), where a set may hold ALL_PRIVILEGES.
 */
export interface GrantedPrivileges {
  global: ReadonlySet<string>;
  /** Database-level grants; the schema is a LIKE pattern (`shop\_%`) as GRANT takes it. */
  schemas: ReadonlyArray<{ schema: string; privileges: ReadonlySet<string> }>;
  tables: ReadonlyArray<{ schema: string; table: string; privileges: ReadonlySet<string> }>;
}

/** `GRANT ALL [PRIVILEGES]` as SHOW GRANTS shows it: every privilege of the level it is granted on. */
export const ALL_PRIVILEGES = 'ALL PRIVILEGES';

/** Whether a set of granted privileges (one level: global, a database, a table) includes `privilege`. */
export function holds(privileges: ReadonlySet<string>, privilege: string): boolean {
  return privileges.has(privilege) || privileges.has(ALL_PRIVILEGES);
}

/** Privileges from several sources (the account's own, its roles'), as one: a privilege held by any is held. */
export function mergeGrantedPrivileges(...sources: readonly GrantedPrivileges[]): GrantedPrivileges {
  return {
    global: new Set(sources.flatMap((source) => [...source.global])),
    schemas: sources.flatMap((source) => source.schemas),
    tables: sources.flatMap((source) => source.tables),
  };
}

/** One grant the user lacks: a privilege on `*.*`, on a database, or on one table. */
export interface MissingGrant {
  privileges: string[];
  on: { level: 'global' } | { level: 'database'; database: string } | { level: 'table'; database: string; table: string };
}

export function missingBackupPrivileges(family: ClientFamily, granted: GrantedPrivileges, databases: readonly string[]): MissingGrant[] {
  if (family === 'mysql') {
    const lacking = MYSQL_BACKUP_GLOBAL_PRIVILEGES.filter((p) => !holds(granted.global, p));
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
    holds(granted.global, 'SHOW CREATE ROUTINE') ||
    granted.tables.some((t) => t.schema === 'mysql' && t.table === 'proc' && holds(t.privileges, 'SELECT'));
  if (!routinesVisible) missing.push({ privileges: ['SELECT'], on: { level: 'table', database: 'mysql', table: 'proc' } });
  return missing;
}

/**
 * What mariadb-backup needs and the user lacks. `binaryLogUnreadable` is whether SHOW MASTER STATUS
 * was refused on a server that writes a binary log: tried, since SUPER also allows it before 11.0.
 */
export function missingPhysicalBackupPrivileges(granted: GrantedPrivileges, binaryLogUnreadable: boolean): MissingGrant[] {
  const lacking: string[] = MARIADB_PHYSICAL_BACKUP_PRIVILEGES.filter((p) => !holds(granted.global, p));
  if (binaryLogUnreadable) lacking.push('BINLOG MONITOR');
  return lacking.length > 0 ? [{ privileges: lacking, on: { level: 'global' } }] : [];
}

/**
 * The binary log archiver's (point-in-time recovery): it connects as a replica (REPLICATION
 * SLAVE, which MySQL also calls REPLICATION REPLICA) and lists the source's binary logs (SHOW
 * BINARY LOGS: REPLICATION CLIENT on MySQL, BINLOG MONITOR on MariaDB, where REPLICATION CLIENT is
 * its older name).
 */
export function missingBinlogArchivePrivileges(family: ClientFamily, granted: GrantedPrivileges): MissingGrant[] {
  const monitor = family === 'mysql' ? 'REPLICATION CLIENT' : 'BINLOG MONITOR';
  const lacking = ['REPLICATION SLAVE', monitor].filter(
    (p) => !holds(granted.global, p) && !(p === 'BINLOG MONITOR' && holds(granted.global, 'SUPER')),
  );
  return lacking.length > 0 ? [{ privileges: lacking, on: { level: 'global' } }] : [];
}

/**
 * What a logical restore needs for certain, whatever the dump holds: on dbkeep's work schemas
 * (the control schema, and each replaced database's keep schema) what keeping and putting back
 * does with them, and on each database restored what every dump does (create it, drop it on
 * overwrite, insert its rows). What depends on the dump's objects and the server's settings
 * (SUPER with a binary log, SET USER or SET_ANY_DEFINER for definers, SHOW_ROUTINE) is not
 * known beforehand: a refusal of it fails the restore at its statement, permanently.
 */
export const RESTORE_WORK_SCHEMA_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER'] as const;
export const RESTORE_DATABASE_PRIVILEGES = ['CREATE', 'DROP', 'INSERT'] as const;

export function missingRestorePrivileges(
  granted: GrantedPrivileges,
  work: { pattern: string; schemas: readonly string[] },
  databases: readonly string[],
  /** The target's server, when the restore replays the archived binary log after the snapshot. */
  replayingInto?: ServerIdentity,
): MissingGrant[] {
  const missing: MissingGrant[] = [];
  if (replayingInto && lacksBinlogReplay(granted, replayingInto)) missing.push({ privileges: ['BINLOG REPLAY'], on: { level: 'global' } });
  const lackingOnWork = RESTORE_WORK_SCHEMA_PRIVILEGES.filter((p) => work.schemas.some((schema) => !hasOnDatabase(granted, p, schema)));
  if (lackingOnWork.length > 0) missing.push({ privileges: [...lackingOnWork], on: { level: 'database', database: work.pattern } });
  for (const database of databases) {
    const lacking = RESTORE_DATABASE_PRIVILEGES.filter((p) => !hasOnDatabase(granted, p, database));
    if (lacking.length > 0) missing.push({ privileges: [...lacking], on: { level: 'database', database } });
  }
  return missing;
}

/**
 * mariadb-binlog's output starts with a `BINLOG '…'` statement (the file's format description),
 * which MariaDB runs only for BINLOG REPLAY; before 11.0 SUPER included it. MySQL's BINLOG
 * statement needs nothing a restore user lacks (measured on 9.7 with the restore grants).
 */
function lacksBinlogReplay(granted: GrantedPrivileges, server: ServerIdentity): boolean {
  if (server.flavor !== 'mariadb' || holds(granted.global, 'BINLOG REPLAY')) return false;
  return !(server.release[0] < 11 && holds(granted.global, 'SUPER'));
}

function hasOnDatabase(granted: GrantedPrivileges, privilege: string, database: string): boolean {
  return (
    holds(granted.global, privilege) || granted.schemas.some((s) => holds(s.privileges, privilege) && likePattern(s.schema).test(database))
  );
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
  return missing.map(({ privileges, on }) => `GRANT ${privileges.join(', ')} ON ${grantObject(on, quoteName)} TO ${account}`);
}

/** What is missing in words: `SELECT on mysql.proc; PROCESS on *.*`. */
export function describeMissingGrants(missing: readonly MissingGrant[]): string {
  return missing.map(({ privileges, on }) => `${privileges.join(', ')} on ${grantObject(on, (name) => name)}`).join('; ');
}

function grantObject(on: MissingGrant['on'], name: (name: string) => string): string {
  if (on.level === 'global') return '*.*';
  return on.level === 'database' ? `${name(on.database)}.*` : `${name(on.database)}.${name(on.table)}`;
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

/**
 * The roles a session has active, as a GRANT names them, from CURRENT_ROLE(): MySQL's lists them
 * quoted (`` `a`@`%`,`b`@`%` ``) or says NONE; MariaDB's names its one role bare, or is NULL.
 */
export function activeRolesOf(currentRole: unknown): string | undefined {
  if (currentRole === null || currentRole === undefined || currentRole === 'NONE' || currentRole === '') return undefined;
  const roles = String(currentRole);
  return roles.startsWith('`') ? roles : quoteName(roles);
}
