import { closeSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { describeTables, type StagedSegment } from '../domain/dump-segments';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Progress } from '../domain/progress';
import type { ToolCommand } from '../domain/tool-commands';
import { runStages } from './stages';
import type { SegmentPart, StagedSegmentFile } from './restore-staging';
import { startTool, ToolFailedError } from './tool-process';

/**
 * Applies segments in dump order, as they are added: a serial segment waits for every segment
 * before it and runs alone; table segments run up to `sessions` at once. `finished` rejects
 * with the first failure as soon as it happens (so the caller can stop the rest at once) and
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
 * `client < part file` for each part of a staged segment in turn: the file is the client's
 * stdin, so no SQL passes through Node. A load part runs in a client of its own (`loadClient`,
 * which may read local files: no statement of the dump ever reaches it) and must load every row
 * its file holds. Each file is removed once applied, which frees the scratch space as the apply
 * goes on.
 */
export async function applySegmentFile(
  segment: StagedSegmentFile,
  params: { client: ToolCommand; loadClient: ToolCommand; controller: AbortController; progress: Progress },
): Promise<void> {
  try {
    for (const part of segment.parts) {
      if (part.kind === 'sql') await runClient(params.client, part.file, params.controller);
      else await loadRows(part, params);
      await Promise.all([part.file, ...(part.kind === 'load' ? [part.dataFile] : [])].map((file) => rm(file, { force: true })));
    }
  } catch (err) {
    if (!(err instanceof ToolFailedError)) throw err;
    const what =
      segment.kind === 'table'
        ? `tables ${describeTables(segment.tables)}`
        : 'statements outside tables (databases, routines, events, views)';
    throw new ToolFailedError(`applying ${what}: ${err.message}`, err.exitedOnItsOwn);
  }
  params.progress.bytesWritten += segment.rawBytes;
}

/** Runs the client on a file; resolves with what it printed. */
async function runClient(client: ToolCommand, file: string, controller: AbortController): Promise<string> {
  const input = openSync(file, 'r');
  let running;
  try {
    running = startTool(client, { signal: controller.signal, stdin: input, stdout: 'pipe' });
  } finally {
    closeSync(input);
  }
  let printed = '';
  running.child.stdout!.setEncoding('utf8');
  running.child.stdout!.on('data', (text: string) => (printed = (printed + text).slice(-4096)));
  await runStages(controller, [running.finished]);
  return printed;
}

/**
 * With LOCAL the server skips a row it cannot insert (a duplicate key) with a warning instead of
 * failing, so the count it reports is checked: a restore with rows missing fails, as the INSERT
 * would have, the same way on every attempt.
 */
async function loadRows(part: Extract<SegmentPart, { kind: 'load' }>, params: { loadClient: ToolCommand; controller: AbortController }) {
  const printed = await runClient(params.loadClient, part.file, params.controller);
  const loaded = Number(printed.trim().split('\n').at(-1));
  if (loaded === part.rows) return;
  throw permanentFailure(
    PermanentFailureType.RestoreStatementRejected,
    `table \`${part.table}\`: the target loaded ${Number.isInteger(loaded) ? loaded : 'an unknown number of'} of its ${part.rows} rows ` +
      '(LOAD DATA skips a row it cannot insert, such as a duplicate key, with a warning); the databases it replaces are put back as they were',
  );
}
