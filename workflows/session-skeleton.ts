import type { SessionMetricsInput } from '../activities/metrics-activities';
import { reportSessionMetrics } from './session-metrics';
import { failureMessage, setPhase, type SessionStatus } from './session-status';

/** The labels of a session's metrics: a SessionIdentity, or a restore drill's (kind `verify`). */
export type SessionMetricLabels = Pick<SessionMetricsInput, 'kind' | 'configuration' | 'repository' | 'target'>;

/** What a successful session adds to its labels in the session metrics. */
export type SessionSuccessMetrics = Pick<
  SessionMetricsInput,
  'dataSizeBytes' | 'uploadedBytes' | 'repositorySizeBytes' | 'snapshotCount' | 'snapshotsRemoved' | 'restoreSeconds'
>;

export interface SessionSuccess<R> {
  result: R;
  metrics?: SessionSuccessMetrics;
}

/**
 * The shape every session shares once admitted: Running while `run` runs, then Succeeded or
 * Failed (with the failure's message in status.error), and one push of the session metrics
 * either way (success=1 with what `run` measured, or success=0), labelled with `metrics`. A
 * session without `metrics` pushes none: a bootstrap's restore is a session of its own that does.
 * A restore drill passes no `status`: it has no status query or phase search attribute, and
 * upserting one would add commands its running histories lack.
 */
export async function runSession<R>(
  status: SessionStatus | undefined,
  metrics: SessionMetricLabels | undefined,
  run: () => Promise<SessionSuccess<R>>,
  /** Gauges pushed whatever the outcome (a scheduled backup's schedule interval). */
  always: Pick<SessionMetricsInput, 'scheduleIntervalSeconds'> = {},
): Promise<R> {
  if (status) setPhase(status, 'Running');
  try {
    const success = await run();
    if (status) setPhase(status, 'Succeeded');
    if (metrics) await reportSessionMetrics({ ...metricLabels(metrics), success: true, ...always, ...success.metrics });
    return success.result;
  } catch (err) {
    if (status) {
      status.error = failureMessage(err);
      setPhase(status, 'Failed');
    }
    if (metrics) await reportSessionMetrics({ ...metricLabels(metrics), success: false, ...always });
    throw err;
  }
}

function metricLabels({ kind, configuration, repository, target }: SessionMetricLabels) {
  return { kind, configuration, repository, ...(target === undefined ? {} : { target }) };
}
