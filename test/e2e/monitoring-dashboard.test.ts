import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { startPrometheus, type PrometheusServer } from '../../stack/prometheus';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { pollUntil } from '../support/poll';

/**
 * deploy/monitoring/dbkeep-dashboard.json against real metrics: a scheduled configuration with
 * point-in-time recovery backs up, restores, prunes and runs a restore drill, its archive runs, a real Prometheus
 * scrapes the Pushgateway they push to, and every query of every panel (and of the
 * configuration variable) returns series.
 */
interface Dashboard {
  templating: { list: Array<{ name: string; definition?: string }> };
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
}

const dashboard = JSON.parse(
  readFileSync(path.join(__dirname, '..', '..', 'deploy', 'monitoring', 'dbkeep-dashboard.json'), 'utf8'),
) as Dashboard;
const configuration = 'watched';
let stack: E2eStack;
let source: MariaDbInstance;
let prometheus: PrometheusServer;

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startDatabase({ extraArgs: ['--log-bin=binlog', '--server-id=1'] });
  await rootQuery(source, 'CREATE DATABASE shop');
  await rootQuery(source, 'CREATE TABLE shop.ledger (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64))');
  await rootQuery(source, "INSERT INTO shop.ledger (note) VALUES ('watched')");
  const copy = await stack.startDatabase();
  const resources = stack.resources(
    stack.targetDocument('source', source),
    stack.targetDocument('copy', copy),
    configurationDocument(configuration, {
      target: 'source',
      databases: ['shop'],
      schedule: { cron: '0 3 * * *', suspend: true },
      retention: { keepLast: 2 },
      pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
      verification: {},
    }),
  );
  const resolved = resolveBackupConfiguration(resources, configuration);
  await stack.client.applyResources(resources);
  const backup = await (await stack.client.backupNow(resolved)).result();
  if (backup.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
  const restore = await stack.client.restore({
    repository: resolved.repository,
    configuration,
    target: resolveTarget(resources, 'copy'),
    selector: {},
    overwrite: false,
  });
  await restore.result();
  await stack.client.prune(resolved);
  await (await stack.client.verify(resolved)).result();
  prometheus = await startPrometheus({ dir: path.join(stack.dir, 'prometheus'), pushgateway: stack.pushgateway.url });
  // The archive pushes its gauges within seconds of storing a piece; Prometheus scrapes every second.
  await pollUntil(
    () => prometheus.query(`dbkeep_pitr_lag_seconds{configuration="${configuration}"}`),
    (series) => series.length > 0,
    { what: 'the archive gauges in Prometheus', timeoutMs: 120_000 },
  );
});

afterAll(async () => {
  await prometheus?.stop();
  await stack?.client.stopArchive(configuration);
  await stack?.stop();
});

it('has every panel query return series from a real run, scraped by Prometheus', async () => {
  const queries = dashboard.panels.flatMap((panel) =>
    panel.targets.map((target) => ({ panel: panel.title, expr: target.expr.replaceAll('$configuration', configuration) })),
  );
  expect(queries.length).toBeGreaterThanOrEqual(10);
  const empty: string[] = [];
  for (const { panel, expr } of queries) {
    const series = await pollUntil(
      () => prometheus.query(expr),
      (found) => found.length > 0,
      { what: `${panel}: ${expr}`, timeoutMs: 30_000 },
    ).catch(() => []);
    if (series.length === 0) empty.push(`${panel}: ${expr}`);
  }
  expect(empty).toEqual([]);
});

it("lists the configuration in the dashboard's variable", async () => {
  const variable = dashboard.templating.list.find((v) => v.name === 'configuration')!;
  const metric = /^label_values\((\w+), configuration\)$/.exec(variable.definition ?? '')?.[1];
  expect(metric).toBe('dbkeep_session_success');
  const series = await prometheus.query(metric!);
  expect(new Set(series.map((s) => s.metric.configuration))).toContain(configuration);
  // The pushed job and grouping labels survive the scrape (honor_labels), as the alert rules need them.
  expect(series.every((s) => s.metric.job === 'dbkeep')).toBe(true);
});
