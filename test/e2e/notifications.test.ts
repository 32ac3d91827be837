import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { notificationWorkflowId, staleWatchWorkflowId } from '../../domain/session-ids';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { allHistoriesJson, configurationDocument, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver';
import { pollUntil } from '../support/poll';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * Webhook notifications of backup sessions against a local HTTP receiver that records what it
 * gets and answers 500 to its first requests: a failed session is told once, the first success
 * after it once (a recovery), a second success not at all; the receiver being down delays no
 * session, and its URL (a token in it) appears in no workflow history.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let receiver: HttpReceiver;
/** The receiver answers 500 to this many requests before it takes any. */
let refusalsLeft = 2;
const TOKEN = 'T0KEN-in-the-url-7f3a';
const configuration = 'notified';

function resources(databases: string[]) {
  return stack.resources(
    stack.targetDocument('source', source),
    configurationDocument(configuration, {
      target: 'source',
      databases,
      notifications: {
        webhooks: [
          { url: { file: path.join(stack.dir, 'json-webhook-url') } },
          { url: { file: path.join(stack.dir, 'slack-webhook-url') }, format: 'slack', events: ['failure'] },
        ],
      },
    }),
  );
}

/** The messages a webhook took (answered 200), with their JSON bodies. */
const accepted = (hook: string) =>
  receiver.requests
    .filter((r) => r.path.startsWith(`/${hook}/`) && r.status === 200)
    .map((r) => ({ ...r, body: JSON.parse(r.body) as Record<string, unknown> }));

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startDatabase();
  await rootQuery(source, 'CREATE DATABASE shop');
  await rootQuery(source, 'CREATE TABLE shop.ledger (id INT PRIMARY KEY)');
  receiver = await startHttpReceiver(() => (refusalsLeft-- > 0 ? 500 : 200));
  writeFileSync(path.join(stack.dir, 'json-webhook-url'), `${receiver.url}/json/${TOKEN}`);
  writeFileSync(path.join(stack.dir, 'slack-webhook-url'), `${receiver.url}/slack/${TOKEN}`);
  writeFileSync(path.join(stack.dir, 'stale-webhook-url'), `${receiver.url}/stale/${TOKEN}`);
});

afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

it('tells a failed session once to every webhook, after the session ended, through a receiver answering 500 at first', async () => {
  const handle = await stack.client.backupNow(resolveBackupConfiguration(resources(['missing']), configuration));
  const failure = await workflowFailureOf(handle.result());
  expect(failure.type).toBe('UnknownDatabase');
  const sessionEnded = Date.now();
  const [json, slack] = await pollUntil(
    async () => [accepted('json'), accepted('slack')],
    ([j, s]) => j!.length === 1 && s!.length === 1,
    { what: 'the failure taken by both webhooks', timeoutMs: 120_000 },
  );
  // The receiver refused the first two requests: the session did not wait for it.
  expect(receiver.requests.filter((r) => r.status === 500)).toHaveLength(2);
  expect(Math.min(json![0]!.at, slack![0]!.at)).toBeGreaterThan(sessionEnded);
  expect(json![0]!.body).toMatchObject({
    source: 'dbkeep',
    event: 'failure',
    configuration,
    repository: 'repo',
    target: 'source',
    session: handle.workflowId,
    error: expect.stringContaining('missing'),
  });
  expect(slack![0]!.body).toEqual({
    text: expect.stringMatching(/^:red_circle: dbkeep: backup of notified \(Target source\) failed: .*missing/),
  });
});

it('tells the first success after a failure as a recovery, to the webhooks that asked for it, and a second success to none', async () => {
  const recovered = await (await stack.client.backupNow(resolveBackupConfiguration(resources(['shop']), configuration))).result();
  if (recovered.outcome !== 'succeeded') throw new Error('the session was skipped');
  const [recovery] = await pollUntil(
    async () => accepted('json').filter((r) => r.body.event === 'recovery'),
    (found) => found.length === 1,
    { what: 'the recovery taken by the JSON webhook', timeoutMs: 60_000 },
  );
  expect(recovery!.body).toMatchObject({ configuration, snapshotId: recovered.snapshotId });
  expect(recovery!.body).not.toHaveProperty('error');

  const again = await (await stack.client.backupNow(resolveBackupConfiguration(resources(['shop']), configuration))).result();
  if (again.outcome !== 'succeeded') throw new Error('the session was skipped');
  // A success after a success raises nothing: no delivery workflow was started for it.
  await expect(
    stack.client.temporal.workflow.getHandle(notificationWorkflowId(configuration, again.snapshotId)).describe(),
  ).rejects.toThrow(/not found/i);
  // The recovery's delivery has ended (one was taken); the Slack webhook, which asked for failures only, got none.
  const delivered = await stack.client.temporal.workflow.getHandle(notificationWorkflowId(configuration, recovered.snapshotId)).result();
  expect(delivered).toEqual({ delivered: 1 });
  expect(accepted('json').map((r) => r.body.event)).toEqual(['failure', 'recovery']);
  expect(accepted('slack').map((r) => r.body.text)).toHaveLength(1);
  expect((await allHistoriesJson(stack)).json).not.toContain(TOKEN);
});

