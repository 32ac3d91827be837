import { longestCronIntervalSeconds } from './cron-expression';
import { parseDurationMs } from './duration';
import { NOTIFICATION_EVENTS } from './notification-events';
import type { BackupConfigurationSpec } from './resources';

/**
 * When a configuration's backups are stale: no successful backup for longer than its
 * `notifications.staleAfter`, or 1.5 times its schedule's longest gap between slots (the
 * DbkeepBackupStale alert's threshold, so both speak at the same moment). Undefined when no
 * webhook asked for `stale`, or the configuration has neither. Pure: workflows use it.
 */
export function staleAfterSeconds(spec: BackupConfigurationSpec): number | undefined {
  const webhooks = spec.notifications?.webhooks ?? [];
  if (!webhooks.some((webhook) => (webhook.events ?? NOTIFICATION_EVENTS).includes('stale'))) return undefined;
  const explicit = spec.notifications?.staleAfter;
  if (explicit !== undefined) return (parseDurationMs(explicit) ?? 0) / 1000;
  if (spec.schedule) return Math.round(1.5 * longestCronIntervalSeconds(spec.schedule.cron));
  return undefined;
}

/** What a stale notice says, in a failure message's place. */
export function staleDescription(lastSuccessAt: string, staleAfter: number): string {
  return `no successful backup since ${lastSuccessAt}, for more than ${staleAfter} s`;
}
