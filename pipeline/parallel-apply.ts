import { closeSync, openSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { describeTables, type StagedSegment } from '../domain/dump-segments';
import { permanentFailure, PermanentFailureType, REPLACED_DATABASES_PUT_BACK } from '../domain/failures';
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
 * `client < part file` for each SQL part of a staged segment in turn: the file is the client's
 * stdin, so no SQL passes through Node. Consecutive load parts (a big table's rows) share one
 * client of their own (`loadClient`, which may read local files: no statement of the dump ever
 * reaches it): a client per part spent its start and connection between every two parts, while
 * the server waited (bench/README.md). Each load must load every row its file holds. A part's
 * files are removed once it is applied, which frees the scratch space as the apply goes on.
 */
export async function applySegmentFile(
  segment: StagedSegmentFile,
  params: { client: ToolCommand; loadClient: ToolCommand; controller: AbortController; progress: Progress },
): Promise<void> {
  try {
    for (const run of consecutiveRuns(segment.parts)) {
      if (run.kind === 'sql') await runClient(params.client, run.part.file, params.controller);
      else await loadRows(run.parts, params);
      const files = run.kind === 'sql' ? [run.part.file] : run.parts.flatMap((part) => [part.file, part.dataFile]);
      await Promise.all(files.map((file) => rm(file, { force: true })));
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

type LoadPart = Extract<SegmentPart, { kind: 'load' }>;
type PartRun = { kind: 'sql'; part: Extract<SegmentPart, { kind: 'sql' }> } | { kind: 'load'; parts: LoadPart[] };

/** A segment's parts in order, each SQL part on its own and consecutive load parts together. */
export function consecutiveRuns(parts: readonly SegmentPart[]): PartRun[] {
  const runs: PartRun[] = [];
  for (const part of parts) {
    const last = runs.at(-1);
    if (part.kind === 'sql') runs.push({ kind: 'sql', part });
    else if (last?.kind === 'load') last.parts.push(part);
    else runs.push({ kind: 'load', parts: [part] });
  }
  return runs;
}

/** Runs the client on a file. */
async function runClient(client: ToolCommand, file: string, controller: AbortController): Promise<void> {
  const input = openSync(file, 'r');
  let running;
  try {
    running = startTool(client, { signal: controller.signal, stdin: input, stdout: 'ignore' });
  } finally {
    closeSync(input);
  }
  await runStages(controller, [running.finished]);
}

/**
 * Written after each load part's statements: the line before it in the client's output is that
 * part's row count, whatever the dump's session settings at the start of each part might print.
 */
const END_OF_PART = 'dbkeep:end-of-part';

/**
 * One client for consecutive load parts, their statement files (a few hundred bytes each) written
 * to its stdin. With LOCAL the server skips a row it cannot insert (a duplicate key) with a
 * warning instead of failing, so the count it reports for each part is checked: a restore with
 * rows missing fails, as the INSERT would have, the same way on every attempt. (The client then
 * finishes the run's remaining parts first: a failure that only a damaged dump causes costs that
 * much time, and the replaced databases are put back either way.)
 */
async function loadRows(parts: readonly LoadPart[], params: { loadClient: ToolCommand; controller: AbortController }): Promise<void> {
  const marker = Buffer.from(`SELECT '${END_OF_PART}';\n`);
  const statements = Buffer.concat((await Promise.all(parts.map((part) => readFile(part.file)))).flatMap((text) => [text, marker]));
  const running = startTool(params.loadClient, { signal: params.controller.signal, stdin: 'pipe', stdout: 'pipe' });
  // A client that failed early stops reading: its exit status says why, not the write's EPIPE.
  running.child.stdin!.on('error', () => undefined);
  running.child.stdin!.end(statements);
  const counts: string[] = [];
  const counted = (async () => {
    let previous = '';
    for await (const line of createInterface({ input: running.child.stdout!, crlfDelay: Infinity })) {
      if (line === END_OF_PART) counts.push(previous);
      previous = line.trim();
    }
  })();
  await runStages(params.controller, [running.finished, counted]);
  parts.forEach((part, index) => {
    const loaded = Number(counts[index]);
    if (loaded === part.rows) return;
    throw permanentFailure(
      PermanentFailureType.RestoreStatementRejected,
      `table \`${part.table}\`: the target loaded ${Number.isInteger(loaded) ? loaded : 'an unknown number of'} of its ${part.rows} rows ` +
        `(LOAD DATA skips a row it cannot insert, such as a duplicate key, with a warning); ${REPLACED_DATABASES_PUT_BACK}`,
    );
  });
}
