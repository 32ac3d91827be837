import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type ConnectionOptions } from 'mysql2/promise';
import { findFreePort } from './free-port';
import { startOnFreePorts } from './start-on-free-ports';
import { startManagedProcess, type ManagedProcess } from '../pipeline/managed-process';
import { hostMariaDbSetup, rootMariaDbSetup } from './mariadb-server';
import { mysqlSetup } from './mysql-server';
import { engineToolsDir, type EngineRoot } from './tool-paths';

/**
 * A server the stack can start: the host's MariaDB 10.11 (Debian bookworm's packages), or an
 * engine from its Debian root in the tool cache (scripts/bootstrap.sh; docs/engines.md).
 */
export type DatabaseRelease = 'mariadb-10.11' | EngineRoot;

/** The family a release belongs to, as a Target's `engine` names it. */
export type DatabaseEngine = 'mariadb' | 'mysql';

export interface DatabaseInstanceOptions {
  /** Default 'mariadb-10.11', the host's. */
  release?: DatabaseRelease;
  /** Holds datadir, socket and logs. Default: a new dir under os.tmpdir(), removed by stop(). */
  dir?: string;
  rootPassword: string;
  port?: number;
  /** Appended to the server's argv on every start, e.g. ['--log-bin=binlog']. */
  extraArgs?: string[];
  /**
   * The server reads this option file instead of none (--no-defaults). A Galera node needs one:
   * the SST scripts read their settings from the server's option file, and from the host's
   * /etc/mysql when the server has none. The file then sets innodb_buffer_pool_size: the SST
   * scripts pass one found in argv on to mariadb-backup, which refuses it (MariaDB 10.11.19).
   */
  defaultsFile?: string;
  /**
   * Start on this existing data directory (a restored one) instead of a new one: no system
   * tables are created, and root's password is whatever that data directory holds.
   */
  existingDatadir?: string;
  /**
   * MySQL only: --gtid-mode=ON --enforce-gtid-consistency=ON. Its binary log is on either way;
   * MariaDB gives every binary-logged transaction a GTID without being asked.
   */
  gtid?: boolean;
  /** Serve TLS with this certificate (stack/test-certificates.ts makes them). */
  tls?: ServerTls;
}

export interface ServerTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** require_secure_transport=ON: TCP connections without TLS are refused (the socket stays allowed). */
  requireSecureTransport: boolean;
}

export interface DatabaseInstance {
  host: '127.0.0.1';
  port: number;
  socket: string;
  datadir: string;
  dir: string;
  rootPassword: string;
  engine: DatabaseEngine;
  release: DatabaseRelease;
  /** Changes on restart(). */
  readonly pid: number;
  /** Clean shutdown, then removes dir if this module created it. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would: the next restart() runs InnoDB crash recovery. */
  kill(): void;
  /** Starts the server again on the same datadir and port, stopping it first if it still runs. */
  restart(): Promise<void>;
}

/** What differs between releases; starting, waiting for and stopping a server is the same for all. */
export interface ServerSetup {
  /** For messages, e.g. "MySQL 9.7". */
  name: string;
  engine: DatabaseEngine;
  /** Names the server's socket, pid and log files in the instance's dir. */
  serverName: 'mariadbd' | 'mysqld';
  serverCommand: string;
  /** The release's own options: where its files are, what it needs to run here. */
  serverArgs(context: { port: number; logFile: string }): string[];
  /** Creates the system tables in a new datadir, leaving root reachable over the socket without a password. */
  initializeDatadir(datadir: string, userArgs: string[]): Promise<void>;
  /**
   * Run over the socket as the new datadir's passwordless root, they give root the password
   * (each `?`) on both the socket ('root'@'localhost') and TCP ('root'@'127.0.0.1') accounts.
   */
  secureRootStatements: string[];
}

/**
 * PATH for a process (a worker, a test's tool) that is to run this release's client tools, as on a
 * worker image built for it: the root's wrappers first, or PATH as it is for the host's MariaDB
 * 10.11, whose tools are in /usr/bin. With MariaDB 11.8's first, `mysql` and `mysqldump` are its
 * old names for mariadb and mariadb-dump, as in that image.
 */
export function pathWithReleaseTools(release: DatabaseRelease, path = process.env.PATH ?? ''): string {
  return release === 'mariadb-10.11' ? path : `${engineToolsDir(release)}${delimiter}${path}`;
}

// Generous: on a loaded two-core machine a new InnoDB datadir and the first start take a while.
const READY_TIMEOUT_MS = 120_000;
// InnoDB flushes the buffer pool on shutdown; a loaded instance can take a while.
const SHUTDOWN_TIMEOUT_MS = 60_000;
/** How often restart() tries its port again, a second apart, while another process holds it. */
const RESTART_PORT_ATTEMPTS = 10;
// sun_path holds 108 bytes on Linux; the servers refuse longer socket paths.
const MAX_SOCKET_PATH = 100;

function serverSetup(release: DatabaseRelease, options: DatabaseInstanceOptions): ServerSetup {
  if (options.gtid && release !== 'mysql-9.7') {
    throw new Error(`gtid: true is for MySQL; ${release} gives binary-logged transactions GTIDs by itself (pass --log-bin in extraArgs)`);
  }
  switch (release) {
    case 'mariadb-10.11':
      return hostMariaDbSetup();
    case 'mariadb-11.8':
      return rootMariaDbSetup();
    case 'mysql-9.7':
      return mysqlSetup({ gtid: options.gtid ?? false });
  }
}

