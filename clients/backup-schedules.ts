import { createHash } from 'node:crypto';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleExecutionResult,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleUpdateOptions,
  type ScheduleSummary,
} from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import { parseDurationMs } from '../domain/duration';
import { configurationOfScheduleId } from '../domain/names';
import { SCHEDULE_ID_PREFIX, scheduledBackupWorkflowId, scheduleIdFor } from '../domain/session-ids';
import type { ResolvedBackupConfiguration } from '../domain/resource-set';
import { parseBackupSessionInput } from '../domain/session-inputs';
import type { ScheduleSpec } from '../domain/resources';
import { identitySearchAttributes } from '../domain/search-attributes';
import { searchAttributePairs, searchAttributes } from '../workflows/search-attributes';
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
  /** Why the row lacks its cron and time zone: the describe it needed failed (the other rows are unaffected). */
  problem?: string;
}

const OVERLAP: Record<ScheduleSpec['overlapPolicy'], ScheduleOverlapPolicy> = {
  Skip: ScheduleOverlapPolicy.SKIP,
  BufferOne: ScheduleOverlapPolicy.BUFFER_ONE,
};

/**
 * What `apply` compares and `schedules` shows. The schedule's own search attributes hold it
 * (ListSchedules returns them); the memo of its action (and so of the sessions it starts) holds
 * it too, and is all a schedule created by an older dbkeep has.
 */
export interface AppliedSpec {
  dbkeepSpecHash: string;
  cron: string;
  timezone: string;
}

/** What a listing row is made of: the same fields in a ScheduleSummary and a ScheduleDescription. */
interface ScheduleState {
  state: { paused: boolean; note?: string };
  info: { nextActionTimes: Date[]; recentActions: ScheduleExecutionResult[] };
}

export const APPLY_CONCURRENCY = 8;
/** The frontend's largest visibility page (frontend.visibilityMaxPageSize defaults to 1000). */
const SCHEDULES_PER_PAGE = 1000;
const DESCRIBE_CONCURRENCY = 16;
/** Workflow ids per visibility query when reading the last runs' results. */
const RUNS_PER_QUERY = 100;

function desiredSchedule(resolved: ResolvedBackupConfiguration, schedule: ScheduleSpec, taskQueue: string) {
  // Checked, but sent and hashed as given: a re-parsed Target orders its keys differently (its
  // default user moves), which would change the hash of every schedule applied before.
  parseBackupSessionInput(resolved);
  const { configuration, target, repository } = resolved;
  const args: Parameters<typeof backupSession> = [{ configuration, target, repository }];
  const hash = createHash('sha256').update(JSON.stringify({ args, schedule, taskQueue })).digest('hex').slice(0, 32);
  const memo: AppliedSpec = { dbkeepSpecHash: hash, cron: schedule.cron, timezone: schedule.timezone };
  const action: ScheduleOptionsStartWorkflowAction<typeof backupSession> = {
    type: 'startWorkflow',
    workflowType: 'backupSession',
    args,
    taskQueue,
    // Temporal appends the slot's time: backup/<configuration>/scheduled-2026-11-22T02:00:00Z.
    workflowId: scheduledBackupWorkflowId(configuration.name),
    memo: { ...memo },
    staticSummary: `Scheduled backup of ${target.name} (${configuration.name}) to repository ${repository.name}`,
    typedSearchAttributes: searchAttributePairs(
      identitySearchAttributes({ kind: 'backup', configuration: configuration.name, repository: repository.name, target: target.name }),
    ),
  };
  return {
    hash,
    options: {
      spec: { cronExpressions: [schedule.cron], timezone: schedule.timezone },
      action,
      policies: { overlap: OVERLAP[schedule.overlapPolicy], catchupWindow: parseDurationMs(schedule.catchupWindow)! },
      state: { paused: schedule.suspend, note: schedule.suspend ? 'suspended by spec.schedule.suspend' : undefined },
      typedSearchAttributes: searchAttributePairs({ specHash: hash, cron: schedule.cron, timezone: schedule.timezone }),
    },
  };
}

function actionMemoOf(description: { action?: unknown }): Partial<AppliedSpec> {
  const action = description.action as { memo?: Partial<AppliedSpec> } | undefined;
  return action?.memo ?? {};
}

