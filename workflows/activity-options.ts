import { proxyActivities } from '@temporalio/workflow';
import type { DbkeepActivities } from '../activities';

/**
 * Activity proxies grouped by risk. Permanent failures are thrown as non-retryable
 * ApplicationFailures by the activities themselves; everything else retries with backoff.
 */

/** Short calls: connect, list, read or write a manifest. */
export const quickActivities = proxyActivities<DbkeepActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/**
 * Streaming dumps and restores. They run for as long as the data takes, so what bounds them
 * is the heartbeat: a worker that dies is noticed within the heartbeat timeout and the
 * attempt is retried elsewhere, not after a long start-to-close wait.
 */
export const streamingActivities = proxyActivities<DbkeepActivities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 5 },
});
