import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { findFreePorts } from './free-port';
import { startMariaDbInstance, type MariaDbInstance } from './mariadb-instance';

/** Debian's galera-4 package (a dependency of mariadb-server). */
export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';

export interface GaleraNode {
  /** 0 is the node the cluster was bootstrapped on. */
  index: number;
  /** Node 0's restart() would bootstrap a second cluster (its argv keeps --wsrep-new-cluster): restart the others only. */
  instance: MariaDbInstance;
  /** Group communication (gcomm) port. */
  gcommPort: number;
}

export interface GaleraCluster {
  name: string;
  nodes: GaleraNode[];
  rootPassword: string;
  /** Seconds from the first mariadb-install-db to every node Synced in a cluster of all of them. */
  startSeconds: number;
  /** Every wsrep% status variable of one node, as strings. */
  wsrepStatus(node: GaleraNode): Promise<Record<string, string>>;
  /** Waits until every node is Synced (wsrep_local_state 4) in a primary component of all nodes. */
  waitUntilSynced(timeoutMs?: number): Promise<void>;
  /** Stops the joiners, then the bootstrap node, and removes the cluster's directory. */
  stop(): Promise<void>;
}

export interface GaleraClusterOptions {
  rootPassword: string;
  /** Default 3. */
  size?: number;
  /** Holds one directory per node. Default: a new dir under os.tmpdir(), removed by stop(). */
  dir?: string;
  /**
   * Every node writes a binary log of every transaction of the cluster, with the same GTIDs on
   * every node (wsrep_gtid_mode), as point-in-time recovery needs to switch nodes.
   */
  binaryLog?: boolean;
}

const SYNCED_TIMEOUT_MS = 60_000;
/**
 * How often a joiner is started when its state transfer fails. Seen once in CI on a loaded
 * machine: the donor gave up on the transfer within a second of its request ("State transfer to
 * 1.0 (node1) failed: No message of desired type") and the joiner aborted, as Galera makes it.
 * An operator starts such a node again on an empty data directory; so does the stack, on new IST
 * and SST ports in case another process took them.
 */
const JOIN_ATTEMPTS = 3;
/** The donors' lines about a state transfer, kept when a joiner fails so the failure can be read later. */
const DONOR_LOG_LINES = 30;

/**
 * A throwaway MariaDB Galera cluster on 127.0.0.1: every node listens on loopback only, on ports
 * found free (client, gcomm, IST and SST ports each). Node 0 is bootstrapped on a fresh data
 * directory (`--wsrep-new-cluster`); the others start on an empty one and receive it from a
 * member by mariabackup SST, root's password included. Nodes join one at a time: two joiners asking
 * for SST at once would queue behind the same donor.
 */
export async function startGaleraCluster(options: GaleraClusterOptions): Promise<GaleraCluster> {
  const started = Date.now();
  // Written into option files unquoted: keep to characters that need no escaping there.
  if (!/^[\w.-]+$/.test(options.rootPassword))
    throw new Error('a Galera test cluster needs a root password of letters, digits, ".", "_" and "-"');
  const size = options.size ?? 3;
  const createdDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'dbkeep-galera-'));
  const name = `dbkeep-${Math.random().toString(36).slice(2, 8)}`;
  const ports = await findFreePorts(size * 4);
  const plan: NodePlan[] = Array.from({ length: size }, (_, index) => ({
    index,
    clientPort: ports[index * 4]!,
    gcommPort: ports[index * 4 + 1]!,
    istPort: ports[index * 4 + 2]!,
    sstPort: ports[index * 4 + 3]!,
  }));
  const clusterAddress = `gcomm://${plan.map((p) => `127.0.0.1:${p.gcommPort}`).join(',')}`;
  const nodes: GaleraNode[] = [];

  const stop = async () => {
    // Joiners leave first, so the bootstrap node is the last member and shuts down cleanly.
    for (const node of [...nodes].reverse()) await node.instance.stop().catch(() => undefined);
    if (createdDir) rmSync(dir, { recursive: true, force: true });
  };

  const wsrepStatus = async (node: GaleraNode): Promise<Record<string, string>> => {
    const connection = await createConnection({ socketPath: node.instance.socket, user: 'root', password: options.rootPassword });
    try {
      const [rows] = await connection.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'wsrep%'");
      return Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
    } finally {
      await connection.end();
    }
  };

  const waitUntilSynced = async (timeoutMs = SYNCED_TIMEOUT_MS, members = nodes): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        members.map((node) => wsrepStatus(node).catch((error: Error): Record<string, string> => ({ error: error.message }))),
      );
      const synced = (s: Record<string, string>) =>
        s.wsrep_local_state === '4' &&
        s.wsrep_ready === 'ON' &&
        s.wsrep_cluster_status === 'Primary' &&
        s.wsrep_cluster_size === String(members.length);
      if (states.every(synced)) return;
      if (Date.now() > deadline) {
        const described = states.map(
          (s, i) => `node${i}: ${s.error ?? `${s.wsrep_local_state_comment}, cluster size ${s.wsrep_cluster_size}`}`,
        );
        throw new Error(`Galera cluster ${name} not synced after ${timeoutMs} ms: ${described.join('; ')}`);
      }
      await sleep(200);
    }
  };

  const writeOptionFile = (node: NodePlan, nodeDir: string): string => {
    const defaultsFile = join(nodeDir, 'galera.cnf');
    writeFileSync(
      defaultsFile,
      nodeOptionFile({
        ...node,
        clusterName: name,
        clusterAddress,
        rootPassword: options.rootPassword,
        tmpdir: join(nodeDir, 'tmp'),
        binaryLog: options.binaryLog ?? false,
      }),
      { mode: 0o600 },
    );
    return defaultsFile;
  };

  /** Starts a node on its option file, written anew: a retried joiner gets new IST and SST ports. */
  const startNode = (node: NodePlan, nodeDir: string, start: { existingDatadir: string } | { extraArgs: string[] }) =>
    startMariaDbInstance({
      dir: nodeDir,
      port: node.clientPort,
      rootPassword: options.rootPassword,
      defaultsFile: writeOptionFile(node, nodeDir),
      ...start,
    });

  const startJoiner = async (node: NodePlan, nodeDir: string): Promise<MariaDbInstance> => {
    // SST replaces the whole data directory with the donor's: there is nothing to install.
    const datadir = join(nodeDir, 'data');
    for (let attempt = 1; ; attempt++) {
      rmSync(datadir, { recursive: true, force: true });
      mkdirSync(datadir, { recursive: true });
      try {
        return await startNode(node, nodeDir, { existingDatadir: datadir });
      } catch (error) {
        const donorLog = stateTransferLines(nodes);
        if (attempt >= JOIN_ATTEMPTS || !/before it was ready/.test(String(error))) {
          throw new Error(`${(error as Error).message}\nthe donors' state transfer lines:\n${donorLog}`, { cause: error });
        }
        process.stderr.write(
          `Galera cluster ${name}: node${node.index} failed to join (attempt ${attempt} of ${JOIN_ATTEMPTS}), starting it again; the donors' state transfer lines:\n${donorLog}\n`,
        );
        [node.istPort, node.sstPort] = (await findFreePorts(2)) as [number, number];
        // The donor is back to Synced before the next request, or Galera would find no donor.
        await waitUntilSynced(SYNCED_TIMEOUT_MS, nodes);
      }
    }
  };

  try {
    for (const node of plan) {
      const nodeDir = join(dir, `node${node.index}`);
      mkdirSync(join(nodeDir, 'tmp'), { recursive: true });
      const instance =
        node.index === 0 ? await startNode(node, nodeDir, { extraArgs: ['--wsrep-new-cluster'] }) : await startJoiner(node, nodeDir);
      nodes.push({ index: node.index, instance, gcommPort: node.gcommPort });
      await waitUntilSynced(SYNCED_TIMEOUT_MS, nodes);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    name,
    nodes,
    rootPassword: options.rootPassword,
    startSeconds: (Date.now() - started) / 1000,
    wsrepStatus,
    waitUntilSynced: (timeoutMs) => waitUntilSynced(timeoutMs),
    stop,
  };
}

