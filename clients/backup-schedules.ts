import { createHash } from 'node:crypto';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import { parseDurationMs } from '../domain/duration';
import { configurationOfScheduleId } from '../domain/names';
import { scheduledBackupWorkflowId, scheduleIdFor } from '../domain/session-ids';
import type { ResolvedBackupConfiguration } from '../domain/resource-set';
import type { ScheduleSpec } from '../domain/resources';
import { searchAttributes } from '../domain/search-attributes';
import type { backupSession } from '../workflows';

/**
 * One Temporal Schedule per BackupConfiguration with a `schedule`, as Stash keeps one CronJob
 * per BackupConfiguration. The schedule's action carries the resolved resources (secret
 * references only), so `apply` is also how a changed target or repository reaches it.
 */
export type ApplyOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent';

export interface ScheduleListing {
  configuration: string;
  scheduleId: string;
  cron?: string;
  timezone?: string;
  paused: boolean;
  note?: string;
  nextRunAt?: string;
  lastRun?: { workflowId: string; startedAt: string; result: string };
}

const OVERLAP: Record<ScheduleSpec['overlapPolicy'], ScheduleOverlapPolicy> = {
  Skip: ScheduleOverlapPolicy.SKIP,
  BufferOne: ScheduleOverlapPolicy.BUFFER_ONE,
};

/** Memo on the started sessions (and so on the schedule's action): what `apply` compares and `schedules` shows. */
interface ScheduleMemo {
  dbkeepSpecHash: string;
  cron: string;
  timezone: string;
}

function desiredSchedule(resolved: ResolvedBackupConfiguration, schedule: ScheduleSpec, taskQueue: string) {
  const { configuration, target, repository } = resolved;
  const args = [{ configuration, target, repository }] as Parameters<typeof backupSession>;
  const hash = createHash('sha256')
    .update(JSON.stringify({ args, schedule, taskQueue }))
    .digest('hex')
    .slice(0, 32);
  const memo: ScheduleMemo = { dbkeepSpecHash: hash, cron: schedule.cron, timezone: schedule.timezone };
  const action: ScheduleOptionsStartWorkflowAction<typeof backupSession> = {
    type: 'startWorkflow',
    workflowType: 'backupSession',
    args,
    taskQueue,
    // Temporal appends the slot's time: backup/<configuration>/scheduled-2026-11-22T02:00:00Z.
    workflowId: scheduledBackupWorkflowId(configuration.name),
    memo: { ...memo },
    staticSummary: `Scheduled backup of ${target.name} (${configuration.name}) to repository ${repository.name}`,
    typedSearchAttributes: [
      { key: searchAttributes.configuration, value: configuration.name },
      { key: searchAttributes.target, value: target.name },
      { key: searchAttributes.repository, value: repository.name },
      { key: searchAttributes.sessionKind, value: 'backup' },
    ],
  };
  return {
    hash,
    options: {
      spec: { cronExpressions: [schedule.cron], timezone: schedule.timezone },
      action,
      policies: { overlap: OVERLAP[schedule.overlapPolicy], catchupWindow: parseDurationMs(schedule.catchupWindow)! },
      state: { paused: schedule.suspend, note: schedule.suspend ? 'suspended by spec.schedule.suspend' : undefined },
    },
  };
}

function memoOf(description: { action?: unknown }): Partial<ScheduleMemo> {
  const action = description.action as { memo?: Partial<ScheduleMemo> } | undefined;
  return action?.memo ?? {};
}

async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  }
}

/**
 * Creates, updates or deletes the configuration's schedule so it matches the file. Idempotent:
 * the same file twice changes nothing; a configuration without `schedule` loses its schedule.
 */
export async function applyBackupSchedule(client: Client, resolved: ResolvedBackupConfiguration, taskQueue: string): Promise<ApplyOutcome> {
  const scheduleId = scheduleIdFor(resolved.configuration.name);
  const existing = await describeSchedule(client, scheduleId);
  const schedule = resolved.configuration.spec.schedule;
  if (!schedule) {
    if (!existing) return 'absent';
    await client.schedule.getHandle(scheduleId).delete();
    return 'deleted';
  }
  const desired = desiredSchedule(resolved, schedule, taskQueue);
  if (!existing) {
    await client.schedule.create({ scheduleId, ...desired.options });
    return 'created';
  }
  if (memoOf(existing).dbkeepSpecHash === desired.hash) return 'unchanged';
  await client.schedule.getHandle(scheduleId).update(() => desired.options);
  return 'updated';
}

export async function deleteBackupSchedule(client: Client, configuration: string): Promise<boolean> {
  const handle = client.schedule.getHandle(scheduleIdFor(configuration));
  try {
    await handle.delete();
    return true;
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return false;
    throw error;
  }
}

/** A schedule a command needs; its absence is a clear error naming the configuration. */
export async function requireBackupSchedule(client: Client, configuration: string) {
  const handle = client.schedule.getHandle(scheduleIdFor(configuration));
  if (!(await describeSchedule(client, handle.scheduleId))) {
    throw new ScheduleMissingError(configuration);
  }
  return handle;
}

export class ScheduleMissingError extends Error {
  override readonly name = 'ScheduleMissingError';
  constructor(readonly configuration: string) {
    super(`BackupConfiguration "${configuration}" has no schedule; create it with \`dbkeep apply -f FILE\` (spec.schedule)`);
  }
}

/** Every dbkeep schedule with its cron, next run and last result; describes run a few at a time. */
export async function listBackupSchedules(client: Client): Promise<ScheduleListing[]> {
  const ids: string[] = [];
  for await (const summary of client.schedule.list()) {
    if (configurationOfScheduleId(summary.scheduleId)) ids.push(summary.scheduleId);
  }
  const listings = await mapWithConcurrency(ids.sort(), 16, async (scheduleId): Promise<ScheduleListing | undefined> => {
    const description = await describeSchedule(client, scheduleId);
    if (!description) return undefined;
    const memo = memoOf(description);
    const last = description.info.recentActions.at(-1);
    return {
      configuration: configurationOfScheduleId(scheduleId)!,
      scheduleId,
      cron: memo.cron,
      timezone: memo.timezone,
      paused: description.state.paused,
      note: description.state.note,
      nextRunAt: description.info.nextActionTimes[0]?.toISOString(),
      lastRun: last ? await lastRunOf(client, last.action.workflow.workflowId, last.takenAt) : undefined,
    };
  });
  return listings.filter((l): l is ScheduleListing => l !== undefined);
}

async function lastRunOf(client: Client, workflowId: string, takenAt: Date): Promise<ScheduleListing['lastRun']> {
  try {
    const description = await client.workflow.getHandle(workflowId).describe();
    const phase = description.typedSearchAttributes.get(searchAttributes.phase);
    return { workflowId, startedAt: takenAt.toISOString(), result: phase ?? description.status.name };
  } catch {
    return { workflowId, startedAt: takenAt.toISOString(), result: 'unknown' };
  }
}

async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, map: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await map(items[index]!);
    }
  });
  await Promise.all(lanes);
  return results;
}
