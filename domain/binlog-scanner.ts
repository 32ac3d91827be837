import {
  formatMariadbGtidPosition,
  formatMysqlGtidSet,
  mariadbPositionOfBinlogState,
  unionOfMysqlGtidSets,
  type MariadbGtidPosition,
  type MysqlGtidSet,
} from './gtid-sets';
import type { ServerFlavor } from './server-flavor';

/**
 * Reads a binary log file as the archiver receives it (`--raw`: the server's own bytes, growing
 * while the source commits) and finds where its transactions end. Archived pieces are cut there
 * and only there, so every piece holds whole transactions and its GTID range is exact: a piece
 * ends after its last transaction's commit event, never inside one.
 *
 * Only the event header (v4, 19 bytes: timestamp, type, server id, size, next position, flags)
 * and the few events that carry GTIDs or end a transaction are decoded; the rest is skipped by
 * size. Tagged MySQL GTIDs (8.3+) are refused by name rather than misread.
 */

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
const HEADER_BYTES = 19;
// The QUERY event's post-header: thread id 4, exec time 4, db length 1, error code 2, status length 2.
const QUERY_POST_HEADER_BYTES = 13;

const EVENT = {
  query: 2,
  formatDescription: 15,
  stop: 3,
  rotate: 4,
  xid: 16,
  mysqlGtid: 33,
  mysqlPreviousGtids: 35,
  mysqlTransactionPayload: 40,
  mysqlTaggedGtid: 42,
  mariadbGtid: 162,
  mariadbGtidList: 163,
} as const;

// MariaDB's GTID event flag: the group is this event and one statement (DDL), with no COMMIT.
const MARIADB_FL_STANDALONE = 1;

export class UnsupportedBinlogError extends Error {
  override readonly name = 'UnsupportedBinlogError';
}

/** Where the scan stands after the last whole transaction it has seen. */
export interface CommittedPoint {
  /** Byte offset in the file just after that transaction (or after the file's header events). */
  offset: number;
  /** The GTID state there: MySQL's GTID set, MariaDB's GTID position, in the flavor's own text. */
  gtids: string;
}

/** Transactions that ended since the last mark: what one archived piece will hold. */
export interface TransactionsSinceMark {
  count: number;
  /** Unix seconds of the first and last one's GTID event (the statement time the tools replay by). */
  firstAt?: number;
  lastAt?: number;
}

/** One transaction's GTID: MySQL's source uuid and number, MariaDB's domain and sequence (and the server that wrote it). */
export interface TransactionGtid {
  /** MySQL: the server uuid; MariaDB: the replication domain, as text. */
  source: string;
  number: number;
  /** As the flavor writes it: `uuid:17`, `0-1-17`. */
  text: string;
}

/** A whole transaction of the file: its bytes [start, end), its GTID and its statement time (unix seconds). */
export interface ScannedTransaction {
  start: number;
  end: number;
  gtid: TransactionGtid;
  at: number;
}

interface GtidState {
  /** The state as text, computed when a transaction ends. */
  text(): string;
  /** Adds the transaction of a GTID event, and returns its GTID. */
  add(event: Buffer, serverId: number): TransactionGtid;
  /** Replaces the state with the one a file starts from (PREVIOUS_GTIDS / GTID_LIST). */
  start(event: Buffer): void;
}

export class BinlogScanner {
  private pending: Buffer = Buffer.alloc(0);
  /** File offset of pending[0]. */
  private pendingOffset = 0;
  private readonly state: GtidState;
  private inTransaction = false;
  private transactionAt = 0;
  /** MySQL: the first QUERY after a GTID decides (BEGIN opens a group, any other statement is one). MariaDB: the GTID flag says. */
  private standalone: boolean | undefined;
  private committedPoint: CommittedPoint;
  private sinceMark: TransactionsSinceMark = { count: 0 };
  private complete = false;
  /** Bytes of checksum at the end of every event after the format description (CRC32: 4). */
  private checksumBytes = 0;
  /** The file's start state is read: before it, no offset can be given a GTID state. */
  private started = false;
  private startGtids: string | undefined;

  private transactionStart = 0;
  private transactionGtid: TransactionGtid | undefined;
  private readonly recorded: ScannedTransaction[] | undefined;

  /** `recordTransactions`: keep each whole transaction's range and GTID for takeTransactions (a replay's selection). */
  constructor(flavor: ServerFlavor, options: { recordTransactions?: boolean } = {}) {
    this.recorded = options.recordTransactions ? [] : undefined;
    this.state = flavor === 'mysql' ? mysqlState() : mariadbState();
    this.committedPoint = { offset: 0, gtids: '' };
  }

