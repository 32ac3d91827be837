import { planApplySteps, describeTables } from '../domain/dump-segments';
import { decompressCommand, type ToolCommand } from '../domain/tool-commands';
import type { Progress } from './heartbeat';
import type { StagedSegmentFile } from './restore-staging';
import { runStages } from './stages';
import { startTool, ToolFailedError } from './tool-process';

/**
 * Applies staged segments (restore-staging.ts) to the target: serial segments alone and in
 * dump order, each run of table segments by up to `sessions` clients at once, largest first.
 * Every segment is `zstd -d FILE | client` with the pipe handed from one child to the other, so
 * no SQL passes through Node. The first failure stops every client (they share `controller`).
 */
export async function applyStagedSegments(params: {
  segments: readonly StagedSegmentFile[];
  client: ToolCommand;
  sessions: number;
  controller: AbortController;
  progress: Progress;
}): Promise<void> {
  for (const step of planApplySteps(params.segments)) {
    if (!step.parallel) {
      await applySegment(step.segment, params);
      continue;
    }
    const queue = [...step.segments];
    const lane = async (): Promise<void> => {
      for (let segment = queue.shift(); segment !== undefined; segment = queue.shift()) await applySegment(segment, params);
    };
    // runStages reports the segment that failed on its own, not the sessions it then stopped.
    await runStages(
      params.controller,
      Array.from({ length: Math.min(params.sessions, step.segments.length) }, () => lane()),
    );
  }
}

async function applySegment(
  segment: StagedSegmentFile,
  params: { client: ToolCommand; controller: AbortController; progress: Progress },
): Promise<void> {
  const { signal } = params.controller;
  const zstd = decompressCommand('zstd')!;
  const reader = startTool({ command: zstd.command, args: [...zstd.args, '--', segment.file] }, { signal, stdin: 'ignore', stdout: 'pipe' });
  const client = startTool(params.client, { signal, stdin: reader.child.stdout!, stdout: 'ignore' });
  // The client holds its own copy of the pipe; ours must close, or zstd's 'close' never comes.
  reader.child.stdout!.destroy();
  try {
    await runStages(params.controller, [reader.finished, client.finished]);
  } catch (err) {
    if (!(err instanceof ToolFailedError)) throw err;
    const what = segment.kind === 'table' ? `tables ${describeTables(segment.tables)}` : 'statements outside tables (database, routines, views)';
    throw new ToolFailedError(`applying ${what}: ${err.message}`, err.exitedOnItsOwn);
  }
  params.progress.bytesWritten += segment.rawBytes;
}
