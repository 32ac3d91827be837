import { ToolFailedError } from './tool-process';

/**
 * Waits for every stage of a streaming pipeline (tool exits, stream pipelines, the upload).
 * The first failure aborts the rest, so no child outlives the activity and no upload commits.
 * The error reported is the cause, not its echo: a tool that exited on its own with an error
 * says more than the EPIPE its stdin then saw or the SIGKILL its siblings then got.
 */
export async function runStages(controller: AbortController, stages: ReadonlyArray<Promise<unknown> | undefined>): Promise<void> {
  let first: unknown;
  const watched = stages
    .filter((s): s is Promise<unknown> => s !== undefined)
    .map((stage) =>
      stage.catch((err: unknown) => {
        first ??= err;
        controller.abort(err);
        throw err;
      }),
    );
  const results = await Promise.allSettled(watched);
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length === 0) return;
  const toolExit = errors.find((e) => e instanceof ToolFailedError && e.exitedOnItsOwn);
  // A permanent failure (e.g. a missing tool) or a tool's own exit explains the failure best.
  throw errors.find((e) => (e as { nonRetryable?: boolean }).nonRetryable) ?? toolExit ?? first;
}
