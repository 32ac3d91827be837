import { ToolFailedError } from './tool-process';

interface StageFailure {
  error: unknown;
  /** Whether the stages had already been aborted (by an earlier failure or a cancellation). */
  afterAbort: boolean;
}

/**
 * Waits for every stage of a streaming pipeline (tool exits, stream pipelines, the upload).
 * The first failure aborts the rest, so no child outlives the activity and no upload commits.
 * The error reported is the cause, not its echo (see reportedCause).
 */
export async function runStages(controller: AbortController, stages: ReadonlyArray<Promise<unknown> | undefined>): Promise<void> {
  const failures: StageFailure[] = [];
  const watched = stages
    .filter((s): s is Promise<unknown> => s !== undefined)
    .map((stage) =>
      stage.catch((err: unknown) => {
        failures.push({ error: err, afterAbort: controller.signal.aborted });
        controller.abort(err);
        throw err;
      }),
    );
  await Promise.allSettled(watched);
  if (failures.length > 0) throw reportedCause(failures, controller.signal);
}

/**
 * Otherwise a permanent failure (e.g. a missing tool) explains the others best, then a tool that exited
 * on its own with an error (it says more than the EPIPE its stdin then saw or the SIGKILL its
 * siblings then got) and did not just fail to write into a pipe whose reader had gone (zstd's
 * `Broken pipe` or `Connection reset by peer` when the consumer behind it failed first), then the first failure that is no
 * echo of the abort.
 *
 * When an upload fails, it stops reading the body, which destroys it: that AbortError
 * comes first, before anything was aborted, and the upload's own S3 error last. Meanwhile the
 * tools are killed, or exit on the pipes that just broke (`mariadb-dump … Got errno 104 on
 * write`): all of them echo the upload's failure.
 */
function reportedCause(failures: readonly StageFailure[], signal: AbortSignal): unknown {
  const first = failures[0]!;
  // Aborted from outside (the activity's cancellation) before any stage failed: each failure
  // echoes that abort. A pipeline of tools alone has no stream to reject with an AbortError;
  // the cancellation is reported as itself, not as a tool killed by it.
  if (first.afterAbort) return signal.reason as unknown;
  const uploadStoppedReading = isAbortError(first.error);
  const isEcho = ({ error, afterAbort }: StageFailure) =>
    isAbortError(error) || (afterAbort && error instanceof ToolFailedError && (uploadStoppedReading || !error.exitedOnItsOwn));
  const errors = failures.map((f) => f.error);
  const permanent = errors.find((e) => (e as { nonRetryable?: boolean }).nonRetryable);
  const toolExits = uploadStoppedReading ? [] : errors.filter((e) => e instanceof ToolFailedError && e.exitedOnItsOwn);
  const toolExit = toolExits.find((e) => !brokePipe(e)) ?? toolExits[0];
  return permanent ?? toolExit ?? failures.find((f) => !isEcho(f))?.error ?? first.error;
}

/**
 * A tool's failure to write into a pipe whose reader had exited: EPIPE ("Broken pipe", errno 32),
 * or ECONNRESET ("Connection reset by peer", errno 104) when the pipe is a socket pair, as Node's
 * are.
 */
function brokePipe(err: unknown): boolean {
  return err instanceof Error && /Broken pipe|Connection reset by peer|errno (?:32|104) on write/.test(err.message);
}

function isAbortError(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'AbortError';
}

/**
 * Runs one streaming step with a controller of its own, aborted with `signal` (the activity's
 * cancellation): the step's failure (runStages aborts its controller) leaves `signal`, and what
 * was started with it, to the steps after it.
 */
export async function withOwnController<T>(signal: AbortSignal, step: (controller: AbortController) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const follow = () => controller.abort(signal.reason);
  if (signal.aborted) follow();
  signal.addEventListener('abort', follow, { once: true });
  try {
    return await step(controller);
  } finally {
    signal.removeEventListener('abort', follow);
  }
}
