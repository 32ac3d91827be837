import { defineQuery } from '@temporalio/workflow';

/** Phases a session goes through; the next issue adds Skipped for overlapping schedule slots. */
export type SessionPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export interface SessionStep {
  name: string;
  startedAt: string;
  endedAt?: string;
  failed?: boolean;
}

export interface SessionStatus {
  kind: 'backup' | 'restore';
  phase: SessionPhase;
  steps: SessionStep[];
  snapshotId?: string;
  storedBytes?: number;
  rawBytes?: number;
  error?: string;
}

/** Live status of a backup or restore session: `temporal workflow query --type status` or `dbkeep status`. */
export const statusQuery = defineQuery<SessionStatus>('status');

/** Records a step's start and end on the status while it runs. Workflow time is deterministic. */
export async function runStep<T>(status: SessionStatus, name: string, run: () => Promise<T>): Promise<T> {
  const step: SessionStep = { name, startedAt: new Date().toISOString() };
  status.steps.push(step);
  try {
    return await run();
  } catch (err) {
    step.failed = true;
    throw err;
  } finally {
    step.endedAt = new Date().toISOString();
  }
}

export function failureMessage(err: unknown): string {
  let current: unknown = err;
  // The activity's own ApplicationFailure (deepest cause) holds the message a user can act on.
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
