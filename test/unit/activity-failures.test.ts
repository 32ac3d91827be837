import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { permanentFailure, PermanentFailureType, transientFailure, TransientFailureType } from '../../domain/failures';
import { dbkeepWorkerInterceptors, toApplicationFailure } from '../../workers/activity-failures';

/** What an activity that throws `error` fails with on a dbkeep worker: its interceptors, as the worker runs them. */
async function failureOnWorker(error: unknown): Promise<unknown> {
  const environment = new MockActivityEnvironment(
    {},
    { logger: new DefaultLogger('ERROR'), interceptors: dbkeepWorkerInterceptors.activity },
  );
  return environment
    .run(async () => {
      throw error;
    })
    .catch((thrown: unknown) => thrown);
}

describe('the activity interceptor of every dbkeep worker', () => {
  it('turns a PermanentFailure into the non-retryable ApplicationFailure of the same type and message, without a cause', async () => {
    const thrown = permanentFailure(PermanentFailureType.RestoreTargetNotEmpty, 'Target "staging" holds databases: shop');
    const failure = await failureOnWorker(thrown);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: 'RestoreTargetNotEmpty',
      message: 'Target "staging" holds databases: shop',
      nonRetryable: true,
      cause: undefined,
    });
    expect((failure as Error).stack).toBe(thrown.stack);
  });

  it('turns a TransientFailure into a retryable ApplicationFailure of the same type', async () => {
    const failure = await failureOnWorker(transientFailure(TransientFailureType.NoSyncedClusterNode, 'no synced Galera node'));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'NoSyncedClusterNode', message: 'no synced Galera node', nonRetryable: false });
  });

  it('leaves every other error as it is', async () => {
    const other = new Error('write EPIPE');
    expect(await failureOnWorker(other)).toBe(other);
    const application = ApplicationFailure.nonRetryable('already converted', 'InvalidInput');
    expect(toApplicationFailure(application)).toBe(application);
    expect(toApplicationFailure('a string')).toBe('a string');
  });
});
