import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Transform } from 'node:stream';
import { DumpSegmenter, type SegmentStart } from '../domain/dump-segments';
import type { Progress } from '../domain/progress';
import type { ToolCommand } from '../domain/tool-commands';
import type { Storage } from '../storage/storage';
import type { StagedSegmentFile } from './parallel-apply';
import { streamRepositoryToSink, type StreamedObject } from './stream-pipelines';

/**
 * Consecutive table segments share a file until it holds this much SQL: a schema of thousands
 * of small tables then needs tens of files and client sessions, not thousands, while tables
 * large enough to matter get a session of their own. A small dump gets small groups (an eighth
 * of a session's share), so that its tables still spread over the sessions.
 */
export function tableGroupBytes(dumpRawBytes: number, sessions: number): number {
  return Math.min(16 * 1024 * 1024, Math.max(256 * 1024, Math.floor(dumpRawBytes / (sessions * 8))));
}

const NEWLINE = 0x0a;

interface OpenSegment extends StagedSegmentFile {
  handle: FileHandle;
}

/**
 * The end of the staging pipeline: reads the decompressed dump line by line (DumpSegmenter
 * decides where segments start) and writes each segment, its session preamble first, into a
 * file of its own, handing every complete file to `onSegment` in dump order. Lines are gathered
 * per chunk and written in one go. The files hold plain SQL: compressing them cost more CPU
 * than the apply could spare on a small machine, and each is removed once applied.
 */
class SegmentWriter extends Writable {
  private readonly segmenter = new DumpSegmenter();
  private current: OpenSegment | undefined;
  private count = 0;
  private batch: Buffer[] = [];
  private pending: Buffer[] = [];

  constructor(
    private readonly dir: string,
    private readonly groupBytes: number,
    private readonly onSegment: (segment: StagedSegmentFile) => void,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.consume(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.current?.handle;
    this.current = undefined;
    void (handle ? handle.close().catch(() => undefined) : Promise.resolve()).then(() => callback(error));
  }

  /**
   * The unfinished line's pieces are kept apart until its newline comes: an INSERT line is about
   * a megabyte, and joining each chunk onto the pieces before it would copy it over and over.
   */
  private async consume(chunk: Buffer): Promise<void> {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const tail = chunk.subarray(start, end + 1);
      await this.line(this.pending.length > 0 ? Buffer.concat([...this.pending, tail]) : tail);
      this.pending = [];
      start = end + 1;
    }
    // The rest of the chunk starts the next line; a view of it keeps the chunk alive until then.
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
    await this.flush();
  }

  private async finish(): Promise<void> {
    if (this.pending.length > 0) await this.line(Buffer.concat(this.pending));
    await this.close();
  }

  private async line(line: Buffer): Promise<void> {
    // The first segment opens before the segmenter reads anything: its preamble is empty.
    if (this.current === undefined) await this.open({ kind: 'serial' });
    const start = this.segmenter.read(line);
    if (start && !this.continues(this.current!, start)) {
      await this.close();
      await this.open(start);
    } else if (start?.table) this.current!.tables.push(start.table);
    if (!this.segmenter.keeps(line)) return;
    this.batch.push(line);
    this.current!.rawBytes += line.length;
  }

  /** Serial segments in a row are one session; small tables in a row share one. */
  private continues(current: OpenSegment, start: SegmentStart): boolean {
    if (current.kind !== start.kind) return false;
    return start.kind === 'serial' || current.rawBytes < this.groupBytes;
  }

  private async open(start: SegmentStart): Promise<void> {
    const file = path.join(this.dir, `${String(this.count++).padStart(6, '0')}-${start.kind}.sql`);
    const preamble = this.segmenter.sessionPreamble();
    this.current = {
      kind: start.kind,
      file,
      rawBytes: preamble.length,
      tables: start.table ? [start.table] : [],
      handle: await open(file, 'wx', 0o600),
    };
    if (preamble.length > 0) this.batch.push(preamble);
  }

  private async flush(): Promise<void> {
    if (this.current === undefined || this.batch.length === 0) return;
    const bytes = Buffer.concat(this.batch);
    this.batch = [];
    await this.current.handle.write(bytes);
  }

  private async close(): Promise<void> {
    if (this.current === undefined) return;
    await this.flush();
    const { handle, ...segment } = this.current;
    this.current = undefined;
    await handle.close();
    this.onSegment(segment);
  }
}

/**
 * repository object → filters (decryptor, decompressor) → in-process transforms → segment files
 * in `dir`, each handed to `onSegment` as soon as it is complete, hashing the stored bytes.
 * The caller verified the object before (nothing may be applied from a damaged one) and
 * compares this hash with the manifest too, as the serial restore does.
 */
export async function stageDumpSegments(params: {
  storage: Storage;
  key: string;
  filters: readonly ToolCommand[];
  transforms?: readonly Transform[];
  dir: string;
  /** tableGroupBytes(…) */
  groupBytes: number;
  onSegment: (segment: StagedSegmentFile) => void;
  controller: AbortController;
  progress: Progress;
}): Promise<StreamedObject> {
  const sink = new SegmentWriter(params.dir, params.groupBytes, params.onSegment);
  return streamRepositoryToSink({ ...params, sink });
}
