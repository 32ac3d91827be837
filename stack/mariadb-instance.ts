import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection, type ConnectionOptions } from 'mysql2/promise';
import { findFreePort } from './free-port';
import { startManagedProcess, type ManagedProcess } from './managed-process';
import { mariadbToolPath } from './tool-paths';

export interface MariaDbInstanceOptions {
  /** Holds datadir, socket and logs. Default: a new dir under os.tmpdir(), removed by stop(). */
  dir?: string;
  rootPassword: string;
  port?: number;
  /** Appended to mariadbd's argv on every start, e.g. ['--log-bin=binlog']. */
  extraArgs?: string[];
  /**
   * mariadbd reads this option file instead of none (--no-defaults). A Galera node needs one:
   * the SST scripts read their settings from the server's option file, and from the host's
   * /etc/mysql when the server has none. The file then sets innodb_buffer_pool_size: the SST
   * scripts pass one found in argv on to mariadb-backup, which refuses it (MariaDB 10.11.19).
   */
  defaultsFile?: string;
  /**
   * Start on this existing data directory (a restored one) instead of a new one: no
   * mariadb-install-db, and root's password is whatever that data directory holds.
   */
  existingDatadir?: string;
}

export interface MariaDbInstance {
  host: '127.0.0.1';
  port: number;
  socket: string;
  datadir: string;
  dir: string;
  rootPassword: string;
  /** Changes on restart(). */
  readonly pid: number;
  /** Clean shutdown, then removes dir if this module created it. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would: the next restart() runs InnoDB crash recovery. */
  kill(): void;
  /** Starts mariadbd again on the same datadir and port, stopping it first if it still runs. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
// InnoDB flushes the buffer pool on shutdown; a loaded instance can take a while.
const SHUTDOWN_TIMEOUT_MS = 60_000;
// sun_path holds 108 bytes on Linux; mariadbd refuses longer socket paths.
const MAX_SOCKET_PATH = 100;

const execFileAsync = promisify(execFile);

export async function startMariaDbInstance(options: MariaDbInstanceOptions): Promise<MariaDbInstance> {
  const createdDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'dbkeep-mdb-'));
  const datadir = options.existingDatadir ?? join(dir, 'data');
  const socket = join(dir, 'mariadbd.sock');
  if (socket.length > MAX_SOCKET_PATH) {
    throw new Error(`MariaDB socket path ${socket} is longer than ${MAX_SOCKET_PATH} characters: pass a shorter dir`);
  }
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? (await findFreePort());
  const runAsRoot = process.getuid?.() === 0;
  // mariadbd refuses to run as the OS root user unless told to, and --user is only valid as root.
  const userArgs = runAsRoot ? ['--user=root'] : [];

  if (!options.existingDatadir) await installSystemTables(datadir, userArgs);

  const serverArgs = [
    options.defaultsFile ? `--defaults-file=${options.defaultsFile}` : '--no-defaults',
    `--datadir=${datadir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'mariadbd.pid')}`,
    ...userArgs,
    ...(options.defaultsFile ? [] : ['--innodb-buffer-pool-size=128M']),
    // Linux caps AIO contexts machine-wide (fs.aio-max-nr); the suites start many instances.
    '--innodb-use-native-aio=0',
    '--skip-name-resolve',
    ...(options.extraArgs ?? []),
  ];
  const startServer = () =>
    startManagedProcess({ command: mariadbToolPath('mariadbd'), args: serverArgs, logFile: join(dir, 'mariadbd.log') });
  const tcpAsRoot: ConnectionOptions = { host: '127.0.0.1', port, user: 'root', password: options.rootPassword };

  let server = startServer();
  try {
    if (!options.existingDatadir) {
      // install-db leaves root without a password, reachable over the socket only until secureRoot runs.
      await waitForConnection(server, { socketPath: socket, user: 'root' }, `MariaDB on ${socket}`);
      await secureRoot(socket, options.rootPassword);
    }
    await waitForConnection(server, tcpAsRoot, `MariaDB on 127.0.0.1:${port} as root`);
  } catch (error) {
    server.kill();
    throw error;
  }

  return {
    host: '127.0.0.1',
    port,
    socket,
    datadir,
    dir,
    rootPassword: options.rootPassword,
    get pid() {
      return server.pid;
    },
    async stop() {
      await server.stop('SIGTERM', SHUTDOWN_TIMEOUT_MS);
      if (createdDir) rmSync(dir, { recursive: true, force: true });
    },
    kill: () => server.kill(),
    async restart() {
      await server.stop('SIGTERM', SHUTDOWN_TIMEOUT_MS);
      server = startServer();
      await waitForConnection(server, tcpAsRoot, `MariaDB on 127.0.0.1:${port} after restart`);
    },
  };
}

async function installSystemTables(datadir: string, userArgs: string[]): Promise<void> {
  const args = [
    '--no-defaults',
    `--datadir=${datadir}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--innodb-use-native-aio=0',
    // Without it install-db also creates root@<hostname>, which --skip-name-resolve then ignores noisily.
    '--skip-name-resolve',
    ...userArgs,
  ];
  try {
    await execFileAsync(mariadbToolPath('mariadb-install-db'), args);
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`mariadb-install-db failed for ${datadir}:\n${stdout}${stderr}`);
  }
}

/**
 * Gives root a password on both the socket and TCP accounts. The passwordless root@::1 that
 * install-db creates goes: nothing listens there, and an extraArgs bind-address must not expose it.
 */
async function secureRoot(socket: string, password: string): Promise<void> {
  const connection = await createConnection({ socketPath: socket, user: 'root' });
  try {
    await connection.query("ALTER USER 'root'@'localhost' IDENTIFIED BY ?", [password]);
    await connection.query("CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY ?", [password]);
    await connection.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
    await connection.query("DROP USER IF EXISTS 'root'@'::1'");
  } finally {
    await connection.end();
  }
}

function waitForConnection(server: ManagedProcess, connectionOptions: ConnectionOptions, what: string): Promise<void> {
  return server.waitUntil(
    async () => {
      const connection = await createConnection({ ...connectionOptions, connectTimeout: 2_000 });
      await connection.end();
      return true;
    },
    { timeoutMs: READY_TIMEOUT_MS, what },
  );
}
