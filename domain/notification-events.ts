/**
 * What a configuration's webhooks are told: a failed backup session, the first success after one,
 * a failed restore drill, and no successful backup for longer than the configuration allows
 * (`stale`, domain/stale-watch.ts). No imports: workflows use it.
 */
export const NOTIFICATION_EVENTS = ['failure', 'recovery', 'drillFailure', 'stale'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];
