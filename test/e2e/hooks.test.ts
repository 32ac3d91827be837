import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { allHistoriesJson, configurationDocument, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * Pre and post hooks against real servers: SQL statements on the Target and HTTP calls to a local
 * receiver, each an activity of its own. A pre-backup hook's row is in the snapshot and a
 * post-backup one's is not; a failing `fail` hook fails the session before the dump starts (and
 * the post-backup hooks still run); an `ignore` hook only warns; a timeout fails the hook; a
 * Target's pre-restore hook runs on the Target restored into.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let receiver: HttpReceiver;
const configuration = 'hooked';

function resources(hooks: object, targetHooks?: object, into?: MariaDbInstance) {
  const restoredInto = into ? (stack.targetDocument('copy', into) as { spec: Record<string, unknown> }) : undefined;
  if (restoredInto && targetHooks) restoredInto.spec.hooks = targetHooks;
  return stack.resources(
    stack.targetDocument('source', source),
    ...(restoredInto ? [restoredInto] : []),
    configurationDocument(configuration, { target: 'source', databases: ['shop'], hooks }),
  );
}

async function backup(hooks: object) {
  const handle = await stack.client.backupNow(resolveBackupConfiguration(resources(hooks), configuration));
  return { handle, result: handle.result() };
}

/** The activity ids a session's history scheduled, in order. */
async function scheduledActivities(workflowId: string): Promise<string[]> {
  const history = await stack.client.temporal.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((event) => {
    const scheduled = event.activityTaskScheduledEventAttributes;
    return scheduled ? [`${scheduled.activityId}:${scheduled.activityType?.name}`] : [];
  });
}

const marks = async (instance: MariaDbInstance) =>
  (await rootQuery(instance, 'SELECT note FROM shop.marks ORDER BY id')).map((row) => String(row.note));

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startDatabase();
  await rootQuery(source, 'CREATE DATABASE shop');
  await rootQuery(source, 'CREATE TABLE shop.marks (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64))');
  // /slow never answers: the hook's timeout ends it.
  receiver = await startHttpReceiver((requested) => (requested.startsWith('/slow') ? undefined : 204));
  writeFileSync(path.join(stack.dir, 'hook-url'), `${receiver.url}/hook/TOKEN-5c1e`);
  writeFileSync(path.join(stack.dir, 'slow-url'), `${receiver.url}/slow/TOKEN-5c1e`);
});

afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

it('runs the pre-backup hooks before the dump and the post-backup ones after it, each an activity of its own', async () => {
  const { handle, result } = await backup({
    preBackup: [
      { name: 'mark', sql: "INSERT INTO shop.marks (note) VALUES ('before the dump')" },
      { name: 'tell', http: { url: { file: path.join(stack.dir, 'hook-url') } } },
    ],
    postBackup: [{ name: 'unmark', sql: "INSERT INTO shop.marks (note) VALUES ('after the dump')" }],
  });
  const done = await result;
  if (done.outcome !== 'succeeded') throw new Error('the session was skipped');
  expect(await marks(source)).toEqual(['before the dump', 'after the dump']);
  expect(receiver.requests.map(({ path, body }) => ({ path, body }))).toEqual([
    { path: '/hook/TOKEN-5c1e', body: JSON.stringify({ source: 'dbkeep', hook: 'tell', phase: 'preBackup', target: 'source' }) },
  ]);
  const activities = await scheduledActivities(handle.workflowId);
  expect(activities.filter((a) => a.includes('hook/'))).toEqual([
    'hook/preBackup/mark:runHook',
    'hook/preBackup/tell:runHook',
    'hook/postBackup/unmark:runHook',
  ]);
  const order = activities.map((a) => a.split(':')[1]);
  expect(order.indexOf('runHook')).toBeLessThan(order.indexOf('dumpToRepository'));
  expect(order.lastIndexOf('runHook')).toBeGreaterThan(order.indexOf('commitSnapshot'));
  // The snapshot holds the pre-backup hook's row, and not the post-backup one's.
  const object = await stack.s3.send(
    new GetObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/${configuration}/${done.snapshotId}/dump.sql.zst` }),
  );
  const sql = execFileSync('zstd', ['-d', '-c'], { input: Buffer.from(await object.Body!.transformToByteArray()) }).toString('utf8');
  expect(sql).toContain('before the dump');
  expect(sql).not.toContain('after the dump');
});

it('fails the session before the dump starts when a fail hook fails, and still runs the post-backup hooks', async () => {
  const before = await stack.listKeys(`${configuration}/`);
  const { handle, result } = await backup({
    preBackup: [{ name: 'broken', sql: 'SELECT * FROM shop.nothing_here' }],
    postBackup: [{ name: 'after-failure', sql: "INSERT INTO shop.marks (note) VALUES ('after a failure')" }],
  });
  const failure = await workflowFailureOf(result);
  expect(failure).toMatchObject({ type: 'HookFailed', nonRetryable: true });
  expect(failure.message).toMatch(/^preBackup hook broken: .*nothing_here.* doesn't exist$/);
  const activities = (await scheduledActivities(handle.workflowId)).map((a) => a.split(':')[1]);
  expect(activities).not.toContain('dumpToRepository');
  expect(await stack.listKeys(`${configuration}/`)).toEqual(before);
  expect((await marks(source)).at(-1)).toBe('after a failure');
});

it('only warns for a failing ignore hook, and fails a hook whose request outlives its timeout', async () => {
  const { handle, result } = await backup({ preBackup: [{ name: 'broken', sql: 'SELECT * FROM shop.nothing_here', onFailure: 'ignore' }] });
  expect((await result).outcome).toBe('succeeded');
  expect((await stack.client.status(handle.workflowId)).warning).toMatch(/^preBackup hook broken: .*nothing_here.* \(ignored\)$/);

  const slow = await backup({ preBackup: [{ name: 'slow', http: { url: { file: path.join(stack.dir, 'slow-url') } }, timeout: '1s' }] });
  const failure = await workflowFailureOf(slow.result);
  expect(failure).toMatchObject({ type: 'HookFailed', message: 'preBackup hook slow: no answer within 1s' });
});

it("runs a Target's pre-restore hook on the Target restored into, before the restore", async () => {
  const copy = await stack.startDatabase();
  await rootQuery(copy, 'CREATE DATABASE ops');
  await rootQuery(copy, 'CREATE TABLE ops.restores (id INT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)');
  const set = resources(
    {},
    {
      preRestore: [{ name: 'log', sql: 'INSERT INTO ops.restores () VALUES ()' }],
      postRestore: [{ name: 'check', sql: 'SELECT COUNT(*) FROM shop.marks' }],
    },
    copy,
  );
  const handle = await stack.client.restore({
    repository: resolveBackupConfiguration(set, configuration).repository,
    configuration,
    target: resolveTarget(set, 'copy'),
    selector: {},
    overwrite: false,
  });
  await handle.result();
  expect(await rootQuery(copy, 'SELECT COUNT(*) AS n FROM ops.restores')).toEqual([{ n: 1 }]);
  expect((await scheduledActivities(handle.workflowId)).filter((a) => a.includes('hook/'))).toEqual([
    'hook/preRestore/log:runHook',
    'hook/postRestore/check:runHook',
  ]);
  expect(await marks(copy)).toEqual(await marks(source));
  // The hooks' URLs (a token in them) travel as references only.
  expect((await allHistoriesJson(stack)).json).not.toContain('TOKEN-5c1e');
});
