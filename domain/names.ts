import { z } from 'zod';
import { formatSnapshotId, SNAPSHOT_ID_PATTERN, snapshotIdTime } from './snapshot-id';
import { SCHEDULE_ID_PREFIX } from './session-ids';

/**
 * Resource names follow Kubernetes' DNS-1123 label rule. They end up in object keys,
 * workflow ids and search attributes, so the rule is also what keeps a name from ever
 * escaping its repository prefix (no `/`, no `..`).
 */
export const resourceNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lowercase letters, digits and "-", starting and ending with a letter or digit');

export type ResourceName = z.infer<typeof resourceNameSchema>;

export const snapshotIdSchema = z
  .string()
  .regex(SNAPSHOT_ID_PATTERN, 'must look like 20261121T161704123Z-3f9a1c (UTC time and a 6-hex-digit suffix)')
  .refine((id) => {
    if (!SNAPSHOT_ID_PATTERN.test(id)) return true; // the regex above already reported it
    const time = snapshotIdTime(id);
    // Rejects impossible times (month 13, minute 60) that the pattern lets through.
    return !Number.isNaN(time.getTime()) && formatSnapshotId(time, id.slice(-6)) === id;
  }, 'must hold a real UTC time');

/** The configuration a schedule id belongs to, or undefined for schedules that are not dbkeep's. */
export function configurationOfScheduleId(scheduleId: string): string | undefined {
  const name = scheduleId.startsWith(SCHEDULE_ID_PREFIX) ? scheduleId.slice(SCHEDULE_ID_PREFIX.length) : undefined;
  return name !== undefined && resourceNameSchema.safeParse(name).success ? name : undefined;
}
