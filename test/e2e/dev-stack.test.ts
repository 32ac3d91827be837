import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDbkeep, type CommandResult } from '../support/cli-runner';
import { API_VERSION } from '../../domain/resources';
import { readDevStackState } from '../../stack/dev-stack';
import { startMariaDbInstance, type MariaDbInstance } from '../../stack/mariadb-instance';
import { isPidAlive } from '../../pipeline/managed-process';

/**
 * `dbkeep dev up | status | down` as a user runs them: detached processes that outlive the
 * CLI, an idempotent `up`, and a backup through the stack's own worker and MinIO.
 */

const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-devstack-'));
const devDir = path.join(dir, 'dev');
let database: MariaDbInstance;

async function dbkeep(...args: string[]): Promise<CommandResult> {
  // No TEMPORAL_ADDRESS: the CLI must find the dev stack's Temporal through its state file.
  const env: NodeJS.ProcessEnv = { ...process.env, DBKEEP_DEV_DIR: devDir };
  delete env.TEMPORAL_ADDRESS;
  delete env.DBKEEP_TASK_QUEUE;
  return runDbkeep(args, { env, cwd: dir });
}

beforeAll(async () => {
  database = await startMariaDbInstance({ dir: path.join(dir, 'mdb'), rootPassword: 'dev-stack-test-pw' });
});

afterAll(async () => {
  await dbkeep('dev', 'down');
  await database?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('dbkeep dev', () => {
  it('starts the stack in the background, idempotently, and backs up through it', async () => {
    const up = await dbkeep('dev', 'up');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('dbkeep dev stack is up');
    expect(up.stdout).toMatch(/UI:\s+http:\/\/127\.0\.0\.1:\d+/);
    // The address printed is the Temporal UI's, serving its page.
    const uiAddress = /UI:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(up.stdout)![1]!;
    const ui = await fetch(uiAddress);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/<html/i);
    const state = readDevStackState(devDir)!;
    for (const pid of [state.temporal.pid, state.minio.pid, state.pushgateway.pid, state.worker.pid]) expect(isPidAlive(pid)).toBe(true);

    const again = await dbkeep('dev', 'up');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already running');
    expect(readDevStackState(devDir)).toEqual(state);

    const status = await dbkeep('dev', 'status');
    expect(status.code).toBe(0);
    // The worker serves the Temporal SDK's own metrics.
    const sdkMetrics = await (await fetch(`http://127.0.0.1:${state.worker.metricsPort}/metrics`)).text();
    expect(sdkMetrics).toMatch(/^temporal_\w+/m);
    expect(status.stdout.match(/ running /g)).toHaveLength(4);

    const passwordFile = path.join(dir, 'db.password');
    writeFileSync(passwordFile, database.rootPassword, { mode: 0o600 });
    const connection = await import('mysql2/promise').then((m) =>
      m.createConnection({ socketPath: database.socket, user: 'root', password: database.rootPassword }),
    );
    await connection.query('CREATE DATABASE shop');
    await connection.query('CREATE TABLE shop.orders (id INT PRIMARY KEY)');
    await connection.query('INSERT INTO shop.orders VALUES (1), (2), (3)');
    await connection.end();
    const resources = path.join(dir, 'shop.yaml');
    writeFileSync(
      resources,
      [
        {
          apiVersion: API_VERSION,
          kind: 'Target',
          metadata: { name: 'shop-db' },
          spec: { engine: 'mariadb', host: '127.0.0.1', port: database.port, password: { file: passwordFile } },
        },
        {
          apiVersion: API_VERSION,
          kind: 'BackupConfiguration',
          metadata: { name: 'shop' },
          spec: { target: 'shop-db', repository: 'dev' },
        },
      ]
        .map((d) => stringify(d))
        .join('---\n'),
    );
    const backup = await dbkeep('backup', '-f', state.resourcesFile, '-f', resources, '--config', 'shop', '--wait', '--json');
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const { snapshotId } = JSON.parse(backup.stdout) as { snapshotId: string };
    const snapshots = await dbkeep('snapshots', '-f', state.resourcesFile, '-f', resources, '--config', 'shop', '--json');
    expect((JSON.parse(snapshots.stdout) as { snapshots: Array<{ snapshotId: string }> }).snapshots.map((s) => s.snapshotId)).toEqual([
      snapshotId,
    ]);
    // The dev worker pushed the session's metrics to the dev Pushgateway.
    const pushed = await (await fetch(`${state.pushgateway.url}/metrics`)).text();
    expect(pushed).toMatch(/^dbkeep_session_success\{[^}]*configuration="shop"[^}]*kind="backup"[^}]*\} 1$/m);
  });

  it('stops every process on down and says so on status', async () => {
    const state = readDevStackState(devDir)!;
    const down = await dbkeep('dev', 'down');
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('dbkeep dev stack stopped');
    for (const pid of [state.temporal.pid, state.minio.pid, state.pushgateway.pid, state.worker.pid]) expect(isPidAlive(pid)).toBe(false);
    const status = await dbkeep('dev', 'status');
    expect(status.stdout).toContain('not running');
    const without = await dbkeep('snapshots', '-f', state.resourcesFile, '--config', 'shop');
    expect(without.code).toBe(1);
  });
});
