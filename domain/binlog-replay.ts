import type { PointInTimeTarget } from './point-in-time-target';
import type { BinlogPiece } from './binlog-archive';
import { BinlogScanner, type ScannedTransaction, type TransactionGtid } from './binlog-scanner';
import {
  formatMariadbGtidPosition,
  formatMysqlGtidSet,
  parseMariadbGtidPosition,
  parseMysqlGtidSet,
  unionOfMysqlGtidSets,
} from './gtid-sets';
import { gtidStateReached, snapshotForRecoveryTime, type RecoverableWindow, type SnapshotPoint } from './recoverable-window';
import type { ServerFlavor } from './server-flavor';

/**
 * Replaying the archived binary log onto a restored snapshot: which pieces, and which of their
 * transactions. The selection is dbkeep's own, by GTID and statement time, made on the binary log
 * itself before the engine's decoder sees it, so both engines stop at the same rules: a
 * transaction the snapshot holds, or one already replayed, is never applied twice, and the replay
 * stops before the first transaction after the target time, or at the GTID asked for.
 */

/** Where a replay stops: after the last transaction at or before `at` (unix seconds), or just before `beforeGtid`. */
export type ReplayStop = { at: number } | { beforeGtid: string } | { latest: true };

/** The archived files to replay, oldest first, each as its pieces from offset 0 in order. */
export interface ReplayFile {
  folder: string;
  file: string;
  pieces: BinlogPiece[];
}

/**
 * The files that carry the archive on from `snapshotGtids`: the chain of pieces the recoverable
 * window joins by GTIDs, from the one holding the first transaction after the snapshot to the
 * last one before a gap. A file whose transactions after the snapshot start mid-file is replayed
 * from its start (its header is needed), and the selection skips what the snapshot holds.
 */
export function replayFiles(
  flavor: ServerFlavor,
  snapshotGtids: string,
  pieces: ReadonlyArray<{ folder: string; piece: BinlogPiece }>,
): ReplayFile[] {
  const reached = gtidStateReached(flavor);
  // Pieces that hold something the snapshot does not, ordered by how far each one's end reaches.
  const after = pieces
    .filter(({ piece }) => !reached(piece.gtidsAfter, snapshotGtids))
    .sort((a, b) => (reached(a.piece.gtidsAfter, b.piece.gtidsAfter) ? (reached(b.piece.gtidsAfter, a.piece.gtidsAfter) ? 0 : -1) : 1));
  const chain: Array<{ folder: string; piece: BinlogPiece }> = [];
  let state = snapshotGtids;
  for (const entry of after) {
    if (!reached(entry.piece.gtidsBefore, state)) break;
    if (reached(entry.piece.gtidsAfter, state)) continue;
    chain.push(entry);
    state = entry.piece.gtidsAfter;
  }
  const files: ReplayFile[] = [];
  for (const { folder } of chain) {
    if (files.at(-1)?.folder === folder) continue;
    const inFolder = pieces
      .filter((p) => p.folder === folder)
      .map((p) => p.piece)
      .sort((a, b) => a.from - b.from);
    // From offset 0 up to the chain's last piece in this folder, without holes.
    const last = Math.max(...chain.filter((c) => c.folder === folder).map((c) => c.piece.to));
    const contiguous: BinlogPiece[] = [];
    for (const piece of inFolder) {
      if (piece.from !== (contiguous.at(-1)?.to ?? 0) || piece.from >= last) break;
      contiguous.push(piece);
    }
    files.push({ folder, file: inFolder[0]!.file, pieces: contiguous });
  }
  return files;
}

/**
 * The transactions the target holds during a replay: the snapshot's, and every one replayed since.
 * The second part matters when the archive switched sources (a failover): the new source's first
 * file repeats transactions the old one's files already gave, and those are not applied twice.
 */
class HeldTransactions {
  /** MySQL: intervals per server uuid; MariaDB: the last transaction per domain. */
  private readonly intervals = new Map<string, Array<[number, number]>>();
  private readonly highest = new Map<string, { serverId: number; sequence: number }>();

  constructor(
    private readonly flavor: ServerFlavor,
    snapshotGtids: string,
  ) {
    if (flavor === 'mysql') {
      for (const [uuid, ranges] of parseMysqlGtidSet(snapshotGtids))
        this.intervals.set(
          uuid,
          ranges.map(([a, b]) => [a, b]),
        );
    } else {
      for (const [domain, last] of parseMariadbGtidPosition(snapshotGtids)) this.highest.set(String(domain), { ...last });
    }
  }

  holds(gtid: TransactionGtid): boolean {
    if (this.flavor !== 'mysql') return gtid.number <= (this.highest.get(gtid.source)?.sequence ?? 0);
    return (this.intervals.get(gtid.source) ?? []).some(([a, b]) => a <= gtid.number && gtid.number <= b);
  }