/** The applied spec from a schedule's search attributes; undefined for a schedule of an older dbkeep (or another tool). */
export function appliedSpecOf(schedule: { typedSearchAttributes?: Pick<TypedSearchAttributes, 'get'> }): AppliedSpec | undefined {
  const attributes = schedule.typedSearchAttributes;
  const dbkeepSpecHash = attributes?.get(searchAttributes.specHash);
  const cron = attributes?.get(searchAttributes.cron);
  const timezone = attributes?.get(searchAttributes.timezone);
  if (dbkeepSpecHash === undefined || cron === undefined || timezone === undefined) return undefined;
  return { dbkeepSpecHash, cron, timezone };
}

async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  }
}

/** One ListSchedules pass over the namespace (a page per thousand schedules): dbkeep's schedules (backups and drills) by id. */
export async function listDbkeepSchedules(client: Client): Promise<Map<string, ScheduleSummary>> {
  const schedules = new Map<string, ScheduleSummary>();
  for await (const summary of client.schedule.list({ pageSize: SCHEDULES_PER_PAGE })) {
    if (summary.scheduleId.startsWith(SCHEDULE_ID_PREFIX)) schedules.set(summary.scheduleId, summary);
  }
  return schedules;
}

/**
 * Creates, updates or deletes each configuration's schedule so it matches the file, in the
 * given order. Idempotent: the same file twice changes nothing; a configuration without
 * `schedule` loses its schedule. One ListSchedules pass decides `unchanged` for every schedule
 * whose search attributes hold the desired hash; only the others are described, because the
 * listing (the visibility store) may lag behind a creation or change. A changed schedule is
 * updated in place, so it keeps its identity and history (recent actions, creation time).
 */
export async function applyBackupSchedules(
  client: Client,
  configurations: readonly ResolvedBackupConfiguration[],
  taskQueue: string,
  listed?: ReadonlyMap<string, ScheduleSummary>,
): Promise<ApplyOutcome[]> {
  const schedules = listed ?? (await listDbkeepSchedules(client));
  return mapWithConcurrency(configurations, APPLY_CONCURRENCY, (resolved) => applyBackupSchedule(client, resolved, taskQueue, schedules));
}

async function applyBackupSchedule(
  client: Client,
  resolved: ResolvedBackupConfiguration,
  taskQueue: string,
  listed: ReadonlyMap<string, ScheduleSummary>,
): Promise<ApplyOutcome> {
  const name = resolved.configuration.name;
  const schedule = resolved.configuration.spec.schedule;
  if (!schedule) return (await deleteBackupSchedule(client, name)) ? 'deleted' : 'absent';
  return createOrUpdateSchedule(client, scheduleIdFor(name), desiredSchedule(resolved, schedule, taskQueue), listed);
}

/**
 * Makes the schedule `scheduleId` what `desired` says: unchanged when the listing (or, as the
 * listing may lag, a describe) shows its hash, else created or updated in place.
 */
export async function createOrUpdateSchedule(
  client: Client,
  scheduleId: string,
  desired: { hash: string; options: Omit<ScheduleOptions, 'scheduleId'> & ScheduleUpdateOptions },
  listed: ReadonlyMap<string, ScheduleSummary>,
): Promise<Exclude<ApplyOutcome, 'deleted' | 'absent'>> {
  const summary = listed.get(scheduleId);
  if (summary && appliedSpecOf(summary)?.dbkeepSpecHash === desired.hash) return 'unchanged';
  const existing = await describeSchedule(client, scheduleId);
  if (!existing) {
    await client.schedule.create({ scheduleId, ...desired.options });
    return 'created';
  }
  // The action's memo is updated with the schedule, and is all an older dbkeep's schedule has.
  if (actionMemoOf(existing).dbkeepSpecHash === desired.hash) return 'unchanged';
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
  const description = await describeSchedule(client, handle.scheduleId);
  if (!description) throw new ScheduleMissingError(configuration);
  return { handle, description };
}

/**
 * Starts the schedule's action now under the schedule's own overlap policy. The SDK's trigger()
 * without an argument sends ALLOW_ALL, which would start a second session beside a running one.
 */
export async function triggerBackupSchedule(client: Client, configuration: string): Promise<void> {
  const { handle, description } = await requireBackupSchedule(client, configuration);
  await handle.trigger(description.policies.overlap);
}

export class ScheduleMissingError extends Error {
  override readonly name = 'ScheduleMissingError';
  constructor(readonly configuration: string) {
    super(`BackupConfiguration "${configuration}" has no schedule; create it with \`dbkeep apply -f FILE\` (spec.schedule)`);
  }
}

