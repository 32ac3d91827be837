import { open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BinlogScanner } from '../domain/binlog-scanner';
import type { ServerFlavor } from '../domain/server-flavor';
import type { ToolCommand } from '../domain/tool-commands';
import { startTool } from './tool-process';

/**
 * Follows a source's binary log with its replication client (`--raw --stop-never`, writing one
 * local file per binary log) and hands over pieces of whole transactions as they commit: a
 * finished file at once, the file still being written at most every `uploadIntervalMs`. Only
 * the file being followed stays on the worker's disk; a file is removed once all of it is stored.
 */

/** Where archiving stands in one file: everything before `offset` is stored. */
export interface FollowedPosition {
  file: string;
  offset: number;
  /** The GTID state at `offset`, and the one the file starts from. */
  gtids: string;
  fileStartGtids: string;
}

/** Bytes [from, to) of a local binary log file, whole transactions, ready to be stored. */
export interface BinlogPieceOnDisk {
  path: string;
  file: string;
  fileStartGtids: string;
  from: number;
  to: number;
  gtidsBefore: string;
  gtidsAfter: string;
  transactions: number;
  /** Unix seconds of the first and last transaction. */
  firstAt: number;
  lastAt: number;
}

export interface FollowProgress {
  position?: FollowedPosition;
  /** When everything the client had received was last stored: the archive was current then. */
  caughtUpAt?: Date;
  piecesStored: number;
  bytesStored: number;
}

const POLL_MS = 250;
// Bounded reads: a file is scanned in pieces of at most this, whatever its size.
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export async function followBinlog(params: {
  flavor: ServerFlavor;
  /** The replication client, started at `startFile` with `directory` as its result directory. */
  reader: ToolCommand;
  directory: string;
  startFile: string;
  /** Bytes of `startFile` already stored: they are read again (for the GTID state) but not stored twice. */
  storedUpTo: number;
  /**
   * The GTID state the stored pieces say `startFile` starts from. A file of that name starting
   * elsewhere is another history (a rebuilt server): it is stored whole, in a folder of its own.
   */
  expectedFileStartGtids?: string;
  uploadIntervalMs: number;
  /** Stop (after storing what is complete) at this time: the archive workflow continues as new then. */
  deadline: number;
  signal: AbortSignal;
  storePiece(piece: BinlogPieceOnDisk): Promise<void>;
  progress: FollowProgress;
}): Promise<{ readerExit?: string }> {
  const { progress, signal } = params;
  const readerController = new AbortController();
  const stopReader = () => readerController.abort();
  signal.addEventListener('abort', stopReader, { once: true });
  const reader = startTool(params.reader, { signal: readerController.signal, stdin: 'ignore', stdout: 'ignore' });
  let readerExit: string | undefined;
  reader.finished.then(
    () => (readerExit = `${params.reader.command} exited`),
    (error: Error) => (readerExit = error.message),
  );
  let file = new FollowedFile(params.flavor, params.directory, params.startFile, params.storedUpTo, params.expectedFileStartGtids);
  let lastStore = Date.now();
  try {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      // Read once more after the reader exits: its last bytes are in the file by then.
      const exited = readerExit !== undefined;
      const stopping = exited || Date.now() >= params.deadline;
      const readAll = await file.readNewBytes();
      const piece = file.pendingPiece();
      if (piece && (stopping || file.scanner.ended || Date.now() - lastStore >= params.uploadIntervalMs)) {
        await params.storePiece(piece);
        file.stored(piece);
        lastStore = Date.now();
        progress.piecesStored += 1;
        progress.bytesStored += piece.to - piece.from;
      }
      if (file.position) progress.position = file.position;
      if (readAll && !file.pendingPiece()) progress.caughtUpAt = new Date();
      if (readAll && file.scanner.ended && !file.pendingPiece()) {
        const next = await nextFile(params.directory, file.name);
        if (next) {
          await rm(file.path, { force: true });
          file = new FollowedFile(params.flavor, params.directory, next, 0);
          continue;
        }
      }
      if (stopping && readAll) return exited ? { readerExit } : {};
      await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    signal.removeEventListener('abort', stopReader);
    readerController.abort();
    await reader.finished.catch(() => undefined);
  }
}

