/**
 * What a configuration's webhooks are told: a failed backup session, the first success after one,
 * and a failed restore drill. No imports: workflows use it.
 */
export const NOTIFICATION_EVENTS = ['failure', 'recovery', 'drillFailure'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];
