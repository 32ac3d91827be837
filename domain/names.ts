import { z } from 'zod';
import { formatSnapshotId, SNAPSHOT_ID_PATTERN, snapshotIdTime } from './snapshot-id';

/**
 * Resource names follow Kubernetes' DNS-1123 label rule. They end up in object keys,
 * workflow ids and search attributes, so the rule is also what keeps a name from ever
 * escaping its repository prefix (no `/`, no `..`).
 */
export const resourceNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be lowercase letters, digits and "-", starting and ending with a letter or digit',
  );

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

export function backupWorkflowId(configuration: string, snapshotId: string): string {
  return `backup/${configuration}/${snapshotId}`;
}

export function restoreWorkflowId(target: string, restoreId: string): string {
  return `restore/${target}/${restoreId}`;
}

export function pruneWorkflowId(configuration: string, requestId: string): string {
  return `prune/${configuration}/${requestId}`;
}

/** Reads of a repository (listing, status) run as short workflows on the worker. */
export function repositoryQueryWorkflowId(what: 'snapshots' | 'repository-status', name: string, requestId: string): string {
  return `${what}/${name}/${requestId}`;
}

/** The schedule of a BackupConfiguration; one per configuration, like Stash's CronJob. */
export function scheduleIdFor(configuration: string): string {
  return `dbkeep-${configuration}`;
}

/** The configuration a schedule id belongs to, or undefined for schedules that are not dbkeep's. */
export function configurationOfScheduleId(scheduleId: string): string | undefined {
  const name = scheduleId.startsWith('dbkeep-') ? scheduleId.slice('dbkeep-'.length) : undefined;
  return name !== undefined && resourceNameSchema.safeParse(name).success ? name : undefined;
}

/** The schedule's action workflow id; Temporal appends each slot's time to it. */
export function scheduledBackupWorkflowId(configuration: string): string {
  return `backup/${configuration}/scheduled`;
}

/** The task queue sessions run on unless a worker and its clients are given another. */
export const DEFAULT_TASK_QUEUE = 'dbkeep';
