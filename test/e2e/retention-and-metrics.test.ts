import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { runDbkeep, type CommandResult } from '../support/cli-runner';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';

/**
 * Retention really deleting objects from the S3 server, `dbkeep prune` and `repo status`, and the
 * metrics the worker pushes to a real Pushgateway, scraped back.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let resourcesFile: string;

const dbkeep = (...args: string[]): Promise<CommandResult> =>
  runDbkeep(args, {
    env: { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address, DBKEEP_TASK_QUEUE: stack.taskQueue },
    cwd: stack.dir,
  });

function resources(retention: Record<string, unknown> | undefined, password?: string) {
  return stack.resources(
    stack.targetDocument('inventory-db', source, password),
    configurationDocument('inventory', {
      target: 'inventory-db',
      databases: ['inventory'],
      // Never applied here: it only gives the sessions a schedule interval to push.
      schedule: { cron: '0 3 * * 1-5' },
      ...(retention ? { retention } : {}),
    }),
  );
}

async function backup(retention: Record<string, unknown> | undefined) {
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(resources(retention), 'inventory'))).result();
  if (result.outcome !== 'succeeded') throw new Error('backup skipped');
  return result;
}

/** The Pushgateway's exposition, as `name{labels} value` lines of dbkeep's metrics. */
async function scrape(): Promise<string[]> {
  const text = await (await fetch(`${stack.pushgateway.url}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith('dbkeep_'));
}

function sample(lines: string[], metric: string, labels: Record<string, string>): number | undefined {
  const line = lines.find((l) => l.startsWith(`${metric}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  const connection = await rootConnection(source);
  await connection.query(
    'CREATE DATABASE inventory; CREATE TABLE inventory.items (id INT PRIMARY KEY, name TEXT); INSERT INTO inventory.items VALUES (1, "bolt"), (2, "nut")',
  );
  await connection.end();
  resourcesFile = path.join(stack.dir, 'inventory.yaml');
});

afterAll(async () => {
  await stack?.stop();
});

describe('retention', () => {
  it('keeps the newest keepLast snapshots and removes the others from the S3 server, manifest and data', async () => {
    const first = await backup(undefined);
    const second = await backup(undefined);
    const third = await backup(undefined);
    expect((await stack.listKeys('inventory/')).length).toBe(6);

    const fourth = await backup({ keepLast: 2 });
    expect(fourth.removedSnapshots.sort()).toEqual([first.snapshotId, second.snapshotId].sort());
    expect(await stack.listKeys('inventory/')).toEqual(
      [third, fourth].flatMap((s) => [`inventory/${s.snapshotId}/dump.sql.zst`, `inventory/${s.snapshotId}/manifest.json`]),
    );
    const listed = await stack.client.listSnapshots(stack.resources().repositories.get('repo')!, 'inventory');
    expect(listed.snapshots.map((s) => s.snapshotId)).toEqual([fourth.snapshotId, third.snapshotId]);
  });

  it('explains a dry run without deleting, then prunes on demand', async () => {
    writeFileSync(
      resourcesFile,
      stack.resourcesYaml(
        stack.targetDocument('inventory-db', source),
        configurationDocument('inventory', { target: 'inventory-db', databases: ['inventory'], retention: { keepLast: 1 } }),
      ),
    );
    const before = await stack.listKeys('inventory/');
    const dry = await dbkeep('prune', '-f', resourcesFile, '--config', 'inventory', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^keep\s+\S+\s+.*last snapshot/m);
    expect(dry.stdout).toMatch(/^remove\?\s+\S+\s+\S/m);
    expect(dry.stdout).toContain('kept 1, would remove 1');
    expect(dry.stdout).toContain('dry run: nothing deleted');
    expect(await stack.listKeys('inventory/')).toEqual(before);

    const pruned = await dbkeep('prune', '-f', resourcesFile, '--config', 'inventory', '--json');
    expect(pruned.code).toBe(0);
    const result = JSON.parse(pruned.stdout) as { removedCount: number; snapshotCount: number; removed: Array<{ snapshotId: string }> };
    expect(result.removedCount).toBe(1);
    expect(result.snapshotCount).toBe(1);
    const remaining = await stack.listKeys('inventory/');
    expect(remaining).toHaveLength(2);
    expect(remaining.some((key) => key.includes(result.removed[0]!.snapshotId))).toBe(false);
  });

  it('reports the repository status from manifests', async () => {
    const result = await dbkeep('repo', 'status', '-f', resourcesFile, '--repository', 'repo', '--json');
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout) as {
      snapshotCount: number;
      storedBytes: number;
      entries: Array<{
        configuration: string;
        target: string;
        snapshotCount: number;
        storedBytes: number;
        firstBackupAt: string;
        lastBackupAt: string;
      }>;
    };
    expect(status.snapshotCount).toBe(1);
    const [only] = (await stack.client.listSnapshots(resources(undefined).repositories.get('repo')!, 'inventory')).snapshots;
    expect(status.entries).toEqual([
      expect.objectContaining({
        configuration: 'inventory',
        target: 'inventory-db',
        snapshotCount: 1,
        storedBytes: status.storedBytes,
        firstBackupAt: only!.startedAt,
        lastBackupAt: only!.startedAt,
      }),
    ]);
    expect(status.storedBytes).toBeGreaterThan(0);
  });
});

