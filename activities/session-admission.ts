import { Context } from '@temporalio/activity';
import { runningBackupSessionsQuery } from '../domain/search-attributes';

export interface FindEarlierSessionInput {
  configuration: string;
  workflowId: string;
  /** ISO start time of the asking session. */
  startedAt: string;
}

/** The running backup session of the configuration that started first, if it is not the asking one. */
export interface FindEarlierSessionResult {
  earlier?: { workflowId: string; startedAt: string };
}

/**
 * Finds another running backup session of the same configuration that started before this one.
 * Schedules already skip overlapping slots; this also covers a one-off `dbkeep backup`, a
 * `temporal workflow start` and a session started while a one-off runs, so two sessions of one
 * configuration never dump at once. Ties (same start time) go to the smaller workflow id, so
 * exactly one of two simultaneous sessions proceeds.
 */
export async function findEarlierBackupSession(input: FindEarlierSessionInput): Promise<FindEarlierSessionResult> {
  const { client } = Context.current();
  const query = runningBackupSessionsQuery(input.configuration);
  let earliest: { workflowId: string; startedAt: string } | undefined;
  for await (const execution of client.workflow.list({ query })) {
    if (execution.workflowId === input.workflowId) continue;
    const startedAt = execution.startTime.toISOString();
    const before = startedAt < input.startedAt || (startedAt === input.startedAt && execution.workflowId < input.workflowId);
    if (before && (!earliest || startedAt < earliest.startedAt)) earliest = { workflowId: execution.workflowId, startedAt };
  }
  return { earlier: earliest };
}
