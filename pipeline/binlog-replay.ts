import { once } from 'node:events';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReplaySelection } from '../domain/binlog-replay';
import type { ToolCommand } from '../domain/tool-commands';
import type { Progress } from '../domain/progress';
import type { Storage } from '../storage/storage';
import { ByteMeter } from './byte-meter';
import { runStages } from './stages';
import { startTool } from './tool-process';

/** One stored piece of a binary log file: its key, the filters that undo its storage (decryptor, decompressor), its hash. */
export interface StoredBinlogPiece {
  key: string;
  filters: readonly ToolCommand[];
  sha256: string;
}

export class BinlogPieceChecksumError extends Error {
  override readonly name = 'BinlogPieceChecksumError';
}

/**
 * Replays archived binary log files into one client session, so what a transaction of one file
 * leaves for the next (a temporary table, a user variable) is still there:
 *
 *   for each file: pieces → filters → selection (ReplaySelection) → decoder → [line filter] ┐
 *                                                                         one client ◄──────┘
 *
 * A decoder runs per file (it reads one binary log from stdin) and only when the selection lets
 * something of the file through. Each piece's stored bytes are hashed on the way and compared with
 * its index entry; a mismatch fails the replay, which the caller undoes with the restore.
 */
export async function replayBinlogFiles(params: {
  storage: Storage;
  /** Each file's name on the source and its stored pieces, in order. */
  files: ReadonlyArray<{ name: string; pieces: readonly StoredBinlogPiece[] }>;
  selection: ReplaySelection;
  decoder: ToolCommand;
  client: ToolCommand;
  /** Drops lines of the decoder's SQL (MariaDB's GTID session settings, when the target keeps its own). */
  dropLine?: (line: string) => boolean;
  controller: AbortController;
  progress: Progress;
}): Promise<void> {
  const { signal } = params.controller;
  const client = startTool(params.client, { signal, stdin: 'pipe', stdout: 'ignore' });
  // Every file's SQL goes through this one stream into the client, in order, and it ends once.
  const session = new PassThrough();
  const toClient = pipeline(session, client.child.stdin!, { signal });
  const replay = async () => {
    for (const { name, pieces } of params.files) {
      if (params.selection.done) break;
      params.selection.startFile(name);
      const selected = selectedBytes(params.storage, pieces, params.selection, params.controller, params.progress);
      const first = await selected.next();
      if (first.done) continue;
      const decoder = startTool(params.decoder, { signal, stdin: 'pipe', stdout: 'pipe' });
      const toDecoder = pipeline(Readable.from(prepend(first.value, selected)), decoder.child.stdin!, { signal });
      const sql = params.dropLine ? decoder.child.stdout!.pipe(new LineFilter(params.dropLine)) : decoder.child.stdout!;
      const forwarded = (async () => {
        for await (const chunk of sql) {
          if (!session.write(chunk)) await once(session, 'drain', { signal });
        }
      })();
      await Promise.all([decoder.finished, toDecoder, forwarded]);
    }
    session.end();
  };
  await runStages(params.controller, [client.finished, toClient, replay()]);
}

async function* prepend(first: Buffer, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  yield first;
  yield* rest;
}

/** The file's pieces, restored and checked, through the selection: the bytes the decoder is to read. */
async function* selectedBytes(
  storage: Storage,
  pieces: readonly StoredBinlogPiece[],
  selection: ReplaySelection,
  controller: AbortController,
  progress: Progress,
): AsyncGenerator<Buffer> {
  const { signal } = controller;
  for (const piece of pieces) {
    if (selection.done) return;
    const stored = new ByteMeter({ sha256: true });
    const body = await storage.getStream(piece.key, signal);
    const tools = piece.filters.map((filter) => startTool(filter, { signal, stdin: 'pipe', stdout: 'pipe' }));
    const streams: Array<Promise<void>> = [];
    let restored: Readable = stored;
    streams.push(pipeline(body, stored, { signal }).catch((error: unknown) => controller.abort(error)));
    for (const tool of tools) {
      streams.push(pipeline(restored, tool.child.stdin!, { signal }).catch((error: unknown) => controller.abort(error)));
      restored = tool.child.stdout!;
    }
    for await (const chunk of restored) {
      progress.bytesRead += (chunk as Buffer).length;
      for (const out of selection.push(chunk as Buffer)) yield out;
    }
    await Promise.all([...streams, ...tools.map((t) => t.finished)]);
    if (stored.sha256() !== piece.sha256) throw new BinlogPieceChecksumError(`${piece.key} changed in the repository (sha256 mismatch)`);
  }
}

/** Passes text through line by line, dropping the lines `drop` matches. */
class LineFilter extends Transform {
  private partial = '';

  constructor(private readonly dropped: (line: string) => boolean) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const lines = (this.partial + chunk.toString('latin1')).split('\n');
    this.partial = lines.pop()!;
    const kept = lines.filter((line) => !this.dropped(line));
    callback(null, kept.length > 0 ? Buffer.from(`${kept.join('\n')}\n`, 'latin1') : undefined);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.partial !== '' && !this.dropped(this.partial) ? Buffer.from(this.partial, 'latin1') : undefined);
  }
}
