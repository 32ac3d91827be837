import type { Engine } from './resources';

/** Which server a Target really is, read from the server itself: its SQL dialect and tools follow from it. */
export type ServerFlavor = 'mariadb' | 'mysql';

/** What a session reads from the server before it runs a tool against it. */
export interface ServerIdentity {
  flavor: ServerFlavor;
  /** VERSION() as the server reports it, e.g. "11.8.3-MariaDB-1" or "9.7.4". */
  version: string;
  /** major.minor.patch, parsed from `version`. */
  release: [number, number, number];
}

/** MariaDB says so in VERSION(); MySQL, Percona Server and Percona XtraDB Cluster do not. */
export function serverIdentity(version: string): ServerIdentity {
  const [, major = '0', minor = '0', patch = '0'] = /^(\d+)\.(\d+)\.(\d+)/.exec(version) ?? [];
  return {
    flavor: /mariadb/i.test(version) ? 'mariadb' : 'mysql',
    version,
    release: [Number(major), Number(minor), Number(patch)],
  };
}

/** The flavour a Target's `engine` promises: Percona XtraDB Cluster speaks MySQL. */
export function flavorOfEngine(engine: Engine): ServerFlavor {
  return engine === 'mariadb' ? 'mariadb' : 'mysql';
}

const FLAVOR_NAMES: Record<ServerFlavor, string> = { mariadb: 'MariaDB', mysql: 'MySQL (or Percona)' };

/**
 * Why a Target's `engine` does not fit the server it reaches, or undefined. The engine picks the
 * tools (mariadb-dump or mysqldump) and their options, so a wrong one fails in ways that retry
 * nothing: refused at once, naming both.
 */
export function engineMismatch(target: string, engine: Engine, server: ServerIdentity): string | undefined {
  const expected = flavorOfEngine(engine);
  if (expected === server.flavor) return undefined;
  const fix = server.flavor === 'mariadb' ? 'mariadb' : 'mysql (or percona-xtradb for a Percona XtraDB Cluster)';
  return (
    `Target "${target}" says engine: ${engine}, but the server is ${FLAVOR_NAMES[server.flavor]} ${server.version}; ` +
    `set spec.engine to ${fix}, or point the Target at the ${FLAVOR_NAMES[expected]} server it means`
  );
}

/**
 * Why a snapshot of `snapshotServer` cannot load into `target`, or undefined when it may (a
 * statement the target still refuses fails the restore cleanly, and what it replaced is put back).
 *
 * MariaDB → MySQL is refused: mariadb-dump's first line turns on MariaDB's client sandbox
 * (`/*M!999999\- enable the sandbox mode *\/`), which MySQL's client stops on, and its dumps use
 * syntax MySQL does not have (sequences, system versioning, MariaDB collations).
 *
 * MySQL 8.0+ → a MariaDB without the utf8mb4_0900_* collations is refused: utf8mb4_0900_ai_ci is
 * MySQL's default since 8.0, and mysqldump writes it in every database, table and column created
 * with the defaults (`CREATE DATABASE … COLLATE utf8mb4_0900_ai_ci`, which MariaDB runs) and in
 * the `collation_connection` of every view, routine, trigger and event, so the apply would fail
 * with ERROR 1273 on the first one. No mysqldump option rewrites them (`--set-charset` and
 * `--default-character-set` set only the session's). Other MySQL → MariaDB restores are
 * attempted: plain tables and data load, and what MariaDB still lacks fails with the server's
 * own message, and the target is put back.
 */
export function snapshotLoadProblem(
  snapshotServer: { flavor?: ServerFlavor; version: string },
  target: ServerIdentity,
): string | undefined {
  const snapshot = serverIdentity(snapshotServer.version);
  const flavor = snapshotServer.flavor ?? snapshot.flavor;
  if (flavor === 'mariadb' && target.flavor === 'mysql') {
    return (
      `the snapshot is a MariaDB dump (${snapshotServer.version}), which does not load into MySQL ${target.version}: ` +
      'restore it into a MariaDB server; to migrate, load its data into MySQL with a tool made for that'
    );
  }
  if (flavor === 'mysql' && snapshot.release[0] >= 8 && target.flavor === 'mariadb' && !knowsMysql0900Collations(target.release)) {
    return (
      `the snapshot is a dump of MySQL ${snapshotServer.version}, which names MySQL's default collation utf8mb4_0900_ai_ci ` +
      `wherever the defaults were used, and MariaDB ${target.version} does not know them (ERROR 1273 Unknown collation); ` +
      'nothing was changed. Restore it into MariaDB 11.8 (or 11.4.5 or later), or convert the source to a collation both ' +
      'have, such as utf8mb4_unicode_520_ci, and back up again (docs/restores.md#engines)'
    );
  }
  return undefined;
}

/**
 * MariaDB maps MySQL's utf8mb4_0900_* collations to its uca1400 ones (MDEV-20912) since 11.4.5,
 * and from the releases made with it: 11.7.2 and every 11.8 and later. 10.x, 11.0 to 11.3, 11.5,
 * 11.6 and 11.7.1 ended before.
 */
function knowsMysql0900Collations([major, minor, patch]: ServerIdentity['release']): boolean {
  if (major !== 11) return major > 11;
  if (minor === 4) return patch >= 5;
  if (minor === 7) return patch >= 2;
  return minor >= 8;
}
