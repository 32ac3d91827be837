import { closeSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { describeTables, type StagedSegment } from '../domain/dump-segments';
import type { Progress } from '../domain/progress';
import type { ToolCommand } from '../domain/tool-commands';
import { runStages } from './stages';
import { startTool, ToolFailedError } from './tool-process';

/** A segment staged as a file of SQL (restore-staging.ts). */
export interface StagedSegmentFile extends StagedSegment {
  file: string;
}

/**
 * Applies segments as they are staged, in dump order: a serial segment waits for every segment
 * before it and runs alone; table segments run up to `sessions` at once. `finished` rejects
 * with the first failure as soon as it happens (so the caller can stop the staging at once) and
 * resolves once close() was called and every segment is applied.
 */
export class SegmentScheduler<S extends StagedSegment> {
  private readonly running = new Set<Promise<void>>();
  private dispatching: Promise<void> = Promise.resolve();
  private settle!: { resolve: () => void; reject: (err: unknown) => void };
  private failed = false;
  readonly finished = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
  private readonly fail = (err: unknown): void => {
    this.failed = true;
    this.settle.reject(err);
  };

  constructor(
    private readonly sessions: number,
    private readonly apply: (segment: S) => Promise<void>,
  ) {
    // Whoever awaits it sees the failure; nobody awaiting is not an unhandled rejection.
    this.finished.catch(() => undefined);
  }

  /** Queues a complete segment; segments must be added in dump order. */
  add(segment: S): void {
    this.dispatching = this.dispatching.then(() => this.dispatch(segment));
    this.dispatching.catch(this.fail);
  }

  /** No more segments will come. */
  close(): void {
    this.dispatching.then(() => Promise.all(this.running)).then(() => this.settle.resolve(), this.fail);
  }

  private async dispatch(segment: S): Promise<void> {
    if (segment.kind === 'serial') {
      await Promise.all(this.running);
      return this.startUnlessFailed(segment);
    }
    while (this.running.size >= this.sessions) await Promise.race(this.running);
    const applying: Promise<void> = this.startUnlessFailed(segment).finally(() => this.running.delete(applying));
    applying.catch(this.fail);
    this.running.add(applying);
  }

  /** Nothing starts after a failure, also not what was waiting for a session when it happened. */
  private async startUnlessFailed(segment: S): Promise<void> {
    if (this.failed) throw new Error('not applied: an earlier segment failed');
    return this.apply(segment);
  }
}

/**
 * `client < segment file`: the file is the client's stdin, so no SQL passes through Node. The
 * file is removed once applied, which bounds the staging directory to what is not applied yet.
 */
export async function applySegmentFile(
  segment: StagedSegmentFile,
  params: { client: ToolCommand; controller: AbortController; progress: Progress },
): Promise<void> {
  const input = openSync(segment.file, 'r');
  let client;
  try {
    client = startTool(params.client, { signal: params.controller.signal, stdin: input, stdout: 'ignore' });
  } finally {
    closeSync(input);
  }
  try {
    await runStages(params.controller, [client.finished]);
  } catch (err) {
    if (!(err instanceof ToolFailedError)) throw err;
    const what =
      segment.kind === 'table'
        ? `tables ${describeTables(segment.tables)}`
        : 'statements outside tables (databases, routines, events, views)';
    throw new ToolFailedError(`applying ${what}: ${err.message}`, err.exitedOnItsOwn);
  }
  params.progress.bytesWritten += segment.rawBytes;
  await rm(segment.file, { force: true });
}
