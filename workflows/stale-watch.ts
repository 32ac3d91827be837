import {
  condition,
  continueAsNew,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  patched,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { SessionNotice } from '../domain/notifications';
import type { BackupConfigurationSpec, Named } from '../domain/resources';
import { notificationWorkflowId, staleWatchWorkflowId } from '../domain/session-ids';
import { staleAfterSeconds, staleDescription } from '../domain/stale-watch';
import { startNoticeDelivery, type sessionNotification, type Webhooks } from './session-notification';
import { failureMessage } from './session-status';

/** What the watch knows: whom to tell, after how long, and the last success it heard of. */
export interface StaleWatchInput {
  configuration: string;
  repository: string;
  target: string;
  webhooks: Webhooks;
  staleAfterSeconds: number;
  lastSuccess: { at: string; snapshotId: string };
}

/** A backup session of the configuration succeeded: the watch starts counting again, with the configuration as the session had it. */
export const backupSucceededSignal = defineSignal<[StaleWatchInput]>('backupSucceeded');

/** What `dbkeep apply` changes in a running watch: whom to tell, and after how long. */
export type StaleWatchSettings = Pick<StaleWatchInput, 'repository' | 'target' | 'webhooks' | 'staleAfterSeconds'>;

/** The configuration was applied with other notification settings: the watch counts with them from now on. */
export const staleSettingsSignal = defineSignal<[StaleWatchSettings]>('staleSettings');

/**
 * `dbkeep apply` without `stale`, or `dbkeep delete`: the watch ends by itself, once a stale
 * notice it started has been delivered. (Terminating it instead failed the workflow task it was
 * running, when a delivery's completion had just woken it.) The reason is for its log.
 */
export const endStaleWatchSignal = defineSignal<[string]>('endWatch');

/** Successes heard before the watch continues as new, which keeps its history short. */
const SUCCESSES_PER_RUN = 100;

/**
 * `stale-watch/<configuration>`: tells the webhooks that asked for `stale`, once, when no backup
 * of the configuration succeeded for longer than it allows (domain/stale-watch.ts), then waits
 * for the next success, which starts the count again. Backup sessions start it and signal it;
 * a timer, not a session, tells, so a schedule that stopped firing, sessions that are skipped
 * and a worker that was down (told when it is back) are all seen. `dbkeep apply` hands it new
 * settings (staleSettingsSignal), or ends it when `stale` is no longer asked for; `dbkeep
 * delete` ends it.
 */
export async function staleBackupWatch(input: StaleWatchInput): Promise<void> {
  let watch = input;
  let heard = 0;
  let succeeded = false;
  let resettled = false;
  let ended = false;
  /** The stale notices started, each settled when delivered (or given up). */
  const deliveries: Promise<unknown>[] = [];
  setHandler(backupSucceededSignal, (latest) => {
    watch = latest;
    heard += 1;
    succeeded = true;
  });
  setHandler(staleSettingsSignal, (settings) => {
    watch = { ...watch, ...settings };
    resettled = true;
  });
  setHandler(endStaleWatchSignal, (reason) => {
    ended = true;
    log.info('the stale watch ends', { reason });
  });
  while (heard < SUCCESSES_PER_RUN && !ended) {
    succeeded = false;
    resettled = false;
    const staleInMs = Date.parse(watch.lastSuccess.at) + watch.staleAfterSeconds * 1000 - Date.now();
    // New settings count from the same last success: a shorter staleAfter may already have passed.
    if (staleInMs > 0 && (await condition(() => succeeded || resettled || ended, staleInMs))) continue;
    if (!succeeded && !ended) {
      const started = await tellStale(watch);
      if (started) deliveries.push(started.result().catch(() => undefined));
      await condition(() => succeeded || ended);
    }
  }
  if (ended) {
    // A delivery's completion would otherwise arrive while the watch completes.
    await Promise.all(deliveries);
    return;
  }
  await continueAsNew<typeof staleBackupWatch>(watch);
}

async function tellStale(watch: StaleWatchInput): Promise<ChildWorkflowHandle<typeof sessionNotification> | undefined> {
  const notice: SessionNotice = {
    event: 'stale',
    configuration: watch.configuration,
    repository: watch.repository,
    target: watch.target,
    session: workflowInfo().workflowId,
    snapshotId: watch.lastSuccess.snapshotId,
    error: staleDescription(watch.lastSuccess.at, watch.staleAfterSeconds),
    at: new Date().toISOString(),
  };
  return await startNoticeDelivery(
    `${notificationWorkflowId(watch.configuration, watch.lastSuccess.snapshotId)}/stale`,
    { webhooks: watch.webhooks, notice },
    'stale backups',
  );
}

const STALE_WATCH_PATCH = 'stale-watch';

/**
 * After a successful backup session: tells the configuration's stale watch, or starts it. Does
 * nothing when no webhook asked for `stale` or no threshold is known (staleAfterSeconds).
 */
export async function armStaleWatch(params: {
  configuration: Named<BackupConfigurationSpec>;
  repository: string;
  target: string;
  snapshotId: string;
  at: string;
}): Promise<void> {
  const staleAfter = staleAfterSeconds(params.configuration.spec);
  if (staleAfter === undefined || !patched(STALE_WATCH_PATCH)) return;
  const input: StaleWatchInput = {
    configuration: params.configuration.name,
    repository: params.repository,
    target: params.target,
    webhooks: params.configuration.spec.notifications!.webhooks,
    staleAfterSeconds: staleAfter,
    lastSuccess: { at: params.at, snapshotId: params.snapshotId },
  };
  const workflowId = staleWatchWorkflowId(params.configuration.name);
  try {
    await getExternalWorkflowHandle(workflowId).signal(backupSucceededSignal, input);
    return;
  } catch {
    // Not running yet (the configuration's first success, or after `dbkeep delete`): start it.
  }
  try {
    await startChild(staleBackupWatch, { workflowId, args: [input], parentClosePolicy: ParentClosePolicy.ABANDON });
  } catch (err) {
    log.warn('could not start the stale watch', { error: failureMessage(err) });
  }
}