interface NodePlan {
  index: number;
  clientPort: number;
  gcommPort: number;
  istPort: number;
  sstPort: number;
}

/** The last lines about state transfers in the running nodes' server logs. */
function stateTransferLines(nodes: GaleraNode[]): string {
  const lines = nodes.flatMap((node) => {
    const logFile = join(node.instance.dir, 'mariadbd.log');
    if (!existsSync(logFile)) return [];
    const transferLines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((line) => /SST|State transfer|\[ERROR\]/.test(line));
    return transferLines.slice(-DONOR_LOG_LINES).map((line) => `node${node.index}: ${line}`);
  });
  return lines.length > 0 ? lines.join('\n') : '(none)';
}

/**
 * A node's [mysqld] settings. In the option file rather than argv: the SST scripts
 * read it (the server passes them --defaults-file), and wsrep_sst_auth, root's password for
 * mariabackup SST on the donor, then never shows in `ps`.
 */
function nodeOptionFile(
  node: NodePlan & {
    clusterName: string;
    clusterAddress: string;
    rootPassword: string;
    tmpdir: string;
    binaryLog: boolean;
  },
): string {
  const mysqld = {
    // The server's and the SST scripts' scratch files (mariadb-backup's too) stay in the node's directory.
    tmpdir: node.tmpdir,
    wsrep_on: 'ON',
    wsrep_provider: GALERA_PROVIDER,
    wsrep_cluster_name: node.clusterName,
    wsrep_cluster_address: node.clusterAddress,
    wsrep_node_name: `node${node.index}`,
    wsrep_node_address: `127.0.0.1:${node.gcommPort}`,
    wsrep_node_incoming_address: `127.0.0.1:${node.clientPort}`,
    // A small gcache keeps three nodes light; it still holds a test's writes for IST.
    wsrep_provider_options: `"gmcast.listen_addr=tcp://127.0.0.1:${node.gcommPort};ist.recv_addr=127.0.0.1:${node.istPort};gcache.size=64M"`,
    // Not rsync: when the tests run as the OS root user, its SST daemon switches to "nobody" and cannot write the data directory.
    wsrep_sst_method: 'mariabackup',
    wsrep_sst_receive_address: `127.0.0.1:${node.sstPort}`,
    wsrep_sst_auth: `root:${node.rootPassword}`,
    // Galera's requirements: row events, interleaved auto-increment locks, InnoDB tables.
    binlog_format: 'ROW',
    innodb_autoinc_lock_mode: '2',
    default_storage_engine: 'InnoDB',
    // Here, not in argv: see MariaDbInstanceOptions.defaultsFile.
    innodb_buffer_pool_size: '128M',
    // MariaDB's documented setup for GTIDs in a cluster: one domain for the cluster's writesets,
    // the same server_id on every node, a domain of its own per node for what it writes locally.
    ...(node.binaryLog
      ? {
          log_bin: 'binlog',
          log_slave_updates: 'ON',
          wsrep_gtid_mode: 'ON',
          wsrep_gtid_domain_id: '1',
          server_id: '1',
          gtid_domain_id: String(10 + node.index),
        }
      : {}),
  };
  return ['[mysqld]', ...Object.entries(mysqld).map(([key, value]) => `${key} = ${value}`), ''].join('\n');
}
