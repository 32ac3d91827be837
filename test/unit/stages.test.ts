import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { runStages, withOwnController } from '../../pipeline/stages';
import { ToolFailedError } from '../../pipeline/tool-process';

const after = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));
const failAfter = (ms: number, err: unknown): Promise<never> => new Promise((_, reject) => setTimeout(() => reject(err), ms));

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

  it('reports the tool that failed over the one before it that then wrote into a broken pipe', async () => {
    const echo = new ToolFailedError('zstd exited with code 70: zstd: error 70 : Write error : cannot write block : Broken pipe', true);
    const cause = new ToolFailedError('dbkeep-stage exited with code 1: dbkeep-stage: /tmp/x/000002-rows.tsv: File exists', true);
    expect(await errorOf(runStages(new AbortController(), [failAfter(1, echo), failAfter(5, cause)]))).toBe(cause);
    // Node's pipes are socket pairs: the same echo then says the connection was reset.
    const reset = new ToolFailedError(
      'zstd exited with code 70: zstd: error 70 : Write error : cannot write block : Connection reset by peer',
      true,
    );
    expect(await errorOf(runStages(new AbortController(), [failAfter(1, reset), failAfter(5, cause)]))).toBe(cause);
    // Alone, the broken pipe is still what is reported.
    expect(await errorOf(runStages(new AbortController(), [failAfter(1, echo)]))).toBe(echo);
  });

  it('reports the first failure when no tool exited on its own', async () => {
    const killed = new ToolFailedError('zstd was killed by SIGKILL', false);
    const later = new Error('upload aborted');
    expect(await errorOf(runStages(new AbortController(), [failAfter(10, later), failAfter(1, killed)]))).toBe(killed);
  });

  it('reports a non-retryable failure over everything else', async () => {
    const exited = new ToolFailedError('mariadb-dump exited with code 2', true);
    const missing = ApplicationFailure.nonRetryable('zstd is not installed on the worker', 'ToolNotFound');
    const err = await errorOf(
      runStages(new AbortController(), [failAfter(1, exited), failAfter(3, new Error('EPIPE')), failAfter(10, missing)]),
    );
    expect(err).toBe(missing);
  });

  it("reports the upload's own error over the AbortError of its body and the tools killed after it", async () => {
    const controller = new AbortController();
    // The upload destroys the body when a part fails, so that AbortError rejects first; the
    // tools are then killed by the abort, and the upload's promise rejects last.
    const bodyTornDown = Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
    const upload = new Error('uploading s3://bucket/dbkeep/ledger/x/dump.sql.zst: connect ECONNREFUSED 127.0.0.1:9000');
    const killedTool = new Promise<never>((_, reject) =>
      controller.signal.addEventListener('abort', () =>
        setTimeout(() => reject(new ToolFailedError('zstd was killed by SIGKILL', false)), 2),
      ),
    );
    const err = await errorOf(runStages(controller, [killedTool, failAfter(1, bodyTornDown), failAfter(20, upload)]));
    expect(err).toBe(upload);
    expect(controller.signal.reason).toBe(bodyTornDown);
  });

  it("reports the upload's error over a tool that exited on the pipe its killed sibling broke", async () => {
    const controller = new AbortController();
    const bodyTornDown = Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
    const zstd = new ToolFailedError('zstd was killed by SIGPIPE', false);
    const dump = new ToolFailedError('mariadb-dump exited with code 5: mariadb-dump: Got errno 104 on write', true);
    const upload = new Error('uploading s3://bucket/dbkeep/ledger/x/dump.sql.zst: connect ECONNREFUSED 127.0.0.1:9000');
    const stages = [failAfter(1, bodyTornDown), failAfter(3, zstd), failAfter(5, dump), failAfter(20, upload)];
    expect(await errorOf(runStages(controller, stages))).toBe(upload);
  });

  it('keeps the order nonRetryable, tool exit, then the first failure that is no echo of the abort', async () => {
    const aborted = () => Object.assign(new Error('Upload aborted.'), { name: 'AbortError' });
    const s3 = new Error('uploading s3://bucket/key: SlowDownWrite: Resource requested is unwritable');
    const exited = new ToolFailedError('mariadb-dump exited with code 3: Lost connection', true);
    const missing = ApplicationFailure.nonRetryable('zstd is not installed on the worker', 'ToolNotFound');
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    expect(
      await errorOf(
        runStages(new AbortController(), [failAfter(1, epipe), failAfter(3, aborted()), failAfter(5, s3), failAfter(10, exited)]),
      ),
    ).toBe(exited);
    expect(await errorOf(runStages(new AbortController(), [failAfter(1, epipe), failAfter(3, aborted()), failAfter(5, s3)]))).toBe(epipe);
    expect(await errorOf(runStages(new AbortController(), [failAfter(1, aborted()), failAfter(5, missing), failAfter(10, s3)]))).toBe(
      missing,
    );
    const firstEcho = aborted();
    expect(await errorOf(runStages(new AbortController(), [failAfter(1, firstEcho), failAfter(5, aborted())]))).toBe(firstEcho);
  });

  it('reports the cancellation itself when every stage only echoes it, streams or tools alone', async () => {
    const controller = new AbortController();
    const killed = new Promise<never>((_, reject) =>
      controller.signal.addEventListener('abort', () => reject(new ToolFailedError('mariadb-dump was killed by SIGKILL', false))),
    );
    const pipelineAborted = new Promise<never>((_, reject) =>
      controller.signal.addEventListener('abort', () =>
        // A stream pipeline rejects a turn later than the abort that stopped it.
        setImmediate(() => reject(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }))),
      ),
    );
    const cancelled = new Error('activity cancelled');
    // Aborted once runStages watches every stage, as an activity's cancellation comes while it streams.
    const running = runStages(controller, [pipelineAborted, killed]);
    controller.abort(cancelled);
    expect(await errorOf(running)).toBe(cancelled);

    // A pipeline of tools only (dbkeep-fetch | zstd | mariadb): no stream rejects with an AbortError.
    const toolsOnly = new AbortController();
    const killedTool = (command: string) =>
      new Promise<never>((_, reject) =>
        toolsOnly.signal.addEventListener('abort', () => reject(new ToolFailedError(`${command} was killed by SIGKILL`, false))),
      );
    const runningTools = runStages(toolsOnly, [killedTool('zstd'), killedTool('mariadb')]);
    toolsOnly.abort(cancelled);
    expect(await errorOf(runningTools)).toBe(cancelled);
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
    const { zstdInputBytes } = await import('../../pipeline/stream-pipelines');
    expect(zstdInputBytes('Read : 1 MiB ==> 20%\r/*stdin*\\            : 20.29%   (5000000 B => 1014473 B, /*stdout*\\) \n')).toBe(5000000);
    expect(zstdInputBytes('/*stdin*\\            : 77.00%   (   300 B =>    231 B, /*stdout*\\) \n')).toBe(300);
    expect(() => zstdInputBytes('zstd: error')).toThrow('zstd did not report its byte counts');
  });
});

describe('withOwnController', () => {
  it("leaves the outer signal alone when the step's stages fail", async () => {
    const outer = new AbortController();
    const failure = new ToolFailedError('mariadb-dump exited with 2', true);
    const error = await errorOf(withOwnController(outer.signal, (own) => runStages(own, [failAfter(1, failure), after(50, 1)])));
    expect(error).toBe(failure);
    expect(outer.signal.aborted).toBe(false);
  });

  it("aborts the step's controller with the outer signal, also when it was aborted already", async () => {
    const outer = new AbortController();
    const seen = withOwnController(
      outer.signal,
      (own) => new Promise((resolve) => own.signal.addEventListener('abort', () => resolve(own.signal.reason))),
    );
    outer.abort('cancelled');
    await expect(seen).resolves.toBe('cancelled');
    await expect(withOwnController(outer.signal, async (own) => own.signal.aborted)).resolves.toBe(true);
  });
});
