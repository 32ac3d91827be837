import { join } from 'node:path';
import type { ServerSetup } from './database-instance';
import { runToCompletion } from '../pipeline/managed-process';
import { engineRootDir, engineToolsDir, mariadbToolPath } from './tool-paths';

/**
 * The passwordless root@::1 that install-db creates goes: nothing listens there, and an extraArgs
 * bind-address must not expose it.
 */
const secureRootStatements = [
  "ALTER USER 'root'@'localhost' IDENTIFIED BY ?",
  "CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY ?",
  "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
  "DROP USER IF EXISTS 'root'@'::1'",
];

/** The host's MariaDB 10.11, from Debian's packages: every path it needs is compiled in. */
export function hostMariaDbSetup(): ServerSetup {
  return {
    name: 'MariaDB 10.11',
    engine: 'mariadb',
    serverName: 'mariadbd',
    serverCommand: mariadbToolPath('mariadbd'),
    serverArgs: () => [],
    initializeDatadir: (datadir, userArgs) => installSystemTables(mariadbToolPath('mariadb-install-db'), datadir, userArgs),
    secureRootStatements,
  };
}

/**
 * MariaDB 11.8 from its Debian root. The paths compiled into mariadbd are the host's, where
 * /usr/share/mariadb does not exist and /usr/lib/mysql/plugin holds MariaDB 10.11's plugins: each
 * is given the root's.
 */
export function rootMariaDbSetup(): ServerSetup {
  const usr = join(engineRootDir('mariadb-11.8'), 'usr');
  const mariadbd = join(engineToolsDir('mariadb-11.8'), 'mariadbd');
  const dataFiles = [
    `--lc-messages-dir=${join(usr, 'share', 'mariadb')}`,
    `--character-sets-dir=${join(usr, 'share', 'mariadb', 'charsets')}`,
  ];
  return {
    name: 'MariaDB 11.8',
    engine: 'mariadb',
    serverName: 'mariadbd',
    serverCommand: mariadbd,
    serverArgs: () => [`--basedir=${usr}`, `--plugin-dir=${join(usr, 'lib', 'mysql', 'plugin')}`, ...dataFiles],
    // The root's mariadb-install-db is a shell script, run by the host's sh. It takes the root's
    // usr as its base directory from its own path (given --basedir instead, it would run the
    // root's my_print_defaults, which needs the root's loader; this way it runs the host's, which
    // with --no-defaults reads nothing), and runs the server as MYSQLD_BOOTSTRAP says: through
    // the wrapper. It passes the options it does not know on to mariadbd.
    initializeDatadir: (datadir, userArgs) =>
      installSystemTables(join(usr, 'bin', 'mariadb-install-db'), datadir, [...userArgs, ...dataFiles], { MYSQLD_BOOTSTRAP: mariadbd }),
    secureRootStatements,
  };
}

function installSystemTables(installDb: string, datadir: string, extraArgs: string[], env?: NodeJS.ProcessEnv): Promise<void> {
  const args = [
    '--no-defaults',
    `--datadir=${datadir}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--innodb-use-native-aio=0',
    // No root@<hostname> account (which --skip-name-resolve would make the server ignore noisily),
    // and no host name check with resolveip (the root's resolveip would need the root's loader).
    '--cross-bootstrap',
    ...extraArgs,
  ];
  return runToCompletion(installDb, args, env);
}
