import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findFreePort } from './free-port';
import { startManagedProcess } from '../pipeline/managed-process';
import { startOnFreePorts, startReady } from './start-on-free-ports';
import { pushgatewayPath } from './tool-paths';

export interface PushgatewayOptions {
  /** Holds the persistence file and the log; created when missing. */
  dir: string;
  port?: number;
  detached?: boolean;
}

export interface PushgatewayServer {
  /** http://127.0.0.1:port */
  url: string;
  port: number;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
  kill(): void;
}

const READY_TIMEOUT_MS = 30_000;

/**
 * Starts our own Pushgateway on loopback. Debian's package may also run one as a system
 * service on :9091; that one is never used, so tests and the dev stack see only what they pushed.
 */
export async function startPushgateway(options: PushgatewayOptions): Promise<PushgatewayServer> {
  mkdirSync(options.dir, { recursive: true });
  const { server, port, url } = await startOnFreePorts(async () => {
    const port = options.port ?? (await findFreePort());
    const url = `http://127.0.0.1:${port}`;
    const child = startManagedProcess({
      command: pushgatewayPath(),
      args: [
        `--web.listen-address=127.0.0.1:${port}`,
        // Debian's default is /var/lib/prometheus/pushgateway.data, the system service's file.
        // The Pushgateway also writes this file when it stops, so a restart in dir keeps the groups.
        `--persistence.file=${join(options.dir, 'pushgateway.data')}`,
      ],
      logFile: join(options.dir, 'pushgateway.log'),
      detached: options.detached,
    });
    await startReady(child, () => isReady(url), { timeoutMs: READY_TIMEOUT_MS, what: `Pushgateway on ${url}` });
    return { server: child, port, url };
  });
  return {
    url,
    port,
    pid: server.pid,
    logFile: server.logFile,
    stop: () => server.stop(),
    kill: () => server.kill(),
  };
}

/** Whether a Prometheus-project server (Pushgateway, Prometheus) at `url` says it is ready. */
export async function isReady(url: string): Promise<boolean> {
  const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.ok;
}
