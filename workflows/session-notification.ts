import {
  ApplicationFailure,
  CancellationScope,
  log,
  ParentClosePolicy,
  patched,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { SessionNotice, SessionNotificationInput, SessionOutcome, Webhooks } from '../domain/notifications';
import { NOTIFICATION_EVENTS } from '../domain/notification-events';
import type { BackupConfigurationSpec, Named, RepositorySpec } from '../domain/resources';
import { notificationWorkflowId } from '../domain/session-ids';
import { deliveryActivities, notificationStateActivities, quickActivities } from './activity-options';
import { failureMessage } from './session-status';

export type { SessionNotificationInput, Webhooks };

const NOTIFICATIONS_PATCH = 'session-notifications';
/** The delivery started after the session's lock has ended, as its last command. */
const NOTIFY_AFTER_LOCK_PATCH = 'notify-after-lock';
/** The delivery started by an activity, as a workflow with no parent (activities/workflow-start.ts); before: an abandoned child. */
const NOTICE_APART_PATCH = 'notice-started-apart';

/**
 * Tells the configuration's webhooks about a finished backup session, when its outcome raises an
 * event (domain/notifications.ts): records the outcome (the session still holds its lock), then
 * starts `notify/<configuration>/<snapshot-id>`, which delivers on its own. The session waits
 * for neither the delivery nor a receiver: a receiver that is down never fails or delays it.
 *
 * Returns the start of the delivery for the session to run last, once its lock has ended: a
 * delivery started earlier could complete while the session was completing, and its completion
 * arriving then fails that workflow task (UnhandledCommand). In histories from before
 * NOTIFY_AFTER_LOCK_PATCH the delivery starts here, and nothing is returned.
 */
export async function notifySessionOutcome(params: {
  configuration: Named<BackupConfigurationSpec>;
  repository: Named<RepositorySpec>;
  target: string;
  snapshotId: string;
  outcome: SessionOutcome;
  error?: string;
}): Promise<(() => Promise<unknown>) | undefined> {
  const webhooks = params.configuration.spec.notifications?.webhooks ?? [];
  // Only webhooks that asked for a session's events (not only for failed drills) need its outcome.
  const told = webhooks.some((webhook) => (webhook.events ?? NOTIFICATION_EVENTS).some((event) => event !== 'drillFailure'));
  if (!told || !patched(NOTIFICATIONS_PATCH)) return undefined;
  try {
    return await CancellationScope.nonCancellable(async () => {
      const recorded = await notificationStateActivities
        .recordSessionOutcome({ repository: params.repository, configuration: params.configuration.name, outcome: params.outcome })
        .catch((err: unknown) => {
          log.warn('could not record the session outcome for its notifications', { error: failureMessage(err) });
          // Without the last outcome a failure is still told; a recovery cannot be known.
          return params.outcome === 'failed' ? { event: 'failure' as const } : {};
        });
      if (!recorded.event) return undefined;
      const notice: SessionNotice = {
        event: recorded.event,
        configuration: params.configuration.name,
        repository: params.repository.name,
        target: params.target,
        session: workflowInfo().workflowId,
        ...(params.outcome === 'succeeded' ? { snapshotId: params.snapshotId } : {}),
        ...(params.error === undefined ? {} : { error: params.error }),
        at: new Date().toISOString(),
      };
      const deliver = () =>
        startNoticeDelivery(notificationWorkflowId(params.configuration.name, params.snapshotId), { webhooks, notice }, 'the session');
      if (patched(NOTIFY_AFTER_LOCK_PATCH)) return deliver;
      await deliver();
      return undefined;
    });
  } catch (err) {
    log.warn('could not start the notification of the session', { error: failureMessage(err) });
    return undefined;
  }
}

/** Delivers one notice to every webhook that asked for its event, each retried on its own. */
export async function sessionNotification(input: SessionNotificationInput): Promise<{ delivered: number }> {
  const wanted = input.webhooks
    .map((webhook, index) => ({ webhook, number: index + 1 }))
    .filter(({ webhook }) => (webhook.events ?? NOTIFICATION_EVENTS).includes(input.notice.event));
  const outcomes = await Promise.allSettled(
    wanted.map(({ webhook, number }) =>
      deliveryActivities.deliverNotification({
        webhook: { url: webhook.url, format: webhook.format ?? 'json' },
        webhookNumber: number,
        notice: input.notice,
      }),
    ),
  );
  const failed = outcomes.flatMap((outcome, index) =>
    outcome.status === 'rejected' ? [`webhook ${wanted[index]!.number}: ${failureMessage(outcome.reason)}`] : [],
  );
  if (failed.length > 0) throw ApplicationFailure.nonRetryable(`not delivered: ${failed.join('; ')}`, 'NotificationNotDelivered');
  return { delivered: wanted.length };
}

/**
 * Tells the webhooks that asked for `drillFailure` about a failed restore drill, from a workflow
 * of its own (`notify/<configuration>/<snapshot-id>/drill`) that the drill does not wait for.
 */
export async function notifyDrillFailure(params: {
  webhooks: Webhooks | undefined;
  notice: Omit<SessionNotice, 'event' | 'at' | 'session'>;
}): Promise<void> {
  const webhooks = params.webhooks ?? [];
  if (webhooks.length === 0) return;
  const notice: SessionNotice = {
    ...params.notice,
    event: 'drillFailure',
    session: workflowInfo().workflowId,
    at: new Date().toISOString(),
  };
  await startNoticeDelivery(
    `${notificationWorkflowId(notice.configuration, notice.snapshotId ?? workflowInfo().workflowId)}/drill`,
    { webhooks, notice },
    'the failed drill',
  );
}

/**
 * Starts the delivery of one notice as a workflow of its own, left running: whoever tells does
 * not wait for the receivers. Failing to start it is logged, never thrown. The child's handle
 * only in histories from before NOTICE_APART_PATCH, whose delivery is a child.
 */
export async function startNoticeDelivery(
  workflowId: string,
  input: SessionNotificationInput,
  what: string,
): Promise<ChildWorkflowHandle<typeof sessionNotification> | undefined> {
  try {
    return await CancellationScope.nonCancellable(async () => {
      if (!patched(NOTICE_APART_PATCH)) {
        return await startChild(sessionNotification, { workflowId, args: [input], parentClosePolicy: ParentClosePolicy.ABANDON });
      }
      await quickActivities.startNoticeDelivery({ workflowId, notification: input });
      return undefined;
    });
  } catch (err) {
    log.warn(`could not start the notification of ${what}`, { error: failureMessage(err) });
    return undefined;
  }
}
