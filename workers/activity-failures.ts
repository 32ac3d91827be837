import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory, WorkerInterceptors } from '@temporalio/worker';
import { PermanentFailure, TransientFailure } from '../domain/failures';

/**
 * The ApplicationFailure Temporal records for a failure of domain/failures.ts: the same type and
 * message, non-retryable for a PermanentFailure. Anything else is left as it is. No cause: clients
 * and session statuses report the deepest ApplicationFailure, which must stay this one.
 */
export function toApplicationFailure(error: unknown): unknown {
  if (!(error instanceof PermanentFailure || error instanceof TransientFailure)) return error;
  const failure = ApplicationFailure.create({ message: error.message, type: error.type, nonRetryable: error.nonRetryable });
  failure.stack = error.stack;
  return failure;
}

/**
 * Every layer below workers/ throws plain errors, so that none of them needs the Temporal SDK;
 * this is the one place where an activity's failure takes Temporal's shape.
 */
const typedActivityFailures: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (error) {
        throw toApplicationFailure(error);
      }
    },
  },
});

/** The interceptors of every dbkeep worker: the main worker and the replica workers. */
export const dbkeepWorkerInterceptors: WorkerInterceptors = { activity: [typedActivityFailures] };
