import { once } from 'node:events';
import path from 'node:path';
import { Writable, type Transform } from 'node:stream';
import { DumpSegmenter, type SegmentKind, type SegmentStart, type StagedSegment } from '../domain/dump-segments';
import type { ToolCommand } from '../domain/tool-commands';
import type { Storage } from '../storage/storage';
import type { Progress } from './heartbeat';
import { streamRepositoryToSink, type StreamedObject } from './stream-pipelines';
import { startTool, type RunningTool } from './tool-process';

/** A segment written to the staging directory, compressed. */
export interface StagedSegmentFile extends StagedSegment {
  file: string;
}

export interface StagedDump extends StreamedObject {
  segments: StagedSegmentFile[];
}

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

/**
 * Staged segments are compressed with zstd -1: the staging directory then needs about a
 * quarter of the dump's size instead of all of it, for about a second of one core per GiB
 * (zstd -1 compresses at 400+ MB/s per core here), spent while the stored object downloads.
 */
const stagingCompressor = (file: string): ToolCommand => ({ command: 'zstd', args: ['-1', '-q', '-f', '-o', file] });

interface OpenSegment extends StagedSegmentFile {
  writer: RunningTool;
}

/**
 * The end of the staging pipeline: reads the decompressed dump line by line (DumpSegmenter
 * decides where segments start) and writes each segment, its session preamble first, into a
 * file of its own through a zstd child. Lines are gathered per chunk and written in one go.
 */
class SegmentWriter extends Writable {
  readonly segments: StagedSegmentFile[] = [];
  private readonly segmenter = new DumpSegmenter();
  private current: OpenSegment | undefined;
  private readonly closing: Promise<void>[] = [];
  private batch: Buffer[] = [];
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly dir: string,
    private readonly groupBytes: number,
    private readonly signal: AbortSignal,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.consume(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(() => callback(), callback);
  }

  private async consume(chunk: Buffer): Promise<void> {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE, start)) {
      await this.line(data.subarray(start, end + 1));
      start = end + 1;
    }
    // A copy of the unfinished line, so the chunk it came from can be freed.
    this.pending = Buffer.from(data.subarray(start));
    await this.flush();
  }

  private async finish(): Promise<void> {
    if (this.pending.length > 0) await this.line(this.pending);
    await this.close();
    await Promise.all(this.closing);
  }

  private async line(line: Buffer): Promise<void> {
    // The first segment opens before the segmenter reads anything: its preamble is empty.
    if (this.current === undefined) await this.open({ kind: 'serial' });
    const start = this.segmenter.read(line);
    if (start && !this.continues(this.current!, start)) {
      await this.close();
      await this.open(start);
    } else if (start?.table) this.current!.tables.push(start.table);
    this.batch.push(line);
    this.current!.rawBytes += line.length;
  }

  /** Serial segments in a row are one session; small tables in a row share one. */
  private continues(current: OpenSegment, start: SegmentStart): boolean {
    if (current.kind !== start.kind) return false;
    return start.kind === 'serial' || current.rawBytes < this.groupBytes;
  }

  private async open(start: SegmentStart): Promise<void> {
    const kind: SegmentKind = start.kind;
    const file = path.join(this.dir, `${String(this.segments.length).padStart(6, '0')}-${kind}.sql.zst`);
    const writer = startTool(stagingCompressor(file), { signal: this.signal, stdin: 'pipe', stdout: 'ignore' });
    // EPIPE when zstd dies: its exit status (awaited in close) says why; a write awaiting drain rejects.
    writer.child.stdin!.on('error', () => undefined);
    const preamble = this.segmenter.sessionPreamble();
    this.current = { kind, file, rawBytes: preamble.length, tables: start.table ? [start.table] : [], writer };
    this.segments.push(this.current);
    if (preamble.length > 0) this.batch.push(preamble);
  }

  private async flush(): Promise<void> {
    if (this.current === undefined || this.batch.length === 0) return;
    const stdin = this.current.writer.child.stdin!;
    const bytes = Buffer.concat(this.batch);
    this.batch = [];
    if (!stdin.write(bytes)) await Promise.race([once(stdin, 'drain', { signal: this.signal }), this.current.writer.finished]);
  }

  private async close(): Promise<void> {
    if (this.current === undefined) return;
    await this.flush();
    const { writer } = this.current;
    writer.child.stdin!.end();
    this.closing.push(writer.finished);
    this.current = undefined;
  }
}

/**
 * repository object → filters (decryptor, decompressor) → in-process transforms → segment files
 * in `dir`, hashing the stored bytes. Nothing reaches the target: the caller compares the hash
 * with the manifest before applying any segment, so this is also the restore's checksum pass.
 */
export async function stageDumpSegments(params: {
  storage: Storage;
  key: string;
  filters: readonly ToolCommand[];
  transforms?: readonly Transform[];
  dir: string;
  /** tableGroupBytes(…) */
  groupBytes: number;
  controller: AbortController;
  progress: Progress;
}): Promise<StagedDump> {
  const sink = new SegmentWriter(params.dir, params.groupBytes, params.controller.signal);
  const streamed = await streamRepositoryToSink({ ...params, sink });
  const segments = sink.segments.map(({ kind, file, rawBytes, tables }) => ({ kind, file, rawBytes, tables }));
  return { ...streamed, segments };
}