/** The binary log file after `file` among those the client wrote (names sort by their sequence number). */
async function nextFile(directory: string, file: string): Promise<string | undefined> {
  const names = (await readdir(directory)).filter((name) => name > file).sort();
  return names[0];
}

/** One local file as the client writes it: how far it is read, scanned and stored. */
class FollowedFile {
  readonly scanner: BinlogScanner;
  readonly path: string;
  private readOffset = 0;
  private storedTo: number;
  private storedGtids: string | undefined;

  constructor(
    flavor: ServerFlavor,
    directory: string,
    readonly name: string,
    storedUpTo: number,
    private readonly expectedStartGtids?: string,
  ) {
    this.scanner = new BinlogScanner(flavor);
    this.path = path.join(directory, name);
    this.storedTo = storedUpTo;
  }

  /** Scans what the client added since the last call; true when the file is read to its current end. */
  async readNewBytes(): Promise<boolean> {
    const size = await stat(this.path).then(
      (s) => s.size,
      () => 0,
    );
    if (size <= this.readOffset) return true;
    const handle = await open(this.path, 'r');
    try {
      while (this.readOffset < size) {
        // Up to the stored offset first, exactly: the pieces stored already end there.
        const limit = this.storedGtids === undefined && this.storedTo > this.readOffset ? this.storedTo : size;
        const length = Math.min(READ_CHUNK_BYTES, limit - this.readOffset);
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, this.readOffset);
        if (bytesRead === 0) break;
        this.scanner.push(buffer.subarray(0, bytesRead));
        this.readOffset += bytesRead;
        const start = this.scanner.fileStartGtids;
        if (
          this.storedGtids === undefined &&
          start !== undefined &&
          this.expectedStartGtids !== undefined &&
          start !== this.expectedStartGtids
        ) {
          this.storedTo = 0;
        }
        if (this.readOffset === this.storedTo && this.storedGtids === undefined) this.reachStored();
      }
    } finally {
      await handle.close();
    }
    return this.readOffset >= size;
  }

  private reachStored(): void {
    const committed = this.scanner.committed;
    if (this.storedTo === 0) return;
    if (committed.offset !== this.storedTo) {
      throw new Error(
        `${this.name} does not have a transaction end at ${this.storedTo}, where its stored pieces end: the source rewrote the file`,
      );
    }
    this.storedGtids = committed.gtids;
    this.scanner.mark();
  }

  /** The whole transactions read and not yet stored, if any. */
  pendingPiece(): BinlogPieceOnDisk | undefined {
    const start = this.scanner.fileStartGtids;
    const since = this.scanner.transactionsSinceMark;
    const committed = this.scanner.committed;
    if (start === undefined || since.count === 0 || committed.offset <= this.storedTo) return undefined;
    return {
      path: this.path,
      file: this.name,
      fileStartGtids: start,
      from: this.storedTo,
      to: committed.offset,
      gtidsBefore: this.storedTo === 0 ? start : this.storedGtids!,
      gtidsAfter: committed.gtids,
      transactions: since.count,
      firstAt: since.firstAt!,
      lastAt: since.lastAt!,
    };
  }

  stored(piece: BinlogPieceOnDisk): void {
    this.storedTo = piece.to;
    this.storedGtids = piece.gtidsAfter;
    this.scanner.mark();
  }

  get position(): FollowedPosition | undefined {
    const start = this.scanner.fileStartGtids;
    const gtids = this.storedTo === 0 ? start : this.storedGtids;
    if (start === undefined || gtids === undefined) return undefined;
    return { file: this.name, offset: this.storedTo, gtids, fileStartGtids: start };
  }
}
