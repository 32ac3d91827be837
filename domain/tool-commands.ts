import type { CompressionSpec, CompressionAlgorithm, Engine, TargetSpec } from './resources';
import { tlsOptionLines } from './target-tls';

/**
 * The argv of every external tool dbkeep runs, as pure functions of the spec, so they can
 * be unit-tested without running anything. Tools are always spawned without a shell.
 */
export interface ToolCommand {
  command: string;
  args: string[];
}

const CLIENT_TOOLS: Record<Engine, { dump: string; client: string; physical: string; extract: string; server: string }> = {
  mariadb: { dump: 'mariadb-dump', client: 'mariadb', physical: 'mariadb-backup', extract: 'mbstream', server: 'mariadbd' },
  // Percona's xtrabackup and xbstream: not in Debian, they must be on the worker image.
  mysql: { dump: 'mysqldump', client: 'mysql', physical: 'xtrabackup', extract: 'xbstream', server: 'mysqld' },
  'percona-xtradb': { dump: 'mysqldump', client: 'mysql', physical: 'xtrabackup', extract: 'xbstream', server: 'mysqld' },
};

/** Whose client tools a Target's engine is dumped and restored with: their options differ. */
export function clientFamily(engine: Engine): 'mysql' | 'mariadb' {
  return CLIENT_TOOLS[engine].dump === 'mysqldump' ? 'mysql' : 'mariadb';
}

/** Galera targets: Percona XtraDB Cluster always, MariaDB when the Target says so. */
export function isGaleraTarget(target: TargetSpec): boolean {
  return target.engine === 'percona-xtradb' || target.galera !== undefined;
}

/**
 * The password goes into an option file the tool reads with --defaults-file (which must be
 * the first argument); never into argv, where `ps` shows it. --defaults-file also keeps the
 * worker host's my.cnf out of the way, so a dump behaves the same on every worker.
 */
export function optionFileContents(password: string | undefined, otherLines: readonly string[] = []): string {
  const others = otherLines.map((line) => `${line}\n`).join('');
  if (password === undefined) return `[client]\n${others}`;
  // The option file parser strips one pair of surrounding quotes and unescapes these.
  const escaped = password
    .replace(/\\/g, '\\\\')
    // Unescaped, a `"` would end the quoted value and a later `#` would start a comment.
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')
    // The option file's own escape for a backspace, which a password may hold.
    // eslint-disable-next-line no-control-regex -- matching the control character is the point
    .replace(/\x08/g, '\\b');
  return `[client]\npassword="${escaped}"\n${others}`;
}

function connectionArgs(target: TargetSpec): string[] {
  const where = target.socket
    ? ['--protocol=SOCKET', `--socket=${target.socket}`]
    : ['--protocol=TCP', `--host=${target.host}`, `--port=${target.port}`];
  return [...where, `--user=${target.user}`];
}

/** What the preflight read of the server's binary log: whether the dump can record a position. */
export interface BinaryLogState {
  enabled: boolean;
  /**
   * Whether the dump user may record the position: MariaDB needs BINLOG MONITOR (or REPLICATION
   * CLIENT) for SHOW MASTER STATUS; MySQL also RELOAD for the moment's FLUSH TABLES WITH READ LOCK.
   * Without them the dump records none rather than failing.
   */
  positionReadable: boolean;
  /** MySQL's @@gtid_mode ('ON', 'OFF', ...); absent on MariaDB, whose GTIDs are always on with the binary log. */
  gtidMode?: string;
}

/**
 * The options that make the dump tool write the snapshot's replication position into the dump's
 * header, as comments only (nothing in them runs on restore; domain/replication-position.ts reads
 * them). MySQL's mysqldump otherwise writes an executable `SET @@GLOBAL.GTID_PURGED` when GTIDs
 * are on, which fails every restore into a server with a GTID history of its own (ERROR 3546).
 *
 * The price on MySQL: `--source-data` (and a GTID set with --single-transaction) takes FLUSH
 * TABLES WITH READ LOCK for the moment the snapshot starts, so the dump user needs RELOAD. MariaDB
 * reads the position from its consistent snapshot (binlog_snapshot_file) without that lock.
 * Galera nodes record their cluster position instead (manifest `galera`), so no lock is taken there.
 */
