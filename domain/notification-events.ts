/** What a configuration's webhooks are told: a failed session, and the first success after one. No imports: workflows use it. */
export const NOTIFICATION_EVENTS = ['failure', 'recovery'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];