  /** Feeds the file's next bytes (from where the last call ended); a trailing partial event waits for the rest. */
  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    if (this.pendingOffset === 0) {
      if (this.pending.length < MAGIC.length) return;
      if (!this.pending.subarray(0, MAGIC.length).equals(MAGIC))
        throw new UnsupportedBinlogError('not a binary log: the file does not start with the binlog magic bytes');
      at = MAGIC.length;
    }
    while (this.pending.length - at >= HEADER_BYTES) {
      const size = this.pending.readUInt32LE(at + 9);
      if (size < HEADER_BYTES)
        throw new UnsupportedBinlogError(`event at offset ${this.pendingOffset + at} has an impossible size ${size}`);
      if (this.pending.length - at < size) break;
      this.event(this.pending.subarray(at, at + size), this.pendingOffset + at + size);
      at += size;
    }
    this.pending = this.pending.subarray(at);
    this.pendingOffset += at;
  }

  /** After the last whole transaction seen. */
  get committed(): CommittedPoint {
    return this.committedPoint;
  }

  get transactionsSinceMark(): TransactionsSinceMark {
    return this.sinceMark;
  }

  /** The GTID state the file starts from, once its header events are read. */
  get fileStartGtids(): string | undefined {
    return this.startGtids;
  }

  /** The whole transactions scanned since the last call (only with `recordTransactions`). */
  takeTransactions(): ScannedTransaction[] {
    return this.recorded ? this.recorded.splice(0) : [];
  }

  /** Where the transaction still being read starts, if one is. */
  get openTransactionStart(): number | undefined {
    return this.inTransaction ? this.transactionStart : undefined;
  }

  /** Starts counting the next piece's transactions. */
  mark(): void {
    this.sinceMark = { count: 0 };
  }

  /** The file ended (a ROTATE or STOP event): nothing more will be written to it. */
  get ended(): boolean {
    return this.complete;
  }

  private event(event: Buffer, endOffset: number): void {
    const timestamp = event.readUInt32LE(0);
    const type = event[4]!;
    const serverId = event.readUInt32LE(5);
    const body = event.subarray(HEADER_BYTES);
    switch (type) {
      case EVENT.formatDescription:
        this.checksumBytes = formatDescriptionChecksumBytes(event);
        this.settle(endOffset);
        return;
      case EVENT.mysqlPreviousGtids:
      case EVENT.mariadbGtidList:
        this.state.start(body);
        this.started = true;
        this.startGtids = this.state.text();
        this.settle(endOffset);
        return;
      case EVENT.mysqlTaggedGtid:
        throw new UnsupportedBinlogError(
          'the binary log holds tagged GTIDs (MySQL 8.3+ gtid_next with a tag), which point-in-time recovery does not read yet',
        );
      case EVENT.mysqlGtid:
      case EVENT.mariadbGtid:
        // A GTID event always opens a transaction; one still open means its end was not recognised.
        this.transactionGtid = this.state.add(body, serverId);
        this.transactionStart = endOffset - event.length;
        this.inTransaction = true;
        this.transactionAt = timestamp;
        this.standalone = type === EVENT.mariadbGtid ? (body[12]! & MARIADB_FL_STANDALONE) !== 0 : undefined;
        return;
      case EVENT.query: {
        if (!this.inTransaction) return this.settle(endOffset);
        const statement = queryStatement(body.subarray(0, body.length - this.checksumBytes));
        if (this.standalone === undefined) {
          this.standalone = statement !== 'BEGIN';
          if (this.standalone) this.endTransaction(endOffset);
          return;
        }
        if (this.standalone || statement === 'COMMIT' || statement === 'ROLLBACK') this.endTransaction(endOffset);
        return;
      }
      case EVENT.xid:
      case EVENT.mysqlTransactionPayload:
        if (this.inTransaction) this.endTransaction(endOffset);
        return;
      case EVENT.rotate:
      case EVENT.stop:
        this.complete = true;
        if (!this.inTransaction) this.settle(endOffset);
        return;
      default:
        if (!this.inTransaction) this.settle(endOffset);
    }
  }

  private endTransaction(endOffset: number): void {
    this.inTransaction = false;
    this.recorded?.push({ start: this.transactionStart, end: endOffset, gtid: this.transactionGtid!, at: this.transactionAt });
    this.standalone = undefined;
    this.sinceMark = {
      count: this.sinceMark.count + 1,
      firstAt: this.sinceMark.firstAt ?? this.transactionAt,
      lastAt: this.transactionAt,
    };
    this.settle(endOffset);
  }

  /** Outside a transaction: everything up to here can be archived. */
  private settle(endOffset: number): void {
    if (!this.started) return;
    this.committedPoint = { offset: endOffset, gtids: this.state.text() };
  }
}

