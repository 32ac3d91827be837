import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { DbkeepActivities } from '../activities';

/**
 * Activity proxies grouped by risk. Permanent failures are thrown as non-retryable
 * ApplicationFailures by the activities themselves; everything else retries with backoff.
 * Each proxy is typed with its group's activities only, so the compiler refuses a streaming
 * activity called through the quick proxy, whose timeout and missing heartbeat would kill it.
 */

type QuickActivities = Pick<
  DbkeepActivities,
  | 'findBackupLockHolder'
  | 'preflightTarget'
  | 'commitSnapshot'
  | 'resolveSnapshot'
  | 'inspectRestoreTarget'
  | 'putBackReplacedDatabases'
  | 'waitForTarget'
  | 'ensureReplicaWorker'
  | 'stopReplicaWorker'
  | 'listSnapshots'
  | 'repositoryStatus'
  | 'readRecoverableWindow'
  | 'resolvePointInTime'
  | 'isDrillDue'
  | 'startRestoreDrill'
  | 'startNoticeDelivery'
>;
type StreamingActivities = Pick<DbkeepActivities, 'dumpToRepository' | 'restoreFromSnapshot' | 'importExternalDumps'>;
type PruneActivities = Pick<DbkeepActivities, 'applyRetention'>;
type MetricsActivities = Pick<DbkeepActivities, 'pushSessionMetrics'>;
type NotificationStateActivities = Pick<DbkeepActivities, 'recordSessionOutcome'>;
type DeliveryActivities = Pick<DbkeepActivities, 'deliverNotification'>;
type DrillActivities = Pick<DbkeepActivities, 'runRestoreDrill'>;
type ReplicaCopyActivities = Pick<DbkeepActivities, 'copyReplicaVolume'>;

const QUICK_OPTIONS = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
} as const;

/** Short calls: connect, list, read or write a manifest. */
export const quickActivities = proxyActivities<QuickActivities>(QUICK_OPTIONS);

/** The same, under an activity id that says whose call it is in a history several parties share. */
export function quickActivitiesWithId(activityId: string) {
  return proxyActivities<QuickActivities>({ ...QUICK_OPTIONS, activityId });
}

/**
 * Streaming dumps and restores. They run for as long as the data takes, so what bounds them
 * is the heartbeat: a worker that dies is noticed within the heartbeat timeout and the
 * attempt is retried elsewhere, not after a long start-to-close wait.
 *
 * A cancelled session waits for its activity to confirm the cancellation: the activity learns
 * of it at its next heartbeat and confirms once its tools have exited and its upload was
 * aborted. Temporal's default (TRY_CANCEL) would end the session, free its backup lock and
 * report it while mariadb-dump still runs, or a restore's client still writes into the target
 * (test/reliability/cancellation.test.ts).
 */
const STREAMING_OPTIONS = {
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 5 },
} as const;

export const streamingActivities = proxyActivities<StreamingActivities>(STREAMING_OPTIONS);

/** The same, bounded as a whole (all attempts) by the configuration's `timeout`. */
export function streamingActivitiesWithin(timeoutMs: number) {
  return proxyActivities<StreamingActivities>({ ...STREAMING_OPTIONS, scheduleToCloseTimeout: timeoutMs });
}

/**
 * A complete replica volume copied by the session's worker: as long as the volume takes, bounded
 * by its heartbeat, under an id that names the replica (`replica-1/copy`).
 */
export function replicaCopyActivitiesWithId(activityId: string) {
  return proxyActivities<ReplicaCopyActivities>({ ...STREAMING_OPTIONS, activityId });
}

/**
 * Deleting snapshots: irreversible, so its own group. It heartbeats per snapshot and a retry
 * starts over from the catalog, where already deleted snapshots are simply gone.
 */
export const pruneActivities = proxyActivities<PruneActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

/** Metrics pushes: worth a few quick tries, never worth failing or delaying a session for. */
export const metricsActivities = proxyActivities<MetricsActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3 },
});

/** A session's outcome, recorded for its notifications: a few quick tries, then the session goes on without. */
export const notificationStateActivities = proxyActivities<NotificationStateActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3 },
});

/**
 * Delivering a notification, in its own workflow: a receiver that is down is retried for a day,
 * every attempt bounded by the request's own 10 s timeout.
 */
export const deliveryActivities = proxyActivities<DeliveryActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/** A restore drill: as long as the restore takes, bounded by its heartbeat like the streaming activities. */
export const drillActivities = proxyActivities<DrillActivities>({
  ...STREAMING_OPTIONS,
  retry: { ...STREAMING_OPTIONS.retry, maximumAttempts: 3 },
});