export function replicationPositionArgs(target: TargetSpec, binaryLog: BinaryLogState | undefined): string[] {
  const mysqlTools = clientFamily(target.engine) === 'mysql';
  const gtidsOn = binaryLog?.gtidMode === 'ON';
  if (isGaleraTarget(target) || binaryLog === undefined) return mysqlTools ? ['--set-gtid-purged=OFF'] : [];
  const position = binaryLog.enabled && binaryLog.positionReadable;
  if (mysqlTools)
    return [`--set-gtid-purged=${gtidsOn && binaryLog.positionReadable ? 'COMMENTED' : 'OFF'}`, ...(position ? ['--source-data=2'] : [])];
  return position ? ['--master-data=2'] : [];
}

export function logicalDumpCommand(params: {
  target: TargetSpec;
  optionFile: string;
  databases: readonly string[];
  /** Undefined: record no position (a dump the preflight could not ask, e.g. an import). */
  binaryLog?: BinaryLogState;
  /** The configuration's `args`, checked by toolArgumentProblem for the dump tool. */
  extraArgs?: readonly string[];
}): ToolCommand {
  return {
    command: CLIENT_TOOLS[params.target.engine].dump,
    args: [
      `--defaults-file=${params.optionFile}`,
      ...connectionArgs(params.target),
      // One consistent InnoDB snapshot without locking writers.
      '--single-transaction',
      '--routines',
      '--events',
      '--triggers',
      // Binary columns as hex literals: exact round trip whatever the connection charset.
      '--hex-blob',
      '--default-character-set=utf8mb4',
      ...galeraDumpArgs(params.target),
      ...replicationPositionArgs(params.target, params.binaryLog),
      // Before the user's args: an option of theirs written without its value (`--where`) takes
      // the next argument as its value, which must not be this one (the names would then be read
      // as one database and its tables, without CREATE DATABASE or USE).
      '--databases',
      ...(params.extraArgs ?? []),
      // `--` so a database whose name starts with "-" is never read as an option.
      '--',
      ...params.databases,
    ],
  };
}

/**
 * Galera replicates row events, not LOCK TABLES: a dump restored into a cluster must not hold
 * table locks (they would block on, or be ignored by, the other nodes). mysql.global_priv holds
 * the cluster's own users; mariadb-operator leaves it out so a restore never replaces them.
 */
function galeraDumpArgs(target: TargetSpec): string[] {
  if (!isGaleraTarget(target)) return [];
  const ignoreGlobalPriv = target.galera?.ignoreGlobalPriv ?? true;
  return ['--skip-add-locks', ...(ignoreGlobalPriv ? ['--ignore-table=mysql.global_priv'] : [])];
}

/**
 * A hot backup of the data directory as an xbstream on stdout. `--target-dir` only holds the
 * tool's own scratch files (without it they land in the current directory).
 */
export function physicalBackupCommand(params: {
  target: TargetSpec;
  optionFile: string;
  datadir: string;
  scratchDir: string;
  extraArgs?: readonly string[];
}): ToolCommand {
  return {
    command: CLIENT_TOOLS[params.target.engine].physical,
    args: [
      `--defaults-file=${params.optionFile}`,
      '--backup',
      '--stream=xbstream',
      `--datadir=${params.datadir}`,
      `--target-dir=${params.scratchDir}`,
      ...connectionArgs(params.target),
      // The node's Galera position goes into the stream (xtrabackup_galera_info).
      ...(isGaleraTarget(params.target) ? ['--galera-info'] : []),
      ...(params.extraArgs ?? []),
    ],
  };
}

/** Unpacks an xbstream read from stdin into `directory`. */
export function extractStreamCommand(engine: Engine, directory: string): ToolCommand {
  return { command: CLIENT_TOOLS[engine].extract, args: ['-x', '-C', directory] };
}

/** Applies the redo log so the copied files are a consistent data directory a server can start on. */
export function preparePhysicalBackupCommand(engine: Engine, directory: string): ToolCommand {
  return { command: CLIENT_TOOLS[engine].physical, args: ['--prepare', `--target-dir=${directory}`] };
}

