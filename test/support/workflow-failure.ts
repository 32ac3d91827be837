import { WorkflowFailedError } from '@temporalio/client';
import { expect } from 'vitest';
import { describeFailure } from '../../clients/failure-description';

/** Awaits a session's result that must fail, and returns what a user is told: type, message, retryability. */
export async function workflowFailureOf(promise: Promise<unknown>): Promise<ReturnType<typeof describeFailure>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  return describeFailure(error);
}