  add(gtid: TransactionGtid): void {
    if (this.flavor !== 'mysql') {
      if (gtid.number > (this.highest.get(gtid.source)?.sequence ?? 0)) {
        this.highest.set(gtid.source, { serverId: Number(gtid.text.split('-')[1]), sequence: gtid.number });
      }
      return;
    }
    const ranges = this.intervals.get(gtid.source) ?? [];
    this.intervals.set(gtid.source, ranges);
    // Replayed in order, a transaction almost always extends the last interval.
    const last = ranges.at(-1);
    if (last && last[1] + 1 === gtid.number) last[1] = gtid.number;
    else ranges.push([gtid.number, gtid.number]);
  }

  /** What is held, as the flavor writes a GTID state: MySQL's GTID set, MariaDB's GTID position. */
  state(): string {
    if (this.flavor === 'mysql') return formatMysqlGtidSet(unionOfMysqlGtidSets(new Map(this.intervals)));
    return formatMariadbGtidPosition(new Map([...this.highest].map(([domain, last]) => [Number(domain), last])));
  }
}

/**
 * Selects, from one binary log file's bytes, its header and the transactions to replay, as a
 * binary log the engine's decoder reads: what the snapshot holds is dropped, and everything from
 * the stop on. One instance per replay: once stopped, later files give nothing.
 */
export class ReplaySelection {
  private stopped = false;
  private readonly held: HeldTransactions;
  private file: FileSelection | undefined;
  applied = 0;
  lastAppliedAt: number | undefined;
  lastAppliedGtid: string | undefined;

  constructor(
    private readonly flavor: ServerFlavor,
    snapshotGtids: string,
    private readonly stop: ReplayStop,
  ) {
    this.held = new HeldTransactions(flavor, snapshotGtids);
  }

  get done(): boolean {
    return this.stopped;
  }

  /** The GTID state the target's data is at: the snapshot's, and every transaction replayed. */
  get reachedGtids(): string {
    return this.held.state();
  }

  /** Where the last replayed transaction ends in the source's binary log: its file, and the offset after it. */
  lastAppliedEnd: { file: string; offset: number } | undefined;
  private fileName = '';

  /** Starts the next file (`name`: the source's name for it). */
  startFile(name = ''): void {
    this.file = new FileSelection(this.flavor);
    this.fileName = name;
  }

  /** The next bytes of the current file; returns what the decoder is to read. */
  push(chunk: Buffer): Buffer[] {
    const file = this.file!;
    const out: Buffer[] = [];
    for (const transaction of file.push(chunk)) {
      if (this.stopped) continue;
      if (this.stopsAt(transaction)) {
        this.stopped = true;
        continue;
      }
      if (this.held.holds(transaction.gtid)) continue;
      this.held.add(transaction.gtid);
      out.push(...file.emit(transaction));
      this.applied += 1;
      this.lastAppliedAt = transaction.at;
      this.lastAppliedGtid = transaction.gtid.text;
      this.lastAppliedEnd = { file: this.fileName, offset: transaction.end };
    }
    file.release();
    return out;
  }

  private stopsAt(transaction: ScannedTransaction): boolean {
    if ('at' in this.stop) return transaction.at > this.stop.at;
    if ('beforeGtid' in this.stop) return transaction.gtid.text === this.stop.beforeGtid;
    return false;
  }
}

/** One file's bytes, kept from the oldest transaction not yet decided on, and its header once known. */
class FileSelection {
  private readonly scanner: BinlogScanner;
  private buffer: Buffer = Buffer.alloc(0);
  /** File offset of buffer[0]. */
  private bufferOffset = 0;
  private header: Buffer | undefined;
  private headerEmitted = false;

  constructor(flavor: ServerFlavor) {
    this.scanner = new BinlogScanner(flavor, { recordTransactions: true });
  }

  push(chunk: Buffer): ScannedTransaction[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.scanner.push(chunk);
    const transactions = this.scanner.takeTransactions();
    // The header is everything before the file's first transaction: format description and starting GTID state.
    const firstStart = transactions[0]?.start ?? this.scanner.openTransactionStart;
    if (this.header === undefined && firstStart !== undefined) this.header = Buffer.from(this.slice(0, firstStart));
    return transactions;
  }

  /** The transaction's bytes, after the header for the file's first emitted one. */
  emit(transaction: ScannedTransaction): Buffer[] {
    const out: Buffer[] = [];
    if (!this.headerEmitted) {
      out.push(this.header!);
      this.headerEmitted = true;
    }
    out.push(Buffer.from(this.slice(transaction.start, transaction.end)));
    return out;
  }