/**
 * No session settings are added for speed, on purpose (measured on the benchmark's generated data,
 * 200 MiB, MariaDB 10.11; bench/README.md):
 * - unique_checks=0 and foreign_key_checks=0: the dump's own header already sets both before
 *   its first table, so an --init-command repeating them changes nothing.
 * - autocommit=0 (one transaction per table): InnoDB then bulk-loads the whole table through
 *   its sort buffers (MDEV-24621, since the checks are off), which made the restore 1.3-2.2x
 *   slower, not faster.
 * - sql_log_bin=0: about 10% faster when the server writes a binary log, but it needs SUPER or
 *   BINLOG ADMIN (without them the failed --init-command fails the connection, so the restore),
 *   and it would keep the restored data from the target's replicas and from binlog-based
 *   point-in-time recovery. That is the user's call, not a default.
 * A parallel restore's LOAD DATA parts are the one exception: their statement files turn
 * unique_checks back on after the dump's header, to keep InnoDB off its bulk path
 * (pipeline/native/dbkeep-stage.c says why).
 */
export function logicalRestoreCommand(params: {
  target: TargetSpec;
  optionFile: string;
  /** The restore's `args`, checked by toolArgumentProblem for the client. */
  extraArgs?: readonly string[];
  /**
   * Apply without writing the target's binary log: only when the target takes the snapshot's
   * GTID position afterwards (domain/gtid-restore.ts), which is what mysqldump's own
   * `SET @@SESSION.SQL_LOG_BIN=0` header does for the same case.
   */
  withoutBinaryLog?: boolean;
}): ToolCommand {
  return {
    command: CLIENT_TOOLS[params.target.engine].client,
    args: [
      `--defaults-file=${params.optionFile}`,
      ...connectionArgs(params.target),
      ...applyArgs(params.target.engine),
      ...(params.withoutBinaryLog ? ['--init-command=SET SESSION sql_log_bin=0'] : []),
      ...(params.extraArgs ?? []),
    ],
  };
}

/**
 * The restore's client for a load part (pipeline/parallel-apply.ts): the same connection and
 * options, allowed to send the local file a LOAD DATA LOCAL names. It only ever reads dbkeep's
 * own statement file, never a dump's SQL, so a dump still cannot read the worker's files.
 */
export function loadDataClientCommand(client: ToolCommand): ToolCommand {
  return { command: client.command, args: [...client.args, '--local-infile=1', '--skip-column-names'] };
}

/** How the client applies SQL that dbkeep streams into it: a dump, or a decoded binary log. */
function applyArgs(engine: Engine): string[] {
  return [
    // Dumps hold binary data and \0 bytes; without it the client may misparse them.
    '--binary-mode',
    '--default-character-set=utf8mb4',
    '--batch',
    // A dump is data, not a script: a restored (or imported) one must never run shell commands
    // (`system`), read files (`source`, LOAD DATA LOCAL) or write them (`tee`) on the worker.
    // --batch with --binary-mode already sends such lines to the server as SQL (which refuses
    // them); --sandbox, which MariaDB's client has since 10.5.25/10.6.18/10.11.8 (MySQL's has
    // none), keeps it so should an `args` option ever turn client commands back on.
    ...(engine === 'mariadb' ? ['--sandbox'] : []),
  ];
}

/** Where a worker's own server (localServerCommand) keeps its socket, pid file and temporary files. */
export interface LocalServerPaths {
  datadir: string;
  socket: string;
  pidFile: string;
  tmpdir: string;
}

/**
 * A server of the worker's own on a restored data directory (pipeline/local-server.ts), reachable
 * by nothing but the worker: no TCP port (nor MySQL's X protocol), a socket in a private
 * directory, so grant tables can be skipped on restored data; no binary log (what it applies is the source's
 * history, not its own); the event scheduler off and no replication threads, so nothing but what the
 * worker sends changes the data; no option file of the host. `user` is whom a worker running as
 * root runs it as (the data directory's owner): the servers refuse to run as root otherwise.
 */
export function localServerCommand(
  engine: Engine,
  paths: LocalServerPaths,
  options: {
    user?: string;
    /**
     * `skip` (restored data, whose users' passwords the worker does not know): no grant tables,
     * which also disables the event scheduler, so a CREATE EVENT is refused. `use` (a data
     * directory the worker initialized, root without a password): events and users can be created.
     */
    grantTables?: 'skip' | 'use';
  } = {},
): ToolCommand {
  const mysql = clientFamily(engine) === 'mysql';
  return {
    command: CLIENT_TOOLS[engine].server,
    args: [
      '--no-defaults',
      `--datadir=${paths.datadir}`,
      `--socket=${paths.socket}`,
      `--pid-file=${paths.pidFile}`,
      `--tmpdir=${paths.tmpdir}`,
      '--skip-networking',
      ...((options.grantTables ?? 'skip') === 'skip' ? ['--skip-grant-tables'] : []),
      '--skip-log-bin',
      // OFF, not DISABLED: events are created as the data says, and none runs.
      '--event-scheduler=OFF',
      ...(mysql ? ['--skip-replica-start', '--mysqlx=OFF'] : ['--skip-slave-start']),
      ...(options.user === undefined ? [] : [`--user=${options.user}`]),
    ],
  };
}

