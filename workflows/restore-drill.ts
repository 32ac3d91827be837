import { ApplicationFailure, CancellationScope, executeChild, log, ParentClosePolicy, patched, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { DrillOutcome } from '../activities/drill-activities';
import { PermanentFailureType } from '../domain/failures';
import type { BackupConfigurationSpec, BackupMethod, Named, RepositorySpec } from '../domain/resources';
import type { RestoreDrillWorkflowInput } from '../domain/restore-drill-input';
import { scratchPlacementInput } from '../domain/scratch-placement';
import { drillWorkflowId } from '../domain/session-ids';
import { drillActivities, quickActivities } from './activity-options';
import { requireInputFields } from './input-guard';
import { runSession } from './session-skeleton';
import { failureMessage } from './session-status';
import { notifyDrillFailure } from './session-notification';

export type { RestoreDrillWorkflowInput };

/** How many differences the failure names; the stored outcome has up to 50. */
const NAMED_DIFFERENCES = 5;

/**
 * A restore drill, `verify/<configuration>/<snapshot-id>` (docs/restore-drills.md): a logical
 * snapshot restored into a scratch server and compared with the fingerprint recorded at backup
 * time, a physical one prepared, started on, checked table by table and read row by row. It
 * fails, naming what differs, when the restored copy does not pass; the outcome is stored
 * beside the snapshot either way, and pushed as the session metrics of kind `verify` (success,
 * duration, last success time, restored bytes, and the restore's own duration).
 */
export async function restoreDrill(input: RestoreDrillWorkflowInput): Promise<DrillOutcome> {
  requireInputFields(input, ['repository.name', 'repository.spec', 'configuration', 'snapshotId'], '`dbkeep verify` starts a valid drill');
  const { repository, configuration } = input;
  // Either method: the drill proves what the snapshot's own method allows.
  const manifest = await quickActivities.resolveSnapshot({ repository, configuration, selector: { snapshotId: input.snapshotId } });
  const metrics = { kind: 'verify' as const, configuration, repository: repository.name, target: manifest.target.name };
  return runSession(undefined, metrics, async () => {
    const outcome = await drillActivities.runRestoreDrill({
      repository,
      manifest,
      ...(input.identity ? { identity: input.identity } : {}),
      ...(input.scratch ? { scratch: input.scratch } : {}),
    });
    if (!outcome.passed) {
      const more = outcome.differences.length > NAMED_DIFFERENCES ? `; and ${outcome.differences.length - NAMED_DIFFERENCES} more` : '';
      const message = `snapshot ${manifest.snapshotId} failed its restore drill: ${outcome.differences.slice(0, NAMED_DIFFERENCES).join('; ')}${more}`;
      throw ApplicationFailure.nonRetryable(message, PermanentFailureType.DrillFailed);
    }
    return { result: outcome, metrics: { dataSizeBytes: outcome.restoredBytes, restoreSeconds: outcome.restoreSeconds } };
  }).catch(async (err: unknown) => {
    // runSession pushed success=0 first: a drill's history has the metrics push before the notification.
    await notifyDrillFailure({
      webhooks: input.webhooks,
      notice: {
        configuration,
        repository: repository.name,
        target: manifest.target.name,
        snapshotId: manifest.snapshotId,
        error: failureMessage(err),
      },
    });
    throw err;
  });
}

export type ScheduledRestoreDrillInput = Omit<RestoreDrillWorkflowInput, 'snapshotId'> & {
  /** The configuration's method, whose newest snapshot is drilled; `logical` in schedules made before physical drills. */
  method?: BackupMethod;
};

/** What a scheduled drill did: the drill of the newest snapshot, or nothing while one of it was already running. */
export type ScheduledRestoreDrillResult = { drilled: DrillOutcome } | { skipped: string };

/**
 * The action of a configuration's drill schedule (spec.verification.schedule): drills the newest
 * snapshot, which must be of the configuration's method (MethodMismatch otherwise), as its child
 * `verify/<configuration>/<snapshot-id>`, as `dbkeep verify` would, and ends with its outcome. A
 * drill of that snapshot already running is left alone.
 */
export async function scheduledRestoreDrill(input: ScheduledRestoreDrillInput): Promise<ScheduledRestoreDrillResult> {
  requireInputFields(input, ['repository.name', 'repository.spec', 'configuration'], '`dbkeep apply` makes a valid drill schedule');
  const { method = 'logical', ...drill } = input;
  const newest = await quickActivities.resolveSnapshot({
    repository: drill.repository,
    configuration: drill.configuration,
    selector: {},
    method,
  });
  const workflowId = drillWorkflowId(drill.configuration, newest.snapshotId);
  try {
    const drilled = await executeChild(restoreDrill, {
      workflowId,
      args: [{ ...drill, snapshotId: newest.snapshotId }],
      // Cancelled with its schedule's run, a drill still stops and removes its scratch server.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    });
    return { drilled };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { skipped: `${workflowId} is already running` };
  }
}

const DRILLS_PATCH = 'drill-every-n-snapshots';
/** Drills of physical snapshots too: a history written before them left a physical configuration's snapshots undrilled. */
const PHYSICAL_DRILLS_PATCH = 'physical-drills';
/**
 * The drill started by an activity, as a workflow with no parent: a child's completion could
 * reach its session while the session completed, and fail that workflow task. Histories written
 * before start it as an abandoned child.
 */
const DRILL_APART_PATCH = 'drill-started-apart';

/**
 * After a backup session committed its snapshot: with spec.verification.everyN, starts the drill
 * of the snapshot when it is due (isDrillDue), left running: the session waits for it no more
 * than for a notification, and a drill that cannot start leaves only a warning in the log.
 */
export async function startDrillIfDue(params: {
  configuration: Named<BackupConfigurationSpec>;
  repository: Named<RepositorySpec>;
  snapshotId: string;
}): Promise<void> {
  const { configuration, repository, snapshotId } = params;
  const everyN = configuration.spec.verification?.everyN;
  if (everyN === undefined || !patched(DRILLS_PATCH)) return;
  if (configuration.spec.method === 'physical' && !patched(PHYSICAL_DRILLS_PATCH)) return;
  try {
    await CancellationScope.nonCancellable(async () => {
      if (!(await quickActivities.isDrillDue({ repository, configuration: configuration.name, snapshotId, everyN }))) return;
      const identity = configuration.spec.encryption?.age.identity;
      const workflowId = drillWorkflowId(configuration.name, snapshotId);
      const drill: RestoreDrillWorkflowInput = {
        repository,
        configuration: configuration.name,
        snapshotId,
        ...(identity ? { identity } : {}),
        ...(configuration.spec.notifications ? { webhooks: configuration.spec.notifications.webhooks } : {}),
        ...scratchPlacementInput(configuration.spec),
      };
      if (patched(DRILL_APART_PATCH)) await quickActivities.startRestoreDrill({ workflowId, drill });
      else await startChild(restoreDrill, { workflowId, args: [drill], parentClosePolicy: ParentClosePolicy.ABANDON });
    });
  } catch (err) {
    log.warn('could not start the restore drill of the snapshot', { snapshotId, error: failureMessage(err) });
  }
}
