import { join } from 'node:path';
import type { ServerSetup } from './database-instance';
import { runToCompletion } from '../pipeline/managed-process';
import { engineRootDir, engineToolsDir } from './tool-paths';

/** --initialize-insecure leaves only 'root'@'localhost', without a password. */
const secureRootStatements = [
  "ALTER USER 'root'@'localhost' IDENTIFIED BY ?",
  "CREATE USER 'root'@'127.0.0.1' IDENTIFIED BY ?",
  "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
];

/**
 * MySQL 9.7 from its Debian root. The paths compiled into mysqld are the host's, where
 * /usr/share/mysql and /usr/lib/mysql/plugin hold MariaDB 10.11's files: each is given the root's.
 *
 * Root's accounts use MySQL 9's caching_sha2_password, which mysql2 (3.24) handles without options:
 * over the socket it sends the password as it is (mysql2 counts a socket as secure), and over TCP
 * without TLS it asks the server for its RSA public key (which --initialize generates in the
 * datadir) and sends the password encrypted with it. So callers connect as they do to MariaDB,
 * over TCP without TLS options; MySQL's own clients use TLS with the generated certificate.
 */
export function mysqlSetup(options: { gtid: boolean }): ServerSetup {
  const usr = join(engineRootDir('mysql-9.7'), 'usr');
  const mysqld = join(engineToolsDir('mysql-9.7'), 'mysqld');
  const rootPaths = [
    `--basedir=${usr}`,
    `--lc-messages-dir=${join(usr, 'share', 'mysql')}`,
    `--character-sets-dir=${join(usr, 'share', 'mysql', 'charsets')}`,
    `--plugin-dir=${join(usr, 'lib', 'mysql', 'plugin')}`,
    // Compiled in as /var/lib/mysql-files, which does not exist here; empty leaves LOAD DATA and
    // SELECT … INTO OUTFILE unrestricted, as MariaDB's default does.
    '--secure-file-priv=',
  ];
  return {
    name: 'MySQL 9.7',
    engine: 'mysql',
    serverName: 'mysqld',
    serverCommand: mysqld,
    serverArgs: ({ port, logFile }) => [
      ...rootPaths,
      // The X Protocol listener would take port 33060 in every instance.
      '--mysqlx=OFF',
      // Distinct among the instances on this machine, as replication between two of them needs.
      `--server-id=${port}`,
      // The managed process's log, so that a start that fails shows the server's own error in its tail.
      `--log-error=${logFile}`,
      // Both ways explicitly: the default gtid_mode is not the same in every MySQL release.
      ...(options.gtid ? ['--gtid-mode=ON', '--enforce-gtid-consistency=ON'] : ['--gtid-mode=OFF', '--enforce-gtid-consistency=OFF']),
    ],
    initializeDatadir: (datadir, userArgs) =>
      runToCompletion(mysqld, [
        '--no-defaults',
        '--initialize-insecure',
        `--datadir=${datadir}`,
        ...rootPaths,
        '--innodb-use-native-aio=0',
        ...userArgs,
      ]),
    secureRootStatements,
  };
}