/**
 * Makes an empty data directory a server of the engine starts on, for a worker's own server (a
 * restore drill's scratch server): system tables, and root@localhost without a password (only
 * the worker reaches the server, on its socket). Without a host name lookup (`--cross-bootstrap`).
 * `user`: as for localServerCommand; mysqld refuses to initialize as root without it.
 */
export function initializeDataDirectoryCommand(engine: Engine, datadir: string, options: { user?: string } = {}): ToolCommand {
  if (clientFamily(engine) === 'mysql') {
    return {
      command: CLIENT_TOOLS[engine].server,
      args: [
        '--no-defaults',
        '--initialize-insecure',
        `--datadir=${datadir}`,
        ...(options.user === undefined ? [] : [`--user=${options.user}`]),
      ],
    };
  }
  return {
    command: 'mariadb-install-db',
    args: ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--cross-bootstrap'],
  };
}

/**
 * The dump tool's options that change what it writes, beyond dbkeep's own: a Galera target's
 * (no LOCK TABLES, mysql.global_priv left out) and the configuration's `args`. A restore drill
 * dumps the restored copy again with these, so both dumps read alike.
 */
export function dumpOutputArgs(target: TargetSpec, extraArgs: readonly string[]): string[] {
  return [...galeraDumpArgs(target), ...extraArgs];
}

/**
 * The client as root into a server dbkeep started: the worker's own on its socket (a replica
 * volume's, a drill's), or a drill's scratch server in a pod at its address. The option file keeps the host's my.cnf out and holds root's
 * password where there is one (scratchServerOptionLines gives the rest).
 */
export function rootClientCommand(
  engine: Engine,
  optionFile: string,
  address: { socket: string } | { host: string; port: number },
): ToolCommand {
  const where =
    'socket' in address
      ? ['--protocol=SOCKET', `--socket=${address.socket}`]
      : ['--protocol=TCP', `--host=${address.host}`, `--port=${address.port}`];
  return { command: CLIENT_TOOLS[engine].client, args: [`--defaults-file=${optionFile}`, ...where, '--user=root', ...applyArgs(engine)] };
}

/**
 * The option file's lines for a scratch server beyond the password: over TCP, TLS when the
 * server offers it, unverified (`preferred`): the official images make their own certificate,
 * which nothing can verify. The copy crosses the cluster's network encrypted where the image
 * allows, as a Target in `preferred` mode does.
 */
export function scratchServerOptionLines(engine: Engine, address: { socket: string } | { host: string; port: number }): string[] {
  return 'socket' in address ? [] : tlsOptionLines(clientFamily(engine), 'preferred', {});
}

/**
 * The archiver's replication client: the source's binary log as the server writes it (`--raw`),
 * one file per binary log in `resultDirectory`, following the source until it is stopped
 * (`--stop-never`). It connects as a replica with a server id of its own, which must differ from
 * the source's and its replicas' (binlogReaderServerId).
 */
export function binlogStreamCommand(params: {
  target: TargetSpec;
  optionFile: string;
  serverId: number;
  resultDirectory: string;
  startFile: string;
}): ToolCommand {
  const mysql = clientFamily(params.target.engine) === 'mysql';
  return {
    command: mysql ? 'mysqlbinlog' : 'mariadb-binlog',
    args: [
      `--defaults-file=${params.optionFile}`,
      ...connectionArgs(params.target),
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      // MariaDB's mariadb-binlog knows only the older name; MySQL deprecates it.
      mysql ? `--connection-server-id=${params.serverId}` : `--stop-never-slave-server-id=${params.serverId}`,
      // A directory prefix (trailing slash): the files keep the source's names.
      `--result-file=${params.resultDirectory.endsWith('/') ? params.resultDirectory : `${params.resultDirectory}/`}`,
      params.startFile,
    ],
  };
}

/**
 * The server id the archiver of a configuration connects with: stable across restarts (a source
 * drops the old connection of the same id), distinct between configurations, and far above the
 * ids people give servers (they count from 1), inside server_id's 32 bits.
 */
