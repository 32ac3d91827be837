import type { DumpFingerprinter } from '../domain/dump-fingerprint';

/** The records' types, as pipeline/native/dump-scan.c writes them. */
const RecordType = { raw: 0x52, statement: 0x49, hash: 0x48, end: 0x45 } as const;
const HEADER_BYTES = 5;

/**
 * Reads what dbkeep-tee writes on its standard output, the records of its scan of a dump
 * (pipeline/native/dump-scan.c), into the dump's fingerprinter: the dump's bytes that are not
 * INSERT statements, each statement's table and rows in their place, and each table's hash at the
 * end. Chunks of any size; a chunk is read during `push` only. `complete` once the end record came:
 * a scan cut short (dbkeep-tee killed, or failed) has none.
 */
export class DumpScanRecordReader {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerBytes = 0;
  /** The current record's payload still to come, and what came of it (every type but raw). */
  private remaining = 0;
  private readonly payload: Buffer[] = [];
  private ended = false;

  constructor(private readonly fingerprinter: DumpFingerprinter) {}

  get complete(): boolean {
    return this.ended;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.ended) throw new Error('dbkeep-tee wrote past the end of its scan');
      if (this.headerBytes < HEADER_BYTES) {
        const taken = chunk.copy(this.header, this.headerBytes, at, at + HEADER_BYTES - this.headerBytes);
        this.headerBytes += taken;
        at += taken;
        if (this.headerBytes < HEADER_BYTES) return;
        this.remaining = this.header.readUInt32LE(1);
        if (this.remaining === 0) this.endRecord();
        continue;
      }
      const taken = Math.min(this.remaining, chunk.length - at);
      const bytes = chunk.subarray(at, at + taken);
      if (this.header[0] === RecordType.raw) this.fingerprinter.push(bytes);
      else this.payload.push(Buffer.from(bytes));
      this.remaining -= taken;
      at += taken;
      if (this.remaining === 0) this.endRecord();
    }
  }

  private endRecord(): void {
    const type = this.header[0];
    const payload = Buffer.concat(this.payload);
    this.payload.length = 0;
    this.headerBytes = 0;
    if (type === RecordType.statement) {
      this.fingerprinter.pushScannedStatement({
        id: payload.readUInt32LE(0),
        rows: payload.readUInt32LE(8) * 2 ** 32 + payload.readUInt32LE(4),
        ended: payload[12] === 1,
        name: payload.subarray(13),
      });
    } else if (type === RecordType.hash) {
      this.fingerprinter.recordScannedDigest(payload.readUInt32LE(0), payload.subarray(4, 20).toString('hex'));
    } else if (type === RecordType.end) {
      this.ended = true;
    } else if (type !== RecordType.raw) {
      throw new Error(`dbkeep-tee wrote a record of unknown type ${type}`);
    }
  }
}