describe('metrics', () => {
  it('pushes success, sizes and counts after a backup, and success=0 after a failure, keeping the last success time', async () => {
    const ok = await backup({ keepLast: 1 });
    const labels = { job: 'dbkeep', kind: 'backup', configuration: 'inventory', repository: 'repo', target: 'inventory-db' };
    let lines = await scrape();
    expect(sample(lines, 'dbkeep_session_success', labels)).toBe(1);
    expect(sample(lines, 'dbkeep_session_uploaded_bytes', labels)).toBe(ok.storedBytes);
    expect(sample(lines, 'dbkeep_session_data_size_bytes', labels)).toBe(ok.rawBytes);
    expect(sample(lines, 'dbkeep_repository_snapshot_count', labels)).toBe(1);
    expect(sample(lines, 'dbkeep_repository_size_bytes', labels)).toBe(ok.storedBytes);
    expect(sample(lines, 'dbkeep_session_snapshots_removed', labels)).toBe(1);
    expect(sample(lines, 'dbkeep_session_duration_seconds', labels)).toBeGreaterThan(0);
    const lastSuccess = sample(lines, 'dbkeep_session_last_success_timestamp_seconds', labels)!;
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(60);

    const failing = await stack.client.backupNow(resolveBackupConfiguration(resources(undefined, 'wrong'), 'inventory'));
    await expect(failing.result()).rejects.toThrow();
    lines = await scrape();
    expect(sample(lines, 'dbkeep_session_success', labels)).toBe(0);
    expect(sample(lines, 'dbkeep_session_last_success_timestamp_seconds', labels)).toBe(lastSuccess);
    // The weekday schedule's longest gap, Friday to Monday: what the stale-backup alert compares with.
    expect(sample(lines, 'dbkeep_backup_schedule_interval_seconds', labels)).toBe(3 * 86_400);
  });

  it('pushes restore and prune sessions under their own kind', async () => {
    const target = await stack.startMariaDb();
    const set = stack.resources(
      stack.targetDocument('inventory-copy', target),
      configurationDocument('inventory', { target: 'inventory-copy', retention: { keepLast: 5 } }),
    );
    const restore = await stack.client.restore({
      repository: set.repositories.get('repo')!,
      configuration: 'inventory',
      target: set.targets.get('inventory-copy')!,
      selector: {},
    });
    await restore.result();
    await stack.client.prune(resolveBackupConfiguration(set, 'inventory'));
    const lines = await scrape();
    expect(sample(lines, 'dbkeep_session_success', { kind: 'restore', configuration: 'inventory', target: 'inventory-copy' })).toBe(1);
    expect(sample(lines, 'dbkeep_session_success', { kind: 'prune', configuration: 'inventory' })).toBe(1);
    expect(sample(lines, 'dbkeep_session_snapshots_removed', { kind: 'prune', configuration: 'inventory' })).toBe(0);
  });
});