  /** Drops the bytes of every decided transaction, once the header is kept: only an open one's are needed again. */
  release(): void {
    if (this.header === undefined) return;
    const keepFrom = this.scanner.openTransactionStart ?? this.scanner.committed.offset;
    if (keepFrom <= this.bufferOffset) return;
    this.buffer = this.buffer.subarray(keepFrom - this.bufferOffset);
    this.bufferOffset = keepFrom;
  }

  private slice(from: number, to: number): Buffer {
    return this.buffer.subarray(from - this.bufferOffset, to - this.bufferOffset);
  }
}

/** The replay's stop for a target: a time is taken to the second, as the binary log records it. */
export function replayStopOf(target: PointInTimeTarget): ReplayStop {
  if ('at' in target) return { at: Math.floor(Date.parse(target.at) / 1000) };
  if ('beforeGtid' in target) return { beforeGtid: target.beforeGtid.toLowerCase() };
  return { latest: true };
}

/**
 * The snapshot a point-in-time restore starts from, or why it cannot be done, before anything is
 * touched: a time must lie in a recoverable window; a GTID must be archived after a snapshot of a
 * window (the restore stops just before it); latest is the end of the newest window.
 */
export function snapshotForPointInTime(params: {
  flavor: ServerFlavor;
  windows: readonly RecoverableWindow[];
  snapshots: readonly SnapshotPoint[];
  pieces: readonly BinlogPiece[];
  target: PointInTimeTarget;
}): { snapshotId: string } | { problem: string } {
  const { flavor, windows, snapshots, target } = params;
  const known = windows.map((w) => `${w.from} to ${w.to}`).join(', ') || 'there is none yet';
  if ('at' in target) return snapshotForRecoveryTime(windows, snapshots, target.at);
  const inWindow = (w: RecoverableWindow) => snapshots.filter((s) => w.snapshotIds.includes(s.snapshotId));
  if ('latest' in target) {
    const newest = windows.at(-1);
    const start = newest ? inWindow(newest).at(-1) : undefined;
    return start ? { snapshotId: start.snapshotId } : { problem: `there is no recoverable window yet` };
  }
  // The newest snapshot that does not hold the GTID, in a window whose pieces hold it.
  const holds = (state: string) => new HeldTransactions(flavor, state).holds(gtidOf(flavor, target.beforeGtid));
  const archived = params.pieces.some((p) => holds(p.gtidsAfter) && !holds(p.gtidsBefore));
  const candidates = windows.flatMap(inWindow).filter((s) => !holds(s.gtids));
  const start = archived ? candidates.sort((a, b) => Date.parse(a.consistentAt) - Date.parse(b.consistentAt)).at(-1) : undefined;
  return start
    ? { snapshotId: start.snapshotId }
    : { problem: `transaction ${target.beforeGtid} is not in the archive after any snapshot of a recoverable window (${known})` };
}

function gtidOf(flavor: ServerFlavor, text: string): TransactionGtid {
  if (flavor === 'mysql') {
    const at = text.lastIndexOf(':');
    return { source: text.slice(0, at).toLowerCase(), number: Number(text.slice(at + 1)), text: text.toLowerCase() };
  }
  const [domain = '0', , sequence = '0'] = text.split('-');
  return { source: domain, number: Number(sequence), text };
}

/**
 * The archived files no kept snapshot needs: every transaction of the file is in the oldest kept
 * snapshot that records a position, so no replay from a kept snapshot reads it (a replay reads a
 * file from its start, so a file is kept whole while any of it is needed), and the archive has
 * gone beyond the file (the file still being written is kept). Without such a
 * snapshot nothing is prunable: what a later snapshot will need is not known.
 */
export function prunableBinlogFolders(
  flavor: ServerFlavor,
  pieces: ReadonlyArray<{ folder: string; piece: BinlogPiece }>,
  keptSnapshotGtids: readonly string[],
): string[] {
  const reached = gtidStateReached(flavor);
  const oldest = keptSnapshotGtids.find((state) => keptSnapshotGtids.every((other) => reached(state, other)));
  if (oldest === undefined) return [];
  const folders = new Map<string, BinlogPiece[]>();
  for (const { folder, piece } of pieces) folders.set(folder, [...(folders.get(folder) ?? []), piece]);
  // A file the archive has gone beyond is closed; the newest one may still grow, and a replay
  // from a later snapshot needs its start (its header), so it is never pruned.
  const goneBeyond = (inFolder: readonly BinlogPiece[]) =>
    pieces.some(({ piece }) => !inFolder.some((mine) => reached(piece.gtidsAfter, mine.gtidsAfter)));
  return [...folders]
    .filter(([, inFolder]) => inFolder.every((piece) => reached(piece.gtidsAfter, oldest)) && goneBeyond(inFolder))
    .map(([folder]) => folder)
    .sort();
}