export function binlogReaderServerId(configuration: string): number {
  let hash = 2166136261;
  for (const char of configuration) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  return 3_000_000_000 + (hash % 1_000_000_000);
}

/**
 * The engine's decoder of a binary log read from stdin, writing SQL for the client. A replay
 * that continues the snapshot's own history (the target took its GTIDs) keeps the source's GTIDs;
 * into a target with a history of its own, MySQL's decoder drops them (`--skip-gtids`) and
 * MariaDB's settings are dropped from its output (isMariadbGtidSessionLine), so every replayed
 * transaction is a new one of the target and none is skipped as already known.
 */
export function binlogDecodeCommand(engine: Engine, keepSourceGtids: boolean): ToolCommand {
  const mysql = clientFamily(engine) === 'mysql';
  return {
    command: mysql ? 'mysqlbinlog' : 'mariadb-binlog',
    args: ['--verify-binlog-checksum', ...(mysql && !keepSourceGtids ? ['--skip-gtids'] : []), '-'],
  };
}

// `/*M!100001 SET @@session.gtid_seq_no=14*//*!*/;` and its gtid_domain_id and server_id siblings.
const MARIADB_GTID_SESSION_LINE = /^\/\*M!100001 SET @@session\.(?:gtid_domain_id|server_id|gtid_seq_no)=\d+\*\/\/\*!\*\/;$/;

/** A line of mariadb-binlog's output that gives the next transaction the source's GTID. */
export function isMariadbGtidSessionLine(line: string): boolean {
  return MARIADB_GTID_SESSION_LINE.test(line);
}

export function toolVersionCommand(engine: Engine, tool: 'dump' | 'client' | 'physical'): ToolCommand {
  return { command: CLIENT_TOOLS[engine][tool], args: ['--version'] };
}

export function compressCommand(spec: CompressionSpec): ToolCommand | undefined {
  const level = spec.level === undefined ? [] : [`-${spec.level}`];
  switch (spec.algorithm) {
    case 'zstd':
      return { command: 'zstd', args: [...(spec.level === undefined ? ['-3'] : level), '-c', '-q'] };
    case 'gzip':
      return { command: 'gzip', args: [...level, '-c'] };
    case 'bzip2':
      return { command: 'bzip2', args: [...level, '-c'] };
    case 'none':
      return undefined;
  }
}

export function decompressCommand(algorithm: CompressionAlgorithm): ToolCommand | undefined {
  switch (algorithm) {
    case 'zstd':
      return { command: 'zstd', args: ['-d', '-c', '-q'] };
    case 'gzip':
      return { command: 'gzip', args: ['-d', '-c'] };
    case 'bzip2':
      return { command: 'bzip2', args: ['-d', '-c'] };
    case 'none':
      return undefined;
  }
}

/**
 * What the stored bytes go through after the producer: compression, then age encryption to
 * the recipients in `recipientsFile` (public keys; a file because the reference may hold many).
 * Restores undo them in the reverse order.
 */
export function storageFilters(params: { compression: CompressionSpec; recipientsFile?: string }): ToolCommand[] {
  const compress = compressCommand(params.compression);
  return [
    ...(compress ? [compress] : []),
    ...(params.recipientsFile ? [{ command: 'age', args: ['--encrypt', '--recipients-file', params.recipientsFile] }] : []),
  ];
}

export function restoreFilters(params: { algorithm: CompressionAlgorithm; identityFile?: string }): ToolCommand[] {
  const decompress = decompressCommand(params.algorithm);
  return [
    ...(params.identityFile ? [{ command: 'age', args: ['--decrypt', '--identity', params.identityFile] }] : []),
    ...(decompress ? [decompress] : []),
  ];
}

export function compressorVersionCommand(algorithm: CompressionAlgorithm): ToolCommand | undefined {
  return algorithm === 'none' ? undefined : { command: algorithm, args: ['--version'] };
}

/** What builds the tools dbkeep compiles from C (pipeline/native-tools.ts). */
const NATIVE_TOOL_PROVIDER =
  "build dbkeep with `npm run build`, which compiles it with a C compiler (cc) from pipeline/native/; the worker image's build stage does";

