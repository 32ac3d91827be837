// Pure and dependency-free: workflows import it (zod stays out of the workflow bundle).

/** Workflow, schedule and task queue names, one function each so they are spelled once. */

export const SCHEDULE_ID_PREFIX = 'dbkeep-';

export function backupWorkflowId(configuration: string, snapshotId: string): string {
  return `backup/${configuration}/${snapshotId}`;
}

/**
 * The lock a backup session holds while it runs: a child workflow with this fixed id. Temporal
 * refuses a second running workflow of one id atomically, which a visibility query cannot do.
 */
export function backupLockWorkflowId(configuration: string): string {
  return `backup-lock/${configuration}`;
}

export function restoreWorkflowId(target: string, restoreId: string): string {
  return `restore/${target}/${restoreId}`;
}

export function pruneWorkflowId(configuration: string, requestId: string): string {
  return `prune/${configuration}/${requestId}`;
}

/** Reads of a repository (listing, status) run as short workflows on the worker. */
export function repositoryQueryWorkflowId(
  what: 'snapshots' | 'repository-status' | 'import' | 'pitr-status',
  name: string,
  requestId: string,
): string {
  return `${what}/${name}/${requestId}`;
}

/** The schedule of a BackupConfiguration; one per configuration, like Stash's CronJob. */
export function scheduleIdFor(configuration: string): string {
  return `${SCHEDULE_ID_PREFIX}${configuration}`;
}

/** The schedule's action workflow id; Temporal appends each slot's time to it. */
export function scheduledBackupWorkflowId(configuration: string): string {
  return `backup/${configuration}/scheduled`;
}

/** The task queue sessions run on unless a worker and its clients are given another. */
export const DEFAULT_TASK_QUEUE = 'dbkeep';

/** A physical restore into replica volumes; its replicas are child workflows `<id>/replica-<ordinal>`. */
export function volumeRestoreWorkflowId(configuration: string, restoreId: string): string {
  return `restore-volumes/${configuration}/${restoreId}`;
}

/**
 * The id of one replica's activity in a volume restore's history: `replica-1/populate/2` is
 * replica 1's second population attempt, `replica-1/copy` its copy of replica 0's volume by the
 * session's worker, `replica-1/stop-worker` the end of its worker.
 */
export function replicaActivityId(ordinal: number, step: 'ensure-worker' | 'populate' | 'copy' | 'stop-worker', attempt?: number): string {
  return `replica-${ordinal}/${step}${attempt === undefined ? '' : `/${attempt}`}`;
}

/** The task queue only the worker bound to one replica's volume polls. */
export function replicaTaskQueue(restoreId: string, ordinal: number): string {
  return `dbkeep-replica-${restoreId}-${ordinal}`;
}

export function bootstrapWorkflowId(target: string, requestId: string): string {
  return `bootstrap/${target}/${requestId}`;
}

/** Stash's claim-template naming: `${POD_ORDINAL}` becomes the replica's ordinal. */
export const POD_ORDINAL_PLACEHOLDER = '${POD_ORDINAL}';

export function volumeForOrdinal(template: string, ordinal: number): string {
  return template.split(POD_ORDINAL_PLACEHOLDER).join(String(ordinal));
}

/** The continuous binary log archive of a configuration with point-in-time recovery: one per configuration. */
export function binlogArchiveWorkflowId(configuration: string): string {
  return `binlog-archive/${configuration}`;
}

/** The delivery of one backup session's notification: `notify/<configuration>/<snapshot-id>`. */
export function notificationWorkflowId(configuration: string, snapshotId: string): string {
  return `notify/${configuration}/${snapshotId}`;
}

/** The watch that tells a configuration's webhooks when its backups go stale: `stale-watch/<configuration>`. */
export function staleWatchWorkflowId(configuration: string): string {
  return `stale-watch/${configuration}`;
}

/** A restore drill of one snapshot: `verify/<configuration>/<snapshot-id>`. */
export function drillWorkflowId(configuration: string, snapshotId: string): string {
  return `verify/${configuration}/${snapshotId}`;
}

/**
 * A configuration's drill schedule (spec.verification.schedule). Its `/` is in no resource name,
 * so it is never read as the backup schedule of a configuration (configurationOfScheduleId).
 */
export function drillScheduleIdFor(configuration: string): string {
  return `${SCHEDULE_ID_PREFIX}verify/${configuration}`;
}

/** The drill schedule's action workflow id; Temporal appends each slot's time to it. */
export function scheduledDrillWorkflowId(configuration: string): string {
  return `verify/${configuration}/scheduled`;
}