export async function startDatabaseInstance(options: DatabaseInstanceOptions): Promise<DatabaseInstance> {
  const release = options.release ?? 'mariadb-10.11';
  const setup = serverSetup(release, options);
  const createdDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'dbkeep-mdb-'));
  const datadir = options.existingDatadir ?? join(dir, 'data');
  const socket = join(dir, `${setup.serverName}.sock`);
  if (socket.length > MAX_SOCKET_PATH) {
    throw new Error(`${setup.name} socket path ${socket} is longer than ${MAX_SOCKET_PATH} characters: pass a shorter dir`);
  }
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, `${setup.serverName}.log`);
  const runAsRoot = process.getuid?.() === 0;
  // Both servers refuse to run as the OS root user unless told to, and --user is only valid as root.
  const userArgs = runAsRoot ? ['--user=root'] : [];

  // The servers' temporary files (and the bootstrap's temporary tables) go to a directory of the
  // instance's own: /tmp is shared by every test and tool on the machine.
  const tmpDir = join(dir, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  const ownArgs = [...userArgs, `--tmpdir=${tmpDir}`];

  if (!options.existingDatadir) await initializeWithOneRetry(setup, datadir, ownArgs);

  const serverArgs = (port: number) => [
    options.defaultsFile ? `--defaults-file=${options.defaultsFile}` : '--no-defaults',
    `--datadir=${datadir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, `${setup.serverName}.pid`)}`,
    ...(options.defaultsFile ? userArgs : ownArgs),
    ...(options.defaultsFile ? [] : ['--innodb-buffer-pool-size=128M']),
    // Linux caps AIO contexts machine-wide (fs.aio-max-nr); the suites start many instances.
    '--innodb-use-native-aio=0',
    '--skip-name-resolve',
    ...setup.serverArgs({ port, logFile }),
    ...(options.tls ? tlsServerArgs(options.tls) : []),
    ...(options.extraArgs ?? []),
  ];
  const tcpAsRoot = (port: number): ConnectionOptions => ({
    host: '127.0.0.1',
    port,
    user: 'root',
    password: options.rootPassword,
    // The stack only waits for the server here; the tests check verification themselves.
    ...(options.tls ? { ssl: { rejectUnauthorized: false } } : {}),
  });

  const started = await startOnFreePorts(async () => {
    const port = options.port ?? (await findFreePort());
    const child = startManagedProcess({ command: setup.serverCommand, args: serverArgs(port), logFile });
    try {
      // A server that finds its port taken stops before it opens its socket, so root is not yet secured when it is started again.
      if (!options.existingDatadir) {
        // A new datadir's root has no password and is reachable over the socket only, until secureRoot runs.
        await waitForConnection(child, { socketPath: socket, user: 'root' }, `${setup.name} on ${socket}`);
        await runAsSocketRoot(socket, setup.secureRootStatements, options.rootPassword);
      }
      await waitForConnection(child, tcpAsRoot(port), `${setup.name} on 127.0.0.1:${port} as root`);
    } catch (error) {
      child.kill();
      throw error;
    }
    return { child, port };
  });
  const { port } = started;
  let server = started.child;
  const startServer = () => startManagedProcess({ command: setup.serverCommand, args: serverArgs(port), logFile });

  return {
    host: '127.0.0.1',
    port,
    socket,
    datadir,
    dir,
    rootPassword: options.rootPassword,
    engine: setup.engine,
    release,
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
      // The port must stay the same (clients know it); whoever took it while the server was
      // down (another file's server, an outgoing connection's local port) is waited out.
      for (let attempt = 1; ; attempt++) {
        server = startServer();
        try {
          await waitForConnection(server, tcpAsRoot(port), `${setup.name} on 127.0.0.1:${port} after restart`);
          return;
        } catch (error) {
          server.kill();
          if (attempt >= RESTART_PORT_ATTEMPTS || !/address already in use/i.test(String(error))) throw error;
          await sleep(1_000);
        }
      }
    },
  };
}

function tlsServerArgs(tls: ServerTls): string[] {
  return [
    `--ssl-ca=${tls.caFile}`,
    `--ssl-cert=${tls.certFile}`,
    `--ssl-key=${tls.keyFile}`,
    `--require-secure-transport=${tls.requireSecureTransport ? 'ON' : 'OFF'}`,
  ];
}

/**
 * Bootstrapping system tables on a loaded machine can fail (a temporary table gone
 * mid-bootstrap); a second try on an empty datadir is what an operator would do, and a second
 * failure is reported with the first one's output.
 */
async function initializeWithOneRetry(setup: ServerSetup, datadir: string, args: string[]): Promise<void> {
  try {
    await setup.initializeDatadir(datadir, args);
  } catch (first) {
    rmSync(datadir, { recursive: true, force: true });
    try {
      await setup.initializeDatadir(datadir, args);
    } catch (second) {
      throw new Error(
        `${setup.name}: initializing ${datadir} failed twice.\nFirst: ${(first as Error).message}\nSecond: ${(second as Error).message}`,
      );
    }
  }
}

async function runAsSocketRoot(socket: string, statements: readonly string[], password: string): Promise<void> {
  const connection = await createConnection({ socketPath: socket, user: 'root' });
  try {
    for (const statement of statements) await connection.query(statement, [password]);
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
