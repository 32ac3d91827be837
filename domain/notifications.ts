import type { BackupConfigurationSpec } from './resources';
import { z } from 'zod';
import type { NotificationEvent } from './notification-events';

/**
 * What a configuration's webhooks are told, and when: every failed backup session (`failure`),
 * and the first successful one after a failure (`recovery`). Whether a success is a recovery
 * depends on the outcome before it, which the repository keeps per configuration
 * (notificationStateKey), written by the session itself while it holds the configuration's lock.
 */

export type SessionOutcome = 'succeeded' | 'failed';

/** The repository object that remembers a configuration's last session outcome. */
export function notificationStateKey(configuration: string): string {
  return `${configuration}/notifications.json`;
}

export const notificationStateSchema = z.object({ lastOutcome: z.enum(['succeeded', 'failed']), at: z.iso.datetime() });
export type NotificationState = z.infer<typeof notificationStateSchema>;

/** The event a session's outcome raises, given the one before it (none known: no recovery). */
export function notificationEventFor(previous: SessionOutcome | undefined, outcome: SessionOutcome): NotificationEvent | undefined {
  if (outcome === 'failed') return 'failure';
  return previous === 'failed' ? 'recovery' : undefined;
}

/** One message, as every webhook of the configuration gets it (no secret in it: the failure message is the session's own). */
export interface SessionNotice {
  event: NotificationEvent;
  configuration: string;
  repository: string;
  target: string;
  /** The session's (or the drill's) workflow id. */
  session: string;
  snapshotId?: string;
  /** A failed session's failure, as its status shows it; for `stale`, since when and for how long no backup succeeded. */
  error?: string;
  /** When the session ended. */
  at: string;
}

/** The webhooks of a configuration (references: a URL carries its receiver's token). */
export type Webhooks = NonNullable<BackupConfigurationSpec['notifications']>['webhooks'];

/** The input of `notify/…`, the workflow that delivers one notice (workflows/session-notification.ts). */
export interface SessionNotificationInput {
  webhooks: Webhooks;
  notice: SessionNotice;
}

/** Its workflow type, for the activity that starts it by name apart from whoever tells. */
export const SESSION_NOTIFICATION_WORKFLOW_TYPE = 'sessionNotification';

/** The request body for one webhook: dbkeep's JSON, or Slack's `{ text }`. */
export function notificationBody(notice: SessionNotice, format: 'json' | 'slack'): string {
  if (format === 'json') return JSON.stringify({ source: 'dbkeep', ...notice });
  const texts: Record<NotificationEvent, () => string> = {
    failure: () =>
      `:red_circle: dbkeep: backup of ${notice.configuration} (Target ${notice.target}) failed: ${notice.error ?? 'no message'} (session ${notice.session})`,
    recovery: () =>
      `:large_green_circle: dbkeep: backup of ${notice.configuration} (Target ${notice.target}) succeeded again, snapshot ${notice.snapshotId ?? '?'} (session ${notice.session})`,
    drillFailure: () =>
      `:red_circle: dbkeep: the restore drill of snapshot ${notice.snapshotId ?? '?'} of ${notice.configuration} failed: ${notice.error ?? 'no message'} (${notice.session})`,
    stale: () =>
      `:warning: dbkeep: backups of ${notice.configuration} (Target ${notice.target}) are stale: ${notice.error ?? 'no recent success'} (last snapshot ${notice.snapshotId ?? '?'})`,
  };
  return JSON.stringify({ text: texts[notice.event]() });
}

/**
 * Whether a webhook's answer means the message will never be taken: a 4xx other than 408 (timeout)
 * and 429 (too many requests). Everything else (5xx, no answer) is retried.
 */
export function isRejectedForGood(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}
