/**
 * The schemas that belong to the server itself. dbkeep's own backups leave them out, and a
 * restore never drops or recreates them, `overwrite` or not: a `mariadb-dump --all-databases`
 * dump (imported, see activities/import-activities.ts) holds `mysql`, and DROP DATABASE mysql
 * would take the server's users, grants and time zone tables with it. What such a dump holds for
 * them is applied as it is, as mariadb-operator's restore (`mariadb < dump`) does: its
 * `DROP TABLE IF EXISTS` and `INSERT`s replace the target's users and grants.
 */
export const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'] as const;

/**
 * The one system schema a configuration may list in `databases` (users, grants, time zones), as
 * mariadb-operator's --all-databases backups hold it; it is never part of "all databases".
 */
export const USERS_AND_GRANTS_SCHEMA = 'mysql';

/** Case-insensitive, as the server compares schema names where lower_case_table_names is set. */
export function isSystemSchema(name: string): boolean {
  return (SYSTEM_SCHEMAS as readonly string[]).includes(name.toLowerCase());
}

/**
 * The databases a restore replaces, of those it applies: the ones it refuses to touch without
 * `overwrite` when the target holds objects in them, and drops before applying the dump.
 */
export function databasesReplacedByRestore(applied: readonly string[]): string[] {
  return applied.filter((database) => !isSystemSchema(database));
}