/**
 * The format description event ends with the checksum algorithm of the file's events (1 byte) and
 * its own checksum (4 bytes): with CRC32 every event carries 4 bytes of it after its body. Read
 * exactly, so a checksum byte is never taken for a statement's last letter.
 */
function formatDescriptionChecksumBytes(event: Buffer): number {
  return event.length >= HEADER_BYTES + 5 && event[event.length - 5] === 1 ? 4 : 0;
}

/**
 * A QUERY event's statement (body without checksum), upper-cased when it is one of the few words
 * that open or end a transaction, else its first characters: only BEGIN, COMMIT and ROLLBACK matter.
 */
function queryStatement(body: Buffer): string {
  if (body.length < QUERY_POST_HEADER_BYTES) return '';
  const dbLength = body[8]!;
  const statusLength = body.readUInt16LE(11);
  const start = QUERY_POST_HEADER_BYTES + statusLength + dbLength + 1;
  const text = body
    .subarray(start, Math.min(body.length, start + 16))
    .toString('latin1')
    .trim();
  return /^(BEGIN|COMMIT|ROLLBACK)$/i.test(text) ? text.toUpperCase() : text;
}

function uuidOf(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** MySQL: a GTID set, extended in place; the common case (the next number of a source) costs nothing. */
function mysqlState(): GtidState {
  let set = new Map<string, Array<[number, number]>>();
  return {
    text: () => formatMysqlGtidSet(set as MysqlGtidSet),
    add(body) {
      const source = uuidOf(body.subarray(1, 17));
      const gno = Number(body.readBigUInt64LE(17));
      const gtid = { source, number: gno, text: `${source}:${gno}` };
      const intervals = set.get(source);
      if (!intervals) {
        const entries: Array<[string, Array<[number, number]>]> = [...set, [source, [[gno, gno]]]];
        set = new Map(entries.sort(([a], [b]) => a.localeCompare(b)));
        return gtid;
      }
      const last = intervals.at(-1)!;
      if (gno === last[1] + 1) last[1] = gno;
      else if (gno > last[1]) intervals.push([gno, gno]);
      else {
        // Out of order (rare): the GTID set's own union sorts and merges.
        const merged = unionOfMysqlGtidSets(set, new Map([[source, [[gno, gno] as const]]])).get(source)!;
        set.set(
          source,
          merged.map(([a, b]): [number, number] => [a, b]),
        );
      }
      return gtid;
    },
    start(body) {
      const sources = body.readBigUInt64LE(0);
      // The tagged encoding (8.3+) marks its format in the count's high bytes.
      if (sources > 0xffffffffn)
        throw new UnsupportedBinlogError(
          'the binary log starts with a tagged GTID set (MySQL 8.3+), which point-in-time recovery does not read yet',
        );
      const next = new Map<string, Array<[number, number]>>();
      let at = 8;
      for (let i = 0; i < Number(sources); i++) {
        const source = uuidOf(body.subarray(at, at + 16));
        const count = Number(body.readBigUInt64LE(at + 16));
        at += 24;
        const intervals: Array<[number, number]> = [];
        for (let j = 0; j < count; j++) {
          // Stored as [start, end): end is one past the last transaction.
          intervals.push([Number(body.readBigUInt64LE(at)), Number(body.readBigUInt64LE(at + 8)) - 1]);
          at += 16;
        }
        next.set(source, intervals);
      }
      set = new Map([...next].sort(([a], [b]) => a.localeCompare(b)));
    },
  };
}

/** MariaDB: per replication domain, the last transaction's server and sequence number. */
function mariadbState(): GtidState {
  let position = new Map<number, { serverId: number; sequence: number }>();
  const sorted = () => new Map([...position].sort(([a], [b]) => a - b));
  return {
    text: () => formatMariadbGtidPosition(position as MariadbGtidPosition),
    add(body, serverId) {
      const sequence = Number(body.readBigUInt64LE(0));
      const domain = body.readUInt32LE(8);
      const known = position.has(domain);
      position.set(domain, { serverId, sequence });
      if (!known) position = sorted();
      return { source: String(domain), number: sequence, text: `${domain}-${serverId}-${sequence}` };
    },
    start(body) {
      // The binlog state: the last GTID of every (domain, server); a domain's position is its highest sequence.
      const count = body.readUInt32LE(0) & 0x0fffffff;
      const entries = Array.from({ length: count }, (_, i) => ({
        domain: body.readUInt32LE(4 + 16 * i),
        serverId: body.readUInt32LE(8 + 16 * i),
        sequence: Number(body.readBigUInt64LE(12 + 16 * i)),
      }));
      position = new Map(mariadbPositionOfBinlogState(entries));
    },
  };
}
