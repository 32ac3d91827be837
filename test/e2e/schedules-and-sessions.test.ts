import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SessionConflictError } from '../../clients/dbkeep-client';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { scheduleIdFor } from '../../domain/session-ids';
import { temporalCliPath } from '../../stack/tool-paths';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { runCommand, runDbkeep, startDbkeep, type CommandResult } from '../support/cli-runner';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';

/**
 * Schedules (apply/pause/resume/trigger/delete), session status and listing, the rule that two
 * sessions of one configuration never run at once, and starting sessions with the real
 * `temporal` CLI as the README shows.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let resourcesFile: string;

const cliOptions = () => ({
  env: { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address, DBKEEP_TASK_QUEUE: stack.taskQueue },
  cwd: stack.dir,
});

const dbkeep = (...args: string[]): Promise<CommandResult> => runDbkeep(args, cliOptions());

const temporal = (...args: string[]): Promise<CommandResult> =>
  runCommand(temporalCliPath(), [...args, '--address', stack.temporal.address, '--namespace', stack.temporal.namespace]);

function writeResources(schedule: Record<string, unknown> | undefined): void {
  writeFileSync(
    resourcesFile,
    stack.resourcesYaml(
      stack.targetDocument('shop-db', source),
      configurationDocument('shop', { target: 'shop-db', databases: ['shop'], ...(schedule ? { schedule } : {}) }),
    ),
  );
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  const connection = await rootConnection(source);
  await connection.query(
    'CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2)); INSERT INTO shop.orders VALUES (1, 9.99), (2, 120.00)',
  );
  await connection.end();
  resourcesFile = path.join(stack.dir, 'shop.yaml');
});

afterAll(async () => {
  await stack?.stop();
});

describe('schedules', () => {
  it('applies idempotently: created, unchanged, updated in place, then listed', async () => {
    const handle = stack.client.temporal.schedule.getHandle(scheduleIdFor('shop'));
    // One Target document throughout: each targetDocument() call has a new password file, a changed spec.
    const target = stack.targetDocument('shop-db', source);
    const apply = async (cron: string) => {
      const schedule = { cron, timezone: 'Europe/Berlin', suspend: true };
      writeFileSync(
        resourcesFile,
        stack.resourcesYaml(target, configurationDocument('shop', { target: 'shop-db', databases: ['shop'], schedule })),
      );
      return (await dbkeep('apply', '-f', resourcesFile)).stdout.trim();
    };
    const listedCron = async () => (JSON.parse((await dbkeep('schedules', '--json')).stdout) as Array<{ cron: string }>)[0]?.cron;
    expect(await apply('0 3 * * *')).toBe('backupconfiguration/shop: schedule created');
    const createdAt = (await handle.describe()).info.createdAt;
    expect(await apply('0 3 * * *')).toBe('backupconfiguration/shop: schedule unchanged');
    // A -> B -> A: each change is an update of the same schedule, and the listing follows it.
    expect(await apply('15 4 * * *')).toBe('backupconfiguration/shop: schedule updated');
    expect(await listedCron()).toBe('15 4 * * *');
    expect(await apply('0 3 * * *')).toBe('backupconfiguration/shop: schedule updated');
    expect(await listedCron()).toBe('0 3 * * *');
    expect(await apply('15 4 * * *')).toBe('backupconfiguration/shop: schedule updated');
    expect(await apply('15 4 * * *')).toBe('backupconfiguration/shop: schedule unchanged');
    expect((await handle.describe()).info.createdAt).toEqual(createdAt);

    const listed = await dbkeep('schedules', '--json');
    expect(listed.code).toBe(0);
    const [schedule] = JSON.parse(listed.stdout) as Array<{
      configuration: string;
      cron: string;
      timezone: string;
      paused: boolean;
      note: string;
    }>;
    expect(schedule).toMatchObject({ configuration: 'shop', cron: '15 4 * * *', timezone: 'Europe/Berlin', paused: true });

    const description = await handle.describe();
    expect(description.policies.overlap).toBe('SKIP');
    expect(description.policies.catchupWindow).toBe(10 * 60_000);
    expect(description.spec.timezone).toBe('Europe/Berlin');
  });

  it('rejects an invalid cron, an unknown time zone and a missing target at apply time, naming the field', async () => {
    writeFileSync(
      resourcesFile,
      stack.resourcesYaml(
        stack.targetDocument('shop-db', source),
        configurationDocument('shop', { target: 'shop-db', schedule: { cron: '61 * * * *', timezone: 'Mars/Olympus' } }),
        configurationDocument('orphan', { target: 'nowhere' }),
      ),
    );
    const result = await dbkeep('apply', '-f', resourcesFile);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('BackupConfiguration "shop": spec.schedule.cron: minute 61 is outside 0-59');
    expect(result.stderr).toContain('spec.schedule.timezone: must be an IANA time zone');
    expect(result.stderr).toContain('BackupConfiguration "orphan": spec.target: no Target named "nowhere"');
    // Nothing was changed by the refused apply.
    const [schedule] = await stack.client.listSchedules();
    expect(schedule?.cron).toBe('15 4 * * *');
  });

  it('applies overlapPolicy BufferOne and a catchupWindow of its own to a schedule of its own', async () => {
    writeFileSync(
      resourcesFile,
      stack.resourcesYaml(
        stack.targetDocument('shop-db', source),
        configurationDocument('buffered', {
          target: 'shop-db',
          databases: ['shop'],
          schedule: { cron: '0 1 * * *', suspend: true, overlapPolicy: 'BufferOne', catchupWindow: '1h' },
        }),
      ),
    );
    expect((await dbkeep('apply', '-f', resourcesFile)).stdout.trim()).toBe('backupconfiguration/buffered: schedule created');
    const described = await stack.client.temporal.schedule.getHandle(scheduleIdFor('buffered')).describe();
    expect(described.policies).toMatchObject({ overlap: 'BUFFER_ONE', catchupWindow: 3_600_000 });
    expect(described.state.paused).toBe(true);
    expect((await dbkeep('delete', 'buffered')).stdout.trim()).toBe('schedule of buffered deleted');
  });

  it('pauses and resumes with a note, triggers a session through the schedule, and lists it', async () => {
    writeResources({ cron: '15 4 * * *', timezone: 'Europe/Berlin', suspend: true });
    expect((await dbkeep('resume', 'shop', '--note', 'maintenance over')).code).toBe(0);
    let description = await stack.client.temporal.schedule.getHandle(scheduleIdFor('shop')).describe();
    expect(description.state).toMatchObject({ paused: false, note: 'maintenance over' });
    expect((await dbkeep('pause', 'shop', '--note', 'disk replacement')).code).toBe(0);
    description = await stack.client.temporal.schedule.getHandle(scheduleIdFor('shop')).describe();
    expect(description.state).toMatchObject({ paused: true, note: 'disk replacement' });

    expect((await dbkeep('trigger', 'shop')).code).toBe(0);
    const session = await waitFor('the triggered session to finish', async () => {
      const [latest] = await stack.client.listSessions('shop');
      return latest && latest.phase === 'Succeeded' ? latest : undefined;
    });
    expect(session.workflowId).toMatch(/^backup\/shop\/scheduled-/);
    expect(session.kind).toBe('backup');
    expect(session.sizeBytes).toBeGreaterThan(0);
    expect(session.snapshotId).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/);

    const sessions = await dbkeep('sessions', 'shop');
    expect(sessions.stdout).toMatch(/^STARTED\s+KIND\s+PHASE\s+DURATION\s+SIZE\s+SNAPSHOT\s+SESSION$/m);
    expect(sessions.stdout).toContain(session.snapshotId!);
    expect(sessions.stdout).toContain('Succeeded');

    const listed = JSON.parse((await dbkeep('schedules', '--json')).stdout) as Array<{ lastRun?: { workflowId: string; result: string } }>;
    expect(listed[0]?.lastRun).toMatchObject({ workflowId: session.workflowId, result: 'Succeeded' });

    // A changed spec updates the schedule in place: its history (recent actions, creation time) stays.
    const before = await stack.client.temporal.schedule.getHandle(scheduleIdFor('shop')).describe();
    writeResources({ cron: '30 4 * * *', timezone: 'Europe/Berlin', suspend: true });
    expect((await dbkeep('apply', '-f', resourcesFile)).stdout.trim()).toBe('backupconfiguration/shop: schedule updated');
    expect((await dbkeep('apply', '-f', resourcesFile)).stdout.trim()).toBe('backupconfiguration/shop: schedule unchanged');
    const relisted = JSON.parse((await dbkeep('schedules', '--json')).stdout) as Array<{
      cron: string;
      paused: boolean;
      lastRun?: { workflowId: string; result: string };
    }>;
    expect(relisted[0]).toMatchObject({
      cron: '30 4 * * *',
      paused: true,
      lastRun: { workflowId: session.workflowId, result: 'Succeeded' },
    });
    const after = await stack.client.temporal.schedule.getHandle(scheduleIdFor('shop')).describe();
    expect(after.info.createdAt).toEqual(before.info.createdAt);
    expect(after.info.recentActions.map((a) => a.action.workflow.workflowId)).toContain(session.workflowId);

    const status = await stack.client.status(session.workflowId);
    expect(status.steps.map((s) => s.name)).toEqual(['admission', 'preflight', 'dump', 'commit', 'retention']);
    expect(status.steps.every((s) => s.endedAt !== undefined && !s.failed)).toBe(true);
  });
});

describe('one session per configuration at a time', () => {
  let lock: Connection;

  it('refuses a one-off backup and skips a scheduled or externally started one while a session runs', async () => {
    // A write lock held elsewhere keeps the dump waiting on the table, so the first session stays running.
    lock = await rootConnection(source);
    await lock.query('LOCK TABLES shop.orders WRITE');
    const resolved = resolveBackupConfiguration(
      stack.resources(stack.targetDocument('shop-db', source), configurationDocument('shop', { target: 'shop-db', databases: ['shop'] })),
      'shop',
    );
    const first = await stack.client.backupNow(resolved);
    await waitFor('the first session to reach its dump', async () => {
      const view = await stack.client.describeSession(first.workflowId);
      return view.status?.steps.at(-1)?.name === 'dump' ? true : undefined;
    });

    const refused = await stack.client.backupNow(resolved).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(SessionConflictError);
    expect((refused as Error).message).toContain(`backup session ${first.workflowId} of "shop" is running`);
    const cli = await dbkeep('backup', '-f', resourcesFile, '--config', 'shop', '--wait');
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain(`refused: backup session ${first.workflowId}`);

    // Started past the client's check (as the temporal CLI would): the session skips itself.
    const sneaky = await stack.client.temporal.workflow.start('backupSession', {
      taskQueue: stack.taskQueue,
      workflowId: 'backup/shop/started-elsewhere',
      args: [resolved],
    });
    expect(await sneaky.result()).toEqual({ outcome: 'skipped', configuration: 'shop', runningSession: first.workflowId });
    expect((await stack.client.status('backup/shop/started-elsewhere')).phase).toBe('Skipped');

    // A slot of the (paused, from above) schedule, triggered now: skipped as well, not run in parallel.
    await stack.client.trigger('shop');
    const scheduled = await waitFor('the triggered slot to finish', async () => {
      const sessions = await stack.client.listSessions('shop', 100);
      return sessions.find((s) => s.workflowId.includes('/scheduled-') && s.phase === 'Skipped');
    });
    expect((await stack.client.status(scheduled.workflowId)).skippedFor).toBe(first.workflowId);

    // `dbkeep status --watch` follows the running session live and ends with its final status.
    const watching = startDbkeep(['status', first.workflowId, '--watch'], cliOptions());
    // The dump waits on the lock until the watcher has shown it live.
    await vi.waitFor(() => expect(watching.stderr).toMatch(/^\s+dump: dumping, \d/m), { timeout: 60_000, interval: 200 });
    await lock.query('UNLOCK TABLES');
    await lock.end();
    const result = await first.result();
    expect(result.outcome).toBe('succeeded');
    const watched = await watching.result;
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain(`${first.workflowId}: Succeeded (completed)`);
  });

  it('lets exactly one of two sessions started at the same instant run, through the backup lock', async () => {
    const resolved = resolveBackupConfiguration(
      stack.resources(stack.targetDocument('shop-db', source), configurationDocument('shop', { target: 'shop-db', databases: ['shop'] })),
      'shop',
    );
    // Started past the client's visibility check, as two schedulers or SDKs racing would.
    const ids = ['backup/shop/race-a', 'backup/shop/race-b'];
    const handles = await Promise.all(
      ids.map((workflowId) =>
        stack.client.temporal.workflow.start('backupSession', { taskQueue: stack.taskQueue, workflowId, args: [resolved] }),
      ),
    );
    const results = await Promise.all(handles.map((handle) => handle.result()));
    const ran = results.filter((r) => r.outcome === 'succeeded');
    const skipped = results.filter((r) => r.outcome === 'skipped');
    expect(ran).toHaveLength(1);
    expect(skipped).toHaveLength(1);
    const winner = ids[results.findIndex((r) => r.outcome === 'succeeded')];
    expect(skipped[0]).toEqual({ outcome: 'skipped', configuration: 'shop', runningSession: winner });
    // The lock is released: the next session runs.
    expect((await (await stack.client.backupNow(resolved)).result()).outcome).toBe('succeeded');
  });

  it("triggers under the schedule's own overlap policy: a trigger while its session runs starts nothing", async () => {
    const handle = stack.client.temporal.schedule.getHandle(scheduleIdFor('shop'));
    const skippedBefore = (await handle.describe()).info.numActionsSkippedOverlap;
    lock = await rootConnection(source);
    await lock.query('LOCK TABLES shop.orders WRITE');
    try {
      const recentBefore = (await handle.describe()).info.recentActions.length;
      await stack.client.trigger('shop');
      const running = await waitFor('the triggered session to reach its dump', async () => {
        const latest = (await handle.describe()).info.recentActions.at(-1);
        if ((await handle.describe()).info.recentActions.length === recentBefore || !latest) return undefined;
        const view = await stack.client.describeSession(latest.action.workflow.workflowId);
        return view.status?.steps.at(-1)?.name === 'dump' ? latest.action.workflow.workflowId : undefined;
      });
      expect((await dbkeep('trigger', 'shop')).code).toBe(0);
      const afterSecond = await waitFor('the second trigger to be skipped', async () => {
        const info = (await handle.describe()).info;
        return info.numActionsSkippedOverlap > skippedBefore ? info : undefined;
      });
      expect(afterSecond.numActionsSkippedOverlap).toBe(skippedBefore + 1);
      expect(afterSecond.runningActions.map((a) => a.workflow.workflowId)).toEqual([running]);
      await lock.query('UNLOCK TABLES');
      expect((await stack.client.temporal.workflow.getHandle(running).result()).outcome).toBe('succeeded');
    } finally {
      await lock.end();
    }
  });
});

describe('the temporal CLI', () => {
  it('starts a backup and a restore with the commands the README shows, and drives the schedule', async () => {
    writeResources(undefined);
    const backupInput = await dbkeep('input', 'backup', '-f', resourcesFile, '--config', 'shop');
    expect(backupInput.code).toBe(0);
    const started = await temporal(
      'workflow',
      'start',
      '--type',
      'backupSession',
      '--task-queue',
      stack.taskQueue,
      '--workflow-id',
      'backup/shop/manual-1',
      '--input',
      backupInput.stdout.trim(),
    );
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    const backupResult = await stack.client.temporal.workflow.getHandle('backup/shop/manual-1').result();
    if (backupResult.outcome !== 'succeeded') throw new Error('the backup started by the temporal CLI was skipped');
    const query = await temporal('workflow', 'query', '--workflow-id', 'backup/shop/manual-1', '--type', 'status', '--output', 'json');
    expect(query.code).toBe(0);
    expect(query.stdout).toContain('"phase": "Succeeded"');

    const target = await stack.startMariaDb();
    writeFileSync(
      resourcesFile,
      stack.resourcesYaml(
        stack.targetDocument('shop-db', source),
        stack.targetDocument('shop-copy', target),
        configurationDocument('shop', { target: 'shop-db', databases: ['shop'] }),
      ),
    );
    const restoreInput = await dbkeep(
      'input',
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'shop',
      '--to',
      'shop-copy',
      '--snapshot',
      backupResult.snapshotId,
    );
    const restored = await temporal(
      'workflow',
      'start',
      '--type',
      'restoreSession',
      '--task-queue',
      stack.taskQueue,
      '--workflow-id',
      'restore/shop-copy/manual-1',
      '--input',
      restoreInput.stdout.trim(),
    );
    expect(restored.code).toBe(0);
    await stack.client.temporal.workflow.getHandle('restore/shop-copy/manual-1').result();
    const copy = await rootConnection(target);
    const [rows] = await copy.query('SELECT id, total FROM shop.orders ORDER BY id');
    await copy.end();
    expect(rows).toEqual([
      { id: 1, total: '9.99' },
      { id: 2, total: '120.00' },
    ]);

    // The search attributes filter sessions as the README shows, in the temporal CLI as in the UI.
    const listed = async (query: string) => {
      const result = await temporal('workflow', 'list', '--query', query, '--output', 'jsonl');
      expect(result.code, result.stderr).toBe(0);
      return result.stdout
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => (JSON.parse(line) as { execution?: { workflowId?: string } }).execution?.workflowId);
    };
    expect(await listed("DbkeepTarget = 'shop-copy' AND DbkeepSessionKind = 'restore' AND DbkeepPhase = 'Succeeded'")).toEqual([
      'restore/shop-copy/manual-1',
    ]);
    expect(await listed(`DbkeepSnapshot = '${backupResult.snapshotId}' AND DbkeepSessionKind = 'backup'`)).toEqual([
      'backup/shop/manual-1',
    ]);
    expect(await listed("DbkeepConfiguration = 'shop' AND DbkeepPhase = 'Failed'")).toEqual([]);
    expect(await listed("DbkeepRepository = 'repo' AND DbkeepSizeBytes > 0 AND WorkflowId = 'backup/shop/manual-1'")).toEqual([
      'backup/shop/manual-1',
    ]);

    writeResources({ cron: '15 4 * * *', suspend: false });
    await dbkeep('apply', '-f', resourcesFile);
    const list = await temporal('schedule', 'list');
    expect(list.stdout).toContain(scheduleIdFor('shop'));
    const describe = await temporal('schedule', 'describe', '--schedule-id', scheduleIdFor('shop'), '--output', 'json');
    expect(describe.code).toBe(0);
    const described = JSON.parse(describe.stdout) as {
      schedule: {
        spec: { structuredCalendar: Array<{ minute: Array<{ start: number }>; hour: Array<{ start: number }> }>; timezoneName: string };
        action: { startWorkflow: { workflowType: { name: string } } };
      };
    };
    expect(described.schedule.action.startWorkflow.workflowType.name).toBe('backupSession');
    expect(described.schedule.spec.timezoneName).toBe('UTC');
    expect([
      described.schedule.spec.structuredCalendar[0]!.minute[0]!.start,
      described.schedule.spec.structuredCalendar[0]!.hour[0]!.start,
    ]).toEqual([15, 4]);
    const before = (await stack.client.listSessions('shop', 100)).length;
    expect((await temporal('schedule', 'trigger', '--schedule-id', scheduleIdFor('shop'))).code).toBe(0);
    await waitFor('the session triggered by the temporal CLI', async () => {
      const sessions = await stack.client.listSessions('shop', 100);
      return sessions.length > before && sessions[0]?.phase === 'Succeeded' ? true : undefined;
    });

    expect((await dbkeep('delete', 'shop')).stdout.trim()).toBe('schedule of shop deleted');
    expect(await stack.client.listSchedules()).toEqual([]);
  });
});
