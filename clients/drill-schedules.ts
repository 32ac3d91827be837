import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleSummary } from '@temporalio/client';
import type { ResolvedBackupConfiguration } from '../domain/resource-set';
import type { BackupConfigurationSpec } from '../domain/resources';
import { identitySearchAttributes } from '../domain/search-attributes';
import { scratchPlacementInput } from '../domain/scratch-placement';
import { drillScheduleIdFor, scheduledDrillWorkflowId } from '../domain/session-ids';
import type { scheduledRestoreDrill } from '../workflows';
import { searchAttributePairs } from '../workflows/search-attributes';
import { APPLY_CONCURRENCY, createOrUpdateSchedule, mapWithConcurrency, type AppliedSpec, type ApplyOutcome } from './backup-schedules';

type DrillSchedule = NonNullable<NonNullable<BackupConfigurationSpec['verification']>['schedule']>;

/**
 * One Temporal Schedule per BackupConfiguration with `spec.verification.schedule`,
 * `dbkeep-verify/<configuration>`: at each slot it drills the configuration's newest snapshot, of
 * the configuration's method (workflows/restore-drill.ts scheduledRestoreDrill). Kept in step
 * with the file by `dbkeep apply`, as the backup schedules are, with the same spec hash in its
 * search attributes.
 */
function desiredDrillSchedule(resolved: ResolvedBackupConfiguration, schedule: DrillSchedule, taskQueue: string) {
  const { configuration, repository } = resolved;
  const identity = configuration.spec.encryption?.age.identity;
  const webhooks = configuration.spec.notifications?.webhooks;
  const args: Parameters<typeof scheduledRestoreDrill> = [
    {
      repository,
      configuration: configuration.name,
      method: configuration.spec.method,
      ...(identity ? { identity } : {}),
      ...(webhooks ? { webhooks } : {}),
      ...scratchPlacementInput(configuration.spec),
    },
  ];
  const hash = createHash('sha256').update(JSON.stringify({ args, schedule, taskQueue })).digest('hex').slice(0, 32);
  const memo: AppliedSpec = { dbkeepSpecHash: hash, cron: schedule.cron, timezone: schedule.timezone };
  return {
    hash,
    options: {
      spec: { cronExpressions: [schedule.cron], timezone: schedule.timezone },
      action: {
        type: 'startWorkflow' as const,
        workflowType: 'scheduledRestoreDrill',
        args,
        taskQueue,
        // Temporal appends the slot's time: verify/<configuration>/scheduled-2026-11-22T02:00:00Z.
        workflowId: scheduledDrillWorkflowId(configuration.name),
        memo: { ...memo },
        staticSummary: `Scheduled restore drill of the newest snapshot of ${configuration.name}`,
        typedSearchAttributes: searchAttributePairs(
          identitySearchAttributes({ configuration: configuration.name, repository: repository.name }),
        ),
      },
      // A drill still running when the next slot comes is enough: the slot is skipped.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { paused: false },
      typedSearchAttributes: searchAttributePairs({ specHash: hash, cron: schedule.cron, timezone: schedule.timezone }),
    },
  };
}

/**
 * Creates, updates or deletes the drill schedule of each configuration so it matches the file.
 * `listed`: one ListSchedules pass (backup-schedules.ts listDbkeepSchedules), which serves the
 * backup schedules too: a drill schedule it shows with the desired hash is unchanged, and only
 * one it shows is deleted, so configurations without drills cost no call. (The listing may lag
 * a schedule created moments before: a second apply deletes that one.)
 */
export async function applyDrillSchedules(
  client: Client,
  configurations: readonly ResolvedBackupConfiguration[],
  taskQueue: string,
  listed: ReadonlyMap<string, ScheduleSummary>,
): Promise<ApplyOutcome[]> {
  return mapWithConcurrency(configurations, APPLY_CONCURRENCY, async (resolved): Promise<ApplyOutcome> => {
    const name = resolved.configuration.name;
    const scheduleId = drillScheduleIdFor(name);
    const schedule = resolved.configuration.spec.verification?.schedule;
    if (!schedule) return listed.has(scheduleId) && (await deleteDrillSchedule(client, name)) ? 'deleted' : 'absent';
    return createOrUpdateSchedule(client, scheduleId, desiredDrillSchedule(resolved, schedule, taskQueue), listed);
  });
}

export async function deleteDrillSchedule(client: Client, configuration: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(drillScheduleIdFor(configuration)).delete();
    return true;
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return false;
    throw error;
  }
}
