import { ApplicationFailure, TemporalFailure } from '@temporalio/common';

export interface FailureDescription {
  /** The stable failure type (PermanentFailureType) when there is one. */
  type?: string;
  message: string;
  nonRetryable: boolean;
}

/** Walks a WorkflowFailedError's causes to the ApplicationFailure an activity threw. */
export function describeFailure(err: unknown): FailureDescription {
  let deepest: unknown = err;
  let current: unknown = err;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure) deepest = current;
    current = current.cause;
  }
  if (deepest instanceof ApplicationFailure) {
    return { type: deepest.type ?? undefined, message: deepest.message, nonRetryable: deepest.nonRetryable ?? false };
  }
  if (err instanceof TemporalFailure && err.cause instanceof Error) return { message: err.cause.message, nonRetryable: false };
  return { message: err instanceof Error ? err.message : String(err), nonRetryable: false };
}
