import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { SEARCH_ATTRIBUTES, searchAttributeRegistrations } from '../domain/search-attributes';
import { findFreePorts } from './free-port';
import { startManagedProcess } from '../pipeline/managed-process';
import { startOnFreePorts, startReady } from './start-on-free-ports';
import { temporalCliPath } from './tool-paths';

export interface TemporalDevServerOptions {
  /** Holds the log file; created when missing. */
  dir: string;
  port?: number;
  uiPort?: number;
  /** SQLite file that keeps workflow history across restarts; in memory when absent. */
  dbFile?: string;
  detached?: boolean;
  namespace?: string;
}

export interface TemporalDevServer {
  /** 127.0.0.1:port of the gRPC frontend. */
  address: string;
  uiUrl: string;
  namespace: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
// grpc-js is not a direct dependency, so its status enum is not imported for this one code.
const GRPC_ALREADY_EXISTS = 6;

export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  mkdirSync(options.dir, { recursive: true });
  const namespace = options.namespace ?? 'default';
  // The CLI binds its history, matching and worker services to ports it picks itself, which
  // another server starting at the same moment can take first.
  const { server, port, uiPort } = await startOnFreePorts(async () => {
    // Four different ports: the gRPC, UI, HTTP and metrics listeners each need their own.
    const [freePort, freeUiPort, httpPort, metricsPort] = (await findFreePorts(4)) as [number, number, number, number];
    const port = options.port ?? freePort;
    const uiPort = options.uiPort ?? freeUiPort;
    const address = `127.0.0.1:${port}`;
    const child = startManagedProcess({
      command: temporalCliPath(),
      args: devServerArgs({ ...options, namespace, port, uiPort, httpPort, metricsPort }),
      logFile: join(options.dir, 'temporal.log'),
      detached: options.detached,
    });
    await startReady(child, async () => (await acceptsTcp(port)) && (await describesNamespace(address, namespace)), {
      timeoutMs: READY_TIMEOUT_MS,
      what: `Temporal dev server on ${address}`,
    });
    return { server: child, port, uiPort };
  });
  const address = `127.0.0.1:${port}`;
  try {
    // --search-attribute only takes effect when the SQLite file is new; a --db-filename kept
    // from an older dbkeep would otherwise miss attributes added since.
    await registerSearchAttributes(address, namespace);
  } catch (error) {
    server.kill();
    throw error;
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    namespace,
    pid: server.pid,
    logFile: server.logFile,
    stop: () => server.stop(),
  };
}

// The history service reads each shard's queue of pending dispatches at most 20 times a second
// by default, so every step of a session (a workflow task, an activity, a child's start or end)
// waited up to 50 ms for its turn: 0.7 s of a tiny backup session's 0.9 s. A dev server has one
// shard and little traffic, so its queues may be read on every notification; docs/operations.md
// says what a production cluster gains from the same setting.
const QUEUE_POLL_RATES = ['history.transferProcessorMaxPollRPS=1000', 'history.visibilityProcessorMaxPollRPS=1000'];

// The CLI picks random http and metrics ports on all interfaces unless told otherwise.
function devServerArgs(options: {
  port: number;
  uiPort: number;
  httpPort: number;
  metricsPort: number;
  namespace: string;
  dbFile?: string;
}): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--ui-ip',
    '127.0.0.1',
    '--ui-port',
    String(options.uiPort),
    '--http-port',
    String(options.httpPort),
    '--metrics-port',
    String(options.metricsPort),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
    ...QUEUE_POLL_RATES.flatMap((setting) => ['--dynamic-config-value', setting]),
    ...(options.dbFile === undefined ? [] : ['--db-filename', options.dbFile]),
    ...searchAttributeRegistrations.flatMap((registration) => ['--search-attribute', registration]),
  ];
}

/** Registers dbkeep's search attributes on a namespace, leaving those already there. */
export async function registerSearchAttributes(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
    const missing = Object.values(SEARCH_ATTRIBUTES).filter((key) => !known.has(key.name));
    if (missing.length === 0) return;
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        // The encoder returns undefined only for a null type, which a defined key never has.
        searchAttributes: Object.fromEntries(missing.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type)!])),
      });
    } catch (error) {
      // Another dbkeep registering the same attributes at the same moment is fine.
      if (!(isGrpcServiceError(error) && error.code === GRPC_ALREADY_EXISTS)) throw error;
    }
  } finally {
    await connection.close();
  }
}

// While the port is still closed a raw connect fails in a millisecond; Connection.connect would wait out its timeout.
function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function describesNamespace(address: string, namespace: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } finally {
    await connection.close();
  }
}
