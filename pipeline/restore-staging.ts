import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Transform } from 'node:stream';
import type { StagedSegment } from '../domain/dump-segments';
import type { Progress } from '../domain/progress';
import type { ToolCommand } from '../domain/tool-commands';
import type { Storage } from '../storage/storage';
import { nativeToolPath } from './native-tools';
import { streamRepositoryToTool, type StreamedObject } from './stream-pipelines';

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
 * A segment's rows and statements are cut in parts of about this size: a big table loads by one
 * LOAD DATA per part, in transactions of a bounded size, not in one whose undo log grows with the
 * table.
 */
export const PART_BYTES = 32 * 1024 * 1024;

/** A part of a segment, applied in order in its session slot (pipeline/parallel-apply.ts). */
export type SegmentPart =
  | { kind: 'sql'; file: string }
  /** `file` holds the session's settings and the LOAD DATA LOCAL statement that reads `dataFile`, then asks how many rows it loaded. */
  | { kind: 'load'; file: string; dataFile: string; table: string; rows: number };

/** A staged segment: its files, complete, in the order they apply. */
export interface StagedSegmentFile extends StagedSegment {
  parts: SegmentPart[];
}

/**
 * Reads dbkeep-stage's report (pipeline/native/dbkeep-stage.c): one line per event, each naming
 * files that are complete; a segment's size comes at its end.
 */
class StagerReport {
  readonly segments: StagedSegmentFile[] = [];
  private current: StagedSegmentFile | undefined;

  constructor(private readonly dir: string) {}

  async read(stdout: Readable): Promise<void> {
    for await (const line of createInterface({ input: stdout, crlfDelay: Infinity })) this.event(line.split(' '));
    if (this.current) throw new Error('dbkeep-stage ended inside a segment');
  }

  private event([event, ...fields]: string[]): void {
    const segment = this.current;
    if (event === 'segment' && segment === undefined && (fields[0] === 'serial' || fields[0] === 'table')) {
      this.current = { kind: fields[0], rawBytes: 0, tables: fields[0] === 'table' ? [name(fields[1])] : [], parts: [] };
      this.segments.push(this.current);
      return;
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

/** A dump staged from its stored object, and what was read of that object. */
export interface StagedDump extends StreamedObject {
  segments: StagedSegmentFile[];
}

/**
 * A snapshot's stored object → filters (decryptor, decompressor) → in-process transforms →
 * dbkeep-stage, which writes the segment files in `dir` (pipeline/native/dbkeep-stage.c says how
 * it cuts and converts the dump), hashing the stored bytes on the way. Without transforms the
 * dump goes from zstd to dbkeep-stage and never passes through Node. The caller compares the hash
 * with the manifest before it applies a single segment.
 */
export async function stageDumpSegments(params: {
  storage: Storage;
  key: string;
  filters: readonly ToolCommand[];
  transforms?: readonly Transform[];
  dir: string;
  /** tableGroupBytes(…) */
  groupBytes: number;
  /** Big tables' INSERTs become LOAD DATA (only for a target that takes it: see serverTakesLoadData). */
  loadData: boolean;
  /** PART_BYTES unless said: tests cut a small table into several parts. */
  partBytes?: number;
  controller: AbortController;
  progress: Progress;
}): Promise<StagedDump> {
  const dir = path.resolve(params.dir);
  const report = new StagerReport(dir);
  const stager: ToolCommand = {
    command: nativeToolPath('dbkeep-stage'),
    args: [
      dir,
      String(params.groupBytes),
      String(params.partBytes ?? PART_BYTES),
      ...(params.loadData ? [String(LOAD_DATA_MIN_BYTES)] : []),
    ],
  };
  const streamed = await streamRepositoryToTool({ ...params, consumer: stager, readConsumerOutput: (stdout) => report.read(stdout) });
  return { ...streamed, segments: report.segments };
}