it('tells a configuration whose backups went stale once, counts again from the next success, and stops when it is deleted', async () => {
  const watched = 'watched';
  const watchedResources = stack.resources(
    stack.targetDocument('source', source),
    configurationDocument(watched, {
      target: 'source',
      databases: ['shop'],
      notifications: { staleAfter: '4s', webhooks: [{ url: { file: path.join(stack.dir, 'stale-webhook-url') }, events: ['stale'] }] },
    }),
  );
  const backup = async () => {
    const result = await (await stack.client.backupNow(resolveBackupConfiguration(watchedResources, watched))).result();
    if (result.outcome !== 'succeeded') throw new Error('the session was skipped');
    return { snapshotId: result.snapshotId, endedMs: Date.now() };
  };
  const watch = stack.client.temporal.workflow.getHandle(staleWatchWorkflowId(watched));
  /** Notifications the watch started (by its activity startNoticeDelivery, not as children): one per stale spell. */
  const toldByWatch = async () => {
    const history = await watch.fetchHistory();
    const events = history.events ?? [];
    expect(events.filter((event) => event.startChildWorkflowExecutionInitiatedEventAttributes)).toEqual([]);
    return events.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'startNoticeDelivery').length;
  };

  const first = await backup();
  const [stale] = await pollUntil(
    async () => accepted('stale'),
    (found) => found.length === 1,
    { what: 'the stale notice', timeoutMs: 60_000 },
  );
  expect(stale!.body).toMatchObject({
    event: 'stale',
    configuration: watched,
    snapshotId: first.snapshotId,
    session: staleWatchWorkflowId(watched),
  });
  expect(stale!.body.error).toMatch(/^no successful backup since .*, for more than 4 s$/);
  expect(stale!.at).toBeGreaterThanOrEqual(first.endedMs + 2_000);
  // Told once: the watch now waits for a success, with no timer left to tell again.
  expect(await toldByWatch()).toBe(1);

  const second = await backup();
  const [again] = await pollUntil(
    async () => accepted('stale').slice(1),
    (found) => found.length === 1,
    { what: 'the stale notice after the second backup', timeoutMs: 60_000 },
  );
  expect(again!.body).toMatchObject({ event: 'stale', snapshotId: second.snapshotId });
  expect(again!.at).toBeGreaterThanOrEqual(second.endedMs + 2_000);

  expect(await stack.client.deleteSchedule(watched)).toBe(true);
  await pollUntil(
    async () => (await watch.describe()).status.name,
    (status) => status === 'COMPLETED',
    { what: 'the stale watch ended by dbkeep delete', timeoutMs: 30_000 },
  );
});

it('counts with the settings `dbkeep apply` gives a running stale watch, and ends it when stale is no longer asked for', async () => {
  const rewatched = 'rewatched';
  writeFileSync(path.join(stack.dir, 'restale-webhook-url'), `${receiver.url}/restale/${TOKEN}`);
  const withStaleAfter = (staleAfter: string, events: string[]) =>
    stack.resources(
      stack.targetDocument('source', source),
      configurationDocument(rewatched, {
        target: 'source',
        databases: ['shop'],
        notifications: { staleAfter, webhooks: [{ url: { file: path.join(stack.dir, 'restale-webhook-url') }, events }] },
      }),
    );
  const watch = stack.client.temporal.workflow.getHandle(staleWatchWorkflowId(rewatched));
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(withStaleAfter('1h', ['stale']), rewatched))).result();
  if (result.outcome !== 'succeeded') throw new Error('the session was skipped');
  // `dbkeep apply` finds running watches through visibility, which lists a new one a moment after it starts.
  const listedRunning = async () => {
    const query = `WorkflowId = '${staleWatchWorkflowId(rewatched)}' AND ExecutionStatus = 'Running'`;
    for await (const execution of stack.client.temporal.workflow.list({ query })) return execution.workflowId;
    return undefined;
  };
  await pollUntil(listedRunning, (found) => found !== undefined, { what: 'the stale watch listed as running', timeoutMs: 30_000 });

  // An hour would pass before the watch tells; applied with 2 s, it tells now.
  await stack.client.applyResources(withStaleAfter('2s', ['stale']));
  const [stale] = await pollUntil(
    async () => accepted('restale'),
    (found) => found.length === 1,
    { what: 'the stale notice with the applied staleAfter', timeoutMs: 60_000 },
  );
  expect(stale!.body).toMatchObject({ event: 'stale', configuration: rewatched, snapshotId: result.snapshotId });
  expect(stale!.body.error).toMatch(/, for more than 2 s$/);

  // Applied without `stale` among its webhooks' events, the configuration has no watch left.
  await stack.client.applyResources(withStaleAfter('2s', ['failure']));
  await pollUntil(
    async () => (await watch.describe()).status.name,
    (status) => status === 'COMPLETED',
    { what: 'the stale watch ended by dbkeep apply', timeoutMs: 30_000 },
  );
  await stack.client.deleteSchedule(rewatched);
});
