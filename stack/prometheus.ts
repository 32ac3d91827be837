import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startManagedProcess } from '../pipeline/managed-process';
import { startOnFreePorts, startReady } from './start-on-free-ports';
import { findFreePort } from './free-port';
import { isReady } from './pushgateway';
import { prometheusPath } from './tool-paths';

export interface PrometheusServer {
  /** http://127.0.0.1:port */
  url: string;
  /** An instant query's result vector (empty: no series). */
  query(expression: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

/**
 * A Prometheus server of our own on loopback (Debian's build, unpacked by scripts/bootstrap.sh),
 * scraping one Pushgateway every second as a production Prometheus would (`honor_labels`, so the
 * pushed job and grouping labels stay), with its data in `dir`: what the dashboard's queries are
 * checked against.
 */
export async function startPrometheus(options: { dir: string; pushgateway: string }): Promise<PrometheusServer> {
  mkdirSync(options.dir, { recursive: true });
  const config = join(options.dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: pushgateway',
      '    honor_labels: true',
      `    static_configs: [{ targets: ['${new URL(options.pushgateway).host}'] }]`,
      '',
    ].join('\n'),
  );
  const { server, url } = await startOnFreePorts(async () => {
    const port = await findFreePort();
    const url = `http://127.0.0.1:${port}`;
    const child = startManagedProcess({
      command: prometheusPath(),
      args: [`--config.file=${config}`, `--storage.tsdb.path=${join(options.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      logFile: join(options.dir, 'prometheus.log'),
    });
    await startReady(child, () => isReady(url), { timeoutMs: READY_TIMEOUT_MS, what: `Prometheus on ${url}` });
    return { server: child, url };
  });
  return {
    url,
    async query(expression) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expression })}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
      if (body.status !== 'success') throw new Error(`Prometheus refused ${expression}: ${body.error}`);
      if (body.data!.resultType !== 'vector') throw new Error(`${expression} is a ${body.data!.resultType}, not a vector`);
      return body.data!.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
    },
    stop: () => server.stop(),
  };
}
