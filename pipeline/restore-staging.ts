import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Transform } from 'node:stream';
import type { StagedSegment } from '../domain/dump-segments';
import type { Progress } from '../domain/progress';
import type { ToolCommand } from '../domain/tool-commands';
import { nativeToolPath } from './native-tools';
import { streamFileToTool } from './stream-pipelines';

/**
 * Consecutive table segments share a file until it holds this much SQL: a schema of thousands
 * of small tables then needs tens of files and client sessions, not thousands, while tables
 * large enough to matter get a session of their own. A small dump gets small groups (an eighth
 * of a session's share), so that its tables still spread over the sessions.
 */
export function tableGroupBytes(dumpRawBytes: number, sessions: number): number {
  return Math.min(16 * 1024 * 1024, Math.max(256 * 1024, Math.floor(dumpRawBytes / (sessions * 8))));
}

/**
 * A table's INSERTs become a LOAD DATA only from this much SQL on: a load is one more client
 * session, which costs more than it saves on a small table. Until then its statements are held.
 */
export const LOAD_DATA_MIN_BYTES = 1024 * 1024;
/**
 * A segment's rows and statements are handed over in parts of about this size, each applied as
 * soon as it is written: a big table is applied while the rest of it is still being read.
 */
export const PART_BYTES = 32 * 1024 * 1024;

/** A part of a segment, applied in order in its session slot (pipeline/parallel-apply.ts). */
export type SegmentPart =
  | { kind: 'sql'; file: string }
  /** `file` holds the session's settings and the LOAD DATA LOCAL statement that reads `dataFile`, then asks how many rows it loaded. */
  | { kind: 'load'; file: string; dataFile: string; table: string; rows: number };

/**
 * A segment's parts as they are written: the staging pushes each one once its files are
 * complete, and closes the list at the segment's end (or fails it when the staging fails).
 */
export class StagedParts {
  private readonly parts: SegmentPart[] = [];
  private closed = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  push(part: SegmentPart): void {
    this.parts.push(part);
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  fail(error: unknown): void {
    this.failure ??= error;
    this.notify();
  }

  /** Every part, each as soon as it is complete; stops on the staging's failure or `signal`. */
  async *each(signal: AbortSignal): AsyncGenerator<SegmentPart> {
    for (let next = 0; ;) {
      if (next < this.parts.length) yield this.parts[next++]!;
      else if (this.failure !== undefined) throw this.failure;
      else if (this.closed) return;
      else if (signal.aborted) throw signal.reason;
      else await this.nextChange(signal);
    }
  }

  private nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      signal.addEventListener('abort', done);
    });
  }

  private notify(): void {
    this.wake?.();
  }
}

/** A segment being staged: handed over when it starts, its parts following as they are written. */
export interface StagedSegmentFile extends StagedSegment {
  parts: StagedParts;
}

/**
 * Reads dbkeep-stage's report (pipeline/native/dbkeep-stage.c): one line per event, each naming
 * files that are complete. Hands every segment to `onSegment` as it starts, then its tables and
 * parts; its size is known at its end, when its list of parts closes.
 */
class StagerReport {
  private current: StagedSegmentFile | undefined;

  constructor(
    private readonly dir: string,
    private readonly onSegment: (segment: StagedSegmentFile) => void,
  ) {}

  async read(stdout: Readable): Promise<void> {
    for await (const line of createInterface({ input: stdout, crlfDelay: Infinity })) this.event(line.split(' '));
    if (this.current) throw new Error('dbkeep-stage ended inside a segment');
  }

  /** The staging failed: the segment being written gets no more parts. */
  fail(error: unknown): void {
    this.current?.parts.fail(error);
    this.current = undefined;
  }

  private event([event, ...fields]: string[]): void {
    const segment = this.current;
    if (event === 'segment' && segment === undefined && (fields[0] === 'serial' || fields[0] === 'table')) {
      this.current = { kind: fields[0], rawBytes: 0, tables: fields[0] === 'table' ? [name(fields[1])] : [], parts: new StagedParts() };
      return this.onSegment(this.current);
    }
    if (segment === undefined) throw new Error(`dbkeep-stage reported ${JSON.stringify(event)} outside a segment`);
    if (event === 'table') segment.tables.push(name(fields[0]));
    else if (event === 'sql') segment.parts.push({ kind: 'sql', file: this.file(fields[0]) });
    else if (event === 'load') {
      const [file, dataFile, rows, table] = fields;
      segment.parts.push({ kind: 'load', file: this.file(file), dataFile: this.file(dataFile), table: name(table), rows: Number(rows) });
    } else if (event === 'end') {
      segment.rawBytes = Number(fields[0]);
      this.current = undefined;
      segment.parts.close();
    } else throw new Error(`dbkeep-stage reported ${JSON.stringify(event)}`);
  }

  private file(name: string | undefined): string {
    if (name === undefined || !/^\d{6}-[a-z]+\.[a-z]+$/.test(name))
      throw new Error(`dbkeep-stage reported the file ${JSON.stringify(name)}`);
    return path.join(this.dir, name);
  }
}

/** A table's name as dbkeep-stage reports it: its bytes in hexadecimal. */
const name = (hex: string | undefined): string => Buffer.from(hex ?? '', 'hex').toString('utf8');

/**
 * The verified copy of a snapshot's object (`file`) → filters (decryptor, decompressor) →
 * in-process transforms → dbkeep-stage, which writes the segment files in `dir`
 * (pipeline/native/dbkeep-stage.c says how it cuts and converts the dump); each segment is handed
 * to `onSegment` as it starts, its parts as soon as they are complete. Without transforms the
 * dump goes from zstd to dbkeep-stage and never passes through Node. Returns the dump's size.
 */
export async function stageDumpSegments(params: {
  file: string;
  filters: readonly ToolCommand[];
  transforms?: readonly Transform[];
  dir: string;
  /** tableGroupBytes(…) */
  groupBytes: number;
  onSegment: (segment: StagedSegmentFile) => void;
  /** Big tables' INSERTs become LOAD DATA (only for a target that takes it: see serverTakesLoadData). */
  loadData: boolean;
  controller: AbortController;
  progress: Progress;
}): Promise<{ rawBytes: number }> {
  const dir = path.resolve(params.dir);
  const report = new StagerReport(dir, params.onSegment);
  const stager: ToolCommand = {
    command: nativeToolPath('dbkeep-stage'),
    args: [dir, String(params.groupBytes), String(PART_BYTES), ...(params.loadData ? [String(LOAD_DATA_MIN_BYTES)] : [])],
  };
  try {
    return await streamFileToTool({ ...params, consumer: stager, readConsumerOutput: (stdout) => report.read(stdout) });
  } catch (err) {
    report.fail(err);
    throw err;
  }
}