const TOOL_PROVIDERS: Record<string, string> = {
  'mariadb-dump': "MariaDB's client tools, for engine mariadb (Debian: mariadb-client)",
  mariadb: "MariaDB's client tools, for engine mariadb (Debian: mariadb-client)",
  'mariadb-backup': 'MariaDB Backup, for physical backups of engine mariadb (Debian: mariadb-backup)',
  mbstream: 'MariaDB Backup, for physical backups of engine mariadb (Debian: mariadb-backup)',
  mysqldump: "MySQL's client tools, for engines mysql and percona-xtradb (Debian: mysql-client-core)",
  mysql: "MySQL's client tools, for engines mysql and percona-xtradb (Debian: mysql-client-core)",
  xtrabackup: 'Percona XtraBackup, for physical backups of engines mysql and percona-xtradb (not in Debian)',
  xbstream: 'Percona XtraBackup, for physical backups of engines mysql and percona-xtradb (not in Debian)',
  mariadbd: 'the MariaDB server, for a point-in-time replay into restored volumes of engine mariadb (Debian: mariadb-server-core)',
  mysqld:
    'the MySQL server, for a point-in-time replay into restored volumes of engines mysql and percona-xtradb (Debian: mysql-server-core)',
  zstd: 'zstd (Debian: zstd)',
  age: 'age, for encrypted snapshots (Debian: age)',
  'dbkeep-tee': NATIVE_TOOL_PROVIDER,
  'dbkeep-relay': NATIVE_TOOL_PROVIDER,
  'dbkeep-sink': NATIVE_TOOL_PROVIDER,
  'dbkeep-stage': NATIVE_TOOL_PROVIDER,
  'dbkeep-copy': NATIVE_TOOL_PROVIDER,
  'dbkeep-fetch': NATIVE_TOOL_PROVIDER,
  mkfifo: 'coreutils, for the FIFOs a dump and the scan for its drill fingerprint go through (Debian: coreutils)',
};

/** What provides a tool dbkeep runs, for the message when the worker lacks it. */
export function toolProvider(command: string): string | undefined {
  return TOOL_PROVIDERS[command];
}

/** A tool a session runs on the worker, and what it is for: a worker that lacks it is told both. */
export interface SessionTool {
  command: string;
  /** e.g. "the mysql client", "the snapshot's zstd compression". */
  role: string;
}

const ENGINE_TOOL_ROLES = { dump: 'dump tool', client: 'client', physical: 'physical backup tool' } as const;

/**
 * The tools a backup (`dump` or `physical`) or a logical restore (`client`) runs, with the
 * snapshot's compressor and age when it has them: what the session checks the worker has before
 * it changes anything (requireToolsOnPath in pipeline/tool-process.ts).
 */
export function sessionTools(params: {
  engine: Engine;
  tool: keyof typeof ENGINE_TOOL_ROLES;
  compression?: CompressionAlgorithm;
  encrypted?: boolean;
  /** A logical backup recording a drill fingerprint: with zstd, Node reads dbkeep-tee's scan of the dump (pipeline/dump-scan.ts). */
  fingerprinted?: boolean;
  /** A backup into a directory repository: zstd's output, when no age follows it, goes into the file through dbkeep-sink. */
  intoDirectory?: boolean;
}): SessionTool[] {
  const { engine, tool, compression } = params;
  const scanned = params.fingerprinted === true && tool === 'dump' && compression === 'zstd';
  // zstd reads a backup tool's output through dbkeep-relay (pipeline/stream-pipelines.ts), or through dbkeep-tee's scan.
  const relayed = tool !== 'client' && compression === 'zstd' && !scanned;
  const sunk = tool !== 'client' && compression === 'zstd' && params.encrypted !== true && params.intoDirectory === true;
  return [
    { command: CLIENT_TOOLS[engine][tool], role: `the ${engine} ${ENGINE_TOOL_ROLES[tool]}` },
    ...(compression && compression !== 'none' ? [{ command: compression, role: `the snapshot's ${compression} compression` }] : []),
    ...(params.encrypted ? [{ command: 'age', role: "the snapshot's age encryption" }] : []),
    ...(relayed ? [{ command: 'dbkeep-relay', role: "the batched reads of the backup tool's output" }] : []),
    ...(scanned ? ['dbkeep-tee', 'mkfifo'].map((command) => ({ command, role: "the scan of the dump for the drill's fingerprint" })) : []),
    ...(sunk ? [{ command: 'dbkeep-sink', role: "the write of zstd's output into the repository's file" }] : []),
  ];
}
