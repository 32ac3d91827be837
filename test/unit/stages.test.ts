import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { runStages } from '../../activities/stages';
import { ToolFailedError } from '../../activities/tool-process';

const after = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));
const failAfter = (ms: number, err: unknown): Promise<never> =>
  new Promise((_, reject) => setTimeout(() => reject(err), ms));

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('runStages resolved');
    },
    (err: unknown) => err,
  );
}

describe('runStages', () => {
  it('resolves when every stage succeeds, ignoring absent stages, without aborting', async () => {
    const controller = new AbortController();
    await expect(runStages(controller, [after(5, 1), undefined, after(1, 'x'), Promise.resolve()])).resolves.toBeUndefined();
    expect(controller.signal.aborted).toBe(false);
  });

  it('resolves for no stages', async () => {
    await expect(runStages(new AbortController(), [])).resolves.toBeUndefined();
  });

  it('aborts the controller with the first failure as soon as it happens', async () => {
    const controller = new AbortController();
    const first = new Error('upload failed');
    let abortedAt: number | undefined;
    const started = Date.now();
    controller.signal.addEventListener('abort', () => (abortedAt = Date.now() - started));
    // The slow stage only ends when aborted, as a killed child would.
    const slow = new Promise<void>((_, reject) =>
      controller.signal.addEventListener('abort', () => setTimeout(() => reject(new Error('killed')), 5)),
    );
    const err = await errorOf(runStages(controller, [slow, failAfter(10, first), failAfter(50, new Error('second'))]));
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toBe(first);
    expect(abortedAt).toBeLessThan(45);
    expect(err).toBe(first);
  });

  it('waits for every stage to settle before it rejects', async () => {
    let lastSettled = false;
    const last = after(40, undefined).then(() => {
      lastSettled = true;
    });
    await errorOf(runStages(new AbortController(), [Promise.reject(new Error('now')), last]));
    expect(lastSettled).toBe(true);
  });

  it('reports a tool that exited on its own rather than an earlier echo of it', async () => {
    const controller = new AbortController();
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    const killed = new ToolFailedError('zstd was killed by SIGKILL', false);
    const exited = new ToolFailedError('mariadb-dump exited with code 2: Access denied', true);
    const err = await errorOf(runStages(controller, [failAfter(1, epipe), failAfter(5, killed), failAfter(15, exited)]));
    expect(err).toBe(exited);
    expect(controller.signal.reason).toBe(epipe);
  });

  it('reports the first failure when no tool exited on its own', async () => {
    const killed = new ToolFailedError('zstd was killed by SIGKILL', false);
    const later = new Error('upload aborted');
    expect(await errorOf(runStages(new AbortController(), [failAfter(10, later), failAfter(1, killed)]))).toBe(killed);
  });

  it('reports a non-retryable failure over everything else', async () => {
    const exited = new ToolFailedError('mariadb-dump exited with code 2', true);
    const missing = ApplicationFailure.nonRetryable('zstd is not installed on the worker', 'ToolNotFound');
    const err = await errorOf(runStages(new AbortController(), [failAfter(1, exited), failAfter(3, new Error('EPIPE')), failAfter(10, missing)]));
    expect(err).toBe(missing);
  });

  it('treats a retryable ApplicationFailure as an ordinary failure', async () => {
    const retryable = ApplicationFailure.retryable('throttled', 'SlowDown');
    const exited = new ToolFailedError('gzip exited with code 1', true);
    expect(await errorOf(runStages(new AbortController(), [failAfter(1, retryable), failAfter(5, exited)]))).toBe(exited);
    expect(await errorOf(runStages(new AbortController(), [failAfter(1, retryable), after(5, 0)]))).toBe(retryable);
  });
});

describe('zstdInputBytes', () => {
  it('reads the uncompressed size from zstd -vv output, carriage returns and all', async () => {
    const { zstdInputBytes } = await import('../../activities/stream-pipelines');
    expect(zstdInputBytes('Read : 1 MiB ==> 20%\r/*stdin*\\            : 20.29%   (5000000 B => 1014473 B, /*stdout*\\) \n')).toBe(5000000);
    expect(zstdInputBytes('/*stdin*\\            : 77.00%   (   300 B =>    231 B, /*stdout*\\) \n')).toBe(300);
    expect(() => zstdInputBytes('zstd: error')).toThrow('zstd did not report its byte counts');
  });
});