/** A listing row from what the listing (or a describe) returned; the last run's result is filled in later. */
export function scheduleListingOf(
  scheduleId: string,
  schedule: ScheduleState,
  applied: Partial<AppliedSpec>,
  problem?: string,
): ScheduleListing {
  const last = schedule.info.recentActions.at(-1);
  return {
    configuration: configurationOfScheduleId(scheduleId)!,
    scheduleId,
    cron: applied.cron,
    timezone: applied.timezone,
    paused: schedule.state.paused,
    note: schedule.state.note,
    nextRunAt: schedule.info.nextActionTimes[0]?.toISOString(),
    lastRun: last && { workflowId: last.action.workflow.workflowId, startedAt: last.takenAt.toISOString(), result: 'unknown' },
    ...(problem === undefined ? {} : { problem }),
  };
}

/**
 * Every dbkeep schedule with its cron, next run and last result: one ListSchedules pass, one
 * visibility query per hundred last runs, and a describe only for what those lack (schedules of
 * an older dbkeep, runs not indexed yet). A describe that fails marks its row, not the listing.
 */
export async function listBackupSchedules(client: Client): Promise<ScheduleListing[]> {
  const summaries = [...(await listDbkeepSchedules(client)).values()]
    .filter((summary) => configurationOfScheduleId(summary.scheduleId) !== undefined)
    .sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  const rows = await mapWithConcurrency(summaries, DESCRIBE_CONCURRENCY, async (summary): Promise<ScheduleListing | undefined> => {
    const applied = appliedSpecOf(summary);
    if (applied) return scheduleListingOf(summary.scheduleId, summary, applied);
    try {
      const description = await describeSchedule(client, summary.scheduleId);
      return description && scheduleListingOf(summary.scheduleId, description, actionMemoOf(description));
    } catch (error) {
      const reason = `describing schedule ${summary.scheduleId} failed: ${error instanceof Error ? error.message : String(error)}`;
      return scheduleListingOf(summary.scheduleId, summary, {}, reason);
    }
  });
  const listings = rows.filter((l): l is ScheduleListing => l !== undefined);
  const results = await sessionResultsOf(
    client,
    listings.flatMap((l) => (l.lastRun ? [l.lastRun.workflowId] : [])),
  );
  for (const { lastRun } of listings) if (lastRun) lastRun.result = results.get(lastRun.workflowId) ?? 'unknown';
  return listings;
}

/** Each session's phase (or Temporal status if it has none) from visibility; describes the ones it has not indexed yet. */
async function sessionResultsOf(client: Client, workflowIds: readonly string[]): Promise<Map<string, string>> {
  const results = new Map<string, string>();
  const ids = [...new Set(workflowIds)];
  const batches = Array.from({ length: Math.ceil(ids.length / RUNS_PER_QUERY) }, (_, i) =>
    ids.slice(i * RUNS_PER_QUERY, (i + 1) * RUNS_PER_QUERY),
  );
  await mapWithConcurrency(batches, 4, async (batch) => {
    // The ids are schedule-generated (backup/<DNS label>/scheduled-<time>): no quote to escape.
    const query = `WorkflowId IN (${batch.map((id) => `'${id}'`).join(', ')})`;
    // A reset or continued-as-new session has several runs under one id: the newest tells.
    const newest = new Map<string, number>();
    try {
      for await (const execution of client.workflow.list({ query })) {
        if ((newest.get(execution.workflowId) ?? 0) > execution.startTime.getTime()) continue;
        newest.set(execution.workflowId, execution.startTime.getTime());
        results.set(execution.workflowId, execution.typedSearchAttributes.get(searchAttributes.phase) ?? execution.status.name);
      }
    } catch {
      // Left to the describes below.
    }
  });
  const missing = ids.filter((id) => !results.has(id));
  await mapWithConcurrency(missing, DESCRIBE_CONCURRENCY, async (workflowId) => {
    results.set(workflowId, await describedSessionResult(client, workflowId));
  });
  return results;
}

async function describedSessionResult(client: Client, workflowId: string): Promise<string> {
  try {
    const description = await client.workflow.getHandle(workflowId).describe();
    return description.typedSearchAttributes.get(searchAttributes.phase) ?? description.status.name;
  } catch {
    return 'unknown';
  }
}

/** Maps a few at a time, in order; after a failure no new item starts, and the first error is thrown once all lanes stop. */
export async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, map: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failed) {
      const index = next++;
      try {
        results[index] = await map(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  const rejected = (await Promise.allSettled(lanes)).find((lane): lane is PromiseRejectedResult => lane.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}
