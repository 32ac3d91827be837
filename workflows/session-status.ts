import { defineQuery, isCancellation, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { identitySearchAttributes, phaseSearchAttributes } from '../domain/search-attributes';
import { searchAttributePairs } from './search-attributes';

/** Phases a session goes through, as Stash's BackupSession phases; Skipped when another session of the configuration was running. */
export type SessionPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Skipped';
export type SessionKind = 'backup' | 'restore' | 'prune';

export interface SessionStep {
  name: string;
  startedAt: string;
  endedAt?: string;
  failed?: boolean;
}

export interface SessionStatus {
  kind: SessionKind;
  configuration: string;
  phase: SessionPhase;
  steps: SessionStep[];
  snapshotId?: string;
  storedBytes?: number;
  rawBytes?: number;
  error?: string;
  /** Something that went wrong without failing the session (a retention error after the commit). */
  warning?: string;
  /** The session that was running when this one was skipped. */
  skippedFor?: string;
}

/** Live status of a session: `temporal workflow query --type status` or `dbkeep status`. */
export const statusQuery = defineQuery<SessionStatus>('status');

export interface SessionIdentity {
  kind: SessionKind;
  configuration: string;
  repository: string;
  target?: string;
}

/**
 * Registers the status query and (re)states the session's search attributes, so sessions
 * started from the `temporal` CLI without them are filterable like the others.
 */
export function beginSession(identity: SessionIdentity): SessionStatus {
  const status: SessionStatus = { kind: identity.kind, configuration: identity.configuration, phase: 'Pending', steps: [] };
  setHandler(statusQuery, () => status);
  upsertSearchAttributes(searchAttributePairs({ ...identitySearchAttributes(identity), phase: 'Pending' }));
  return status;
}

/** Moves the session to a phase, with its size and snapshot in the search attributes once known. */
export function setPhase(status: SessionStatus, phase: SessionPhase): void {
  status.phase = phase;
  upsertSearchAttributes(searchAttributePairs(phaseSearchAttributes(status)));
}

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
  // An activity confirms its cancellation with a CancelledFailure without message.
  if (isCancellation(err)) return 'the session was cancelled';
  let current: unknown = err;
  // The activity's own ApplicationFailure (deepest cause) holds the message a user can act on.
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
