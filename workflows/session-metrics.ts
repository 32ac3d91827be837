import { CancellationScope, log, workflowInfo } from '@temporalio/workflow';
import type { SessionMetricsInput } from '../activities/metrics-activities';
import { metricsActivities } from './activity-options';
import { failureMessage } from './session-status';

/**
 * Pushes a finished session's metrics (success=0 too). A Pushgateway that is down must not
 * turn a good backup into a failed one: the failure is logged, the session's outcome stands.
 */
export async function reportSessionMetrics(metrics: Omit<SessionMetricsInput, 'durationSeconds' | 'finishedAt'>): Promise<void> {
  const finishedAt = new Date();
  const durationSeconds = (finishedAt.getTime() - workflowInfo().startTime.getTime()) / 1000;
  try {
    // Non-cancellable: a cancelled session still reports success=0.
    await CancellationScope.nonCancellable(() =>
      metricsActivities.pushSessionMetrics({ ...metrics, durationSeconds, finishedAt: finishedAt.toISOString() }),
    );
  } catch (err) {
    log.warn('could not push session metrics', { error: failureMessage(err) });
  }
}
