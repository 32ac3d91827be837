import { open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Transform } from 'node:stream';
import { DumpSegmenter, type SegmentStart, type StagedSegment } from '../domain/dump-segments';
import { insertToLoadDataRows, loadDataReadsTableAlike, loadDataStatements } from '../domain/load-data-rows';
import type { Progress } from '../domain/progress';
import type { ToolCommand } from '../domain/tool-commands';
import type { Storage } from '../storage/storage';
import { streamRepositoryToSink, type StreamedObject } from './stream-pipelines';
import { DumpByte } from '../domain/dump-bytes';

/**
 * Consecutive table segments share a file until it holds this much SQL: a schema of thousands
 * of small tables then needs tens of files and client sessions, not thousands, while tables
 * large enough to matter get a session of their own. A small dump gets small groups (an eighth
 * of a session's share), so that its tables still spread over the sessions.
 */
export function tableGroupBytes(dumpRawBytes: number, sessions: number): number {
  return Math.min(16 * 1024 * 1024, Math.max(256 * 1024, Math.floor(dumpRawBytes / (sessions * 8))));
}

const { newline: NEWLINE, semicolon: SEMICOLON } = DumpByte;
const STATEMENT_END = Buffer.from(';\n', 'latin1');
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
  /** `file` holds the session's settings and the LOAD DATA statement (domain/load-data-rows.ts) that reads `dataFile`. */
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

interface OpenSegment extends StagedSegmentFile {
  /** The SQL part being written, and whether it holds more than its session preamble. */
  sql: { file: string; handle: FileHandle; bytes: number; hasStatements: boolean };
}

/** A run of one table's INSERT statements being turned into rows for LOAD DATA. */
interface LoadRun {
  quotedTable: string;
  columns: string;
  dataFile: string;
  handle: FileHandle;
  rows: number;
  bytes: number;
}

/**
 * What a table segment knows of the table it is in: its `CREATE TABLE` says whether LOAD DATA
 * reads its columns alike; its INSERTs are held until they are worth a load, then loaded.
 */
interface TableData {
  createTable: string[] | undefined;
  loadable: boolean;
  held: Buffer[];
  heldBytes: number;
  run: LoadRun | undefined;
}

const noTableData = (): TableData => ({ createTable: undefined, loadable: false, held: [], heldBytes: 0, run: undefined });

/** An INSERT statement being read: its pieces, and whether it may become rows for LOAD DATA. */
interface OpenStatement {
  pieces: Buffer[];
  bytes: number;
  lastByte: number | undefined;
  loadable: boolean;
}

/**
 * The end of the staging pipeline: reads the decompressed dump (DumpSegmenter decides where
 * segments start) and writes each segment, its session preamble first, into files of its own,
 * handing every segment to `onSegment` in dump order as it starts and its parts as they are
 * complete. The files hold plain SQL: compressing them cost more CPU than the apply could spare
 * on a small machine, and each is removed once applied.
 *
 * Lines are read one by one, except an INSERT statement's: mariadb-dump puts every row on a line
 * of its own, but no statement is found inside one, so the reader jumps from its first line to
 * its end (`;` and a newline: strings hold no raw newline).
 *
 * With `loadData`, a table's INSERT statements (from LOAD_DATA_MIN_BYTES of them on) are
 * written as rows for LOAD DATA instead, in parts of their own, between the SQL before them
 * (the table's definition) and the SQL after (its triggers); statements LOAD DATA would read
 * differently stay SQL.
 */
class SegmentWriter extends Writable {
  private readonly segmenter = new DumpSegmenter();
  private current: OpenSegment | undefined;
  private count = 0;
  private batch: Buffer[] = [];
  private pending: Buffer[] = [];
  private table: TableData = noTableData();
  private statement: OpenStatement | undefined;
  /**
   * Where a statement's pieces are joined, and its rows written before they go to their file
   * (domain/load-data-rows.ts): reused, since a megabyte allocated per statement kept the
   * worker's garbage collector busy. What is kept beyond the statement is copied out.
   */
  private statementScratch = Buffer.alloc(0);
  private rowsScratch = Buffer.alloc(0);

  constructor(
    private readonly dir: string,
    private readonly groupBytes: number,
    private readonly onSegment: (segment: StagedSegmentFile) => void,
    private readonly loadData: boolean,
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
    const handles = [this.current?.sql.handle, this.table.run?.handle];
    this.current?.parts.fail(error ?? new Error('the staging stopped'));
    this.current = undefined;
    this.table = noTableData();
    void Promise.all(handles.map((handle) => handle?.close().catch(() => undefined))).then(() => callback(error));
  }

  /**
   * An unfinished line's pieces are kept apart until its newline comes, so that no chunk is
   * joined onto the pieces before it over and over.
   */
  private async consume(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.statement) {
        at = await this.readStatement(this.statement, chunk, at);
        continue;
      }
      const newline = chunk.indexOf(NEWLINE, at);
      if (newline === -1) {
        // The rest of the chunk starts the next line; a view of it keeps the chunk alive until then.
        this.pending.push(chunk.subarray(at));
        break;
      }
      const tail = chunk.subarray(at, newline + 1);
      at = newline + 1;
      const line = this.pending.length > 0 ? Buffer.concat([...this.pending, tail]) : tail;
      this.pending = [];
      await this.line(line);
    }
    await this.flush();
  }

  private async finish(): Promise<void> {
    if (this.pending.length > 0) await this.line(Buffer.concat(this.pending));
    if (this.statement) await this.endStatement(this.statement);
    await this.close();
  }

  private async line(line: Buffer): Promise<void> {
    // The first segment opens before the segmenter reads anything: its preamble is empty.
    if (this.current === undefined) await this.open({ kind: 'serial' });
    const start = this.segmenter.read(line);
    if (start && !this.continues(this.current!, start)) {
      await this.close();
      await this.open(start);
    } else if (start?.table) {
      await this.endTableData();
      this.table = noTableData();
      this.current!.tables.push(start.table);
    }
    if (!this.segmenter.keeps(line)) return;
    this.current!.rawBytes += line.length;
    if (line.subarray(0, 12).toString('latin1') === 'INSERT INTO ' && !this.segmenter.inStoredProgramBody) {
      const statement: OpenStatement = { pieces: [], bytes: 0, lastByte: undefined, loadable: this.tableTakesLoads() };
      this.addToStatement(statement, line);
      if (endsStatement(line)) await this.endStatement(statement);
      else this.statement = statement;
      return;
    }
    if (this.current!.kind === 'table') await this.tableLine(line);
    this.writeSql(line);
  }

  /** Reads an INSERT statement's bytes up to its end (`;` and a newline); returns where the chunk goes on. */
  private async readStatement(statement: OpenStatement, chunk: Buffer, at: number): Promise<number> {
    const found = statement.lastByte === SEMICOLON && chunk[at] === NEWLINE ? at - 1 : chunk.indexOf(STATEMENT_END, at);
    const end = found === -1 ? chunk.length : found + 2;
    this.addToStatement(statement, chunk.subarray(at, end));
    this.current!.rawBytes += end - at;
    if (found !== -1) await this.endStatement(statement);
    // A statement too long to be the dump tools' (they cut theirs at net_buffer_length) is not held.
    else if (statement.loadable && statement.bytes > STATEMENT_LIMIT_BYTES) await this.giveUpLoading([]);
    return end;
  }

  /** A statement that may become rows is held until its end; any other is written as it comes. */
  private addToStatement(statement: OpenStatement, piece: Buffer): void {
    statement.lastByte = piece.at(-1);
    if (!statement.loadable) return this.writeSql(piece);
    statement.pieces.push(piece);
    statement.bytes += piece.length;
  }

  private async endStatement(statement: OpenStatement): Promise<void> {
    this.statement = undefined;
    if (statement.loadable) await this.takeStatement(statement.pieces.length === 1 ? statement.pieces[0]! : this.joined(statement));
    await this.rotateSqlPartWhenFull();
  }

  private tableTakesLoads(): boolean {
    return this.loadData && this.current!.kind === 'table' && this.table.loadable;
  }

  private writeSql(bytes: Buffer): void {
    this.batch.push(bytes);
    this.current!.sql.bytes += bytes.length;
    this.current!.sql.hasStatements = true;
  }

  /** Serial segments in a row are one session; small tables in a row share one. */
  private continues(current: OpenSegment, start: SegmentStart): boolean {
    if (current.kind !== start.kind) return false;
    return start.kind === 'serial' || current.rawBytes < this.groupBytes;
  }

  private async open(start: SegmentStart): Promise<void> {
    const sql = await this.openSqlPart(start.kind);
    this.current = { kind: start.kind, rawBytes: sql.bytes, tables: start.table ? [start.table] : [], parts: new StagedParts(), sql };
    this.onSegment(this.current);
  }

  /** A new SQL part's file, its session preamble (the header's settings and the current USE) queued first. */
  private async openSqlPart(kind: SegmentStart['kind']): Promise<OpenSegment['sql']> {
    const file = this.nextFile(`${kind}.sql`);
    const handle = await open(file, 'wx', 0o600);
    const preamble = this.segmenter.sessionPreamble();
    if (preamble.length > 0) this.batch.push(preamble);
    return { file, handle, bytes: preamble.length, hasStatements: false };
  }

  private nextFile(suffix: string): string {
    return path.join(this.dir, `${String(this.count++).padStart(6, '0')}-${suffix}`);
  }

  private async flush(): Promise<void> {
    if (this.current === undefined || this.batch.length === 0) return;
    const bytes = Buffer.concat(this.batch);
    this.batch = [];
    await this.current.sql.handle.write(bytes);
  }

  /**
   * Closes the SQL part being written and hands it over, unless it holds nothing but its
   * preamble (after a load, before the next), which is not worth a client session.
   */
  private async endSqlPart(): Promise<void> {
    const current = this.current!;
    await this.flush();
    await current.sql.handle.close();
    if (current.sql.hasStatements) current.parts.push({ kind: 'sql', file: current.sql.file });
    else await rm(current.sql.file, { force: true });
  }

  /**
   * After a full part's last statement, the next statements of a table segment go into a new
   * part, so this one can be applied. Serial segments stay whole: their session state is theirs
   * (and in a dump without section comments the whole dump is one, whose "header" never ends).
   */
  private async rotateSqlPartWhenFull(): Promise<void> {
    const current = this.current!;
    if (current.kind !== 'table' || current.sql.bytes < PART_BYTES) return;
    await this.endSqlPart();
    current.sql = await this.openSqlPart(current.kind);
  }

  private async close(): Promise<void> {
    const current = this.current;
    if (current === undefined) return;
    await this.endTableData();
    this.table = noTableData();
    await this.endSqlPart();
    this.current = undefined;
    current.parts.close();
  }

  /** A line of a table segment that is no INSERT: it ends the table's data, and a `CREATE TABLE` is read. */
  private async tableLine(line: Buffer): Promise<void> {
    if (!this.loadData) return;
    await this.endTableData();
    const table = this.table;
    if (line.subarray(0, 13).toString('latin1') === 'CREATE TABLE ') table.createTable = [];
    if (table.createTable === undefined) return;
    table.createTable.push(line.toString('utf8'));
    if (endsStatement(line)) {
      table.loadable = this.segmenter.characterSet() !== undefined && loadDataReadsTableAlike(table.createTable.join(''));
      table.createTable = undefined;
    }
  }

  /** The statement's pieces in one buffer, valid until the next statement. */
  private joined(statement: OpenStatement): Buffer {
    if (this.statementScratch.length < statement.bytes) this.statementScratch = Buffer.allocUnsafe(statement.bytes * 2);
    let at = 0;
    for (const piece of statement.pieces) at += piece.copy(this.statementScratch, at);
    return this.statementScratch.subarray(0, at);
  }

  /** `statement` may be a view of the scratch buffer: whatever keeps it is given a copy. */
  private async takeStatement(statement: Buffer): Promise<void> {
    const table = this.table;
    if (table.run === undefined) {
      table.held.push(Buffer.from(statement));
      table.heldBytes += statement.length;
      if (table.heldBytes < LOAD_DATA_MIN_BYTES) return;
      const held = table.held;
      table.held = [];
      table.heldBytes = 0;
      for (const [index, each] of held.entries()) {
        if (!(await this.load(each))) return this.giveUpLoading(held.slice(index));
      }
      return;
    }
    if (!(await this.load(statement))) await this.giveUpLoading([Buffer.from(statement)]);
  }

  /** Adds a statement's rows to the table's load; false when LOAD DATA would read them differently. */
  private async load(statement: Buffer): Promise<boolean> {
    if (this.rowsScratch.length < statement.length * 2) this.rowsScratch = Buffer.allocUnsafe(statement.length * 2);
    const rows = insertToLoadDataRows(statement, this.rowsScratch);
    const table = this.table;
    if (rows === undefined) return false;
    if (table.run && (table.run.quotedTable !== rows.quotedTable || table.run.columns !== rows.columns)) await this.endLoadRun();
    if (table.run === undefined) {
      const dataFile = this.nextFile('rows.tsv');
      const handle = await open(dataFile, 'wx', 0o600);
      table.run = { quotedTable: rows.quotedTable, columns: rows.columns, dataFile, handle, rows: 0, bytes: 0 };
    }
    await table.run.handle.write(rows.rows);
    table.run.rows += rows.rowCount;
    table.run.bytes += rows.rows.length;
    if (table.run.bytes >= PART_BYTES) await this.endLoadRun();
    return true;
  }

  /** The rest of the table's statements (and the one being read) stay SQL, after what was loaded so far. */
  private async giveUpLoading(statements: Buffer[]): Promise<void> {
    await this.endLoadRun();
    this.table.loadable = false;
    for (const statement of [...this.table.held, ...statements]) this.writeSql(statement);
    this.table.held = [];
    this.table.heldBytes = 0;
    const open = this.statement;
    if (open?.loadable) {
      for (const piece of open.pieces) this.writeSql(piece);
      Object.assign(open, { pieces: [], bytes: 0, loadable: false });
    }
  }

  /** The table's data ended: held statements are written as SQL, after a load run that becomes a part. */
  private async endTableData(): Promise<void> {
    const table = this.table;
    if (table.run) await this.endLoadRun();
    for (const statement of table.held) this.writeSql(statement);
    table.held = [];
    table.heldBytes = 0;
  }

  /**
   * Hands over the SQL part before the load, then the load (its rows, and its statement file),
   * and opens the SQL part that follows it.
   */
  private async endLoadRun(): Promise<void> {
    const run = this.table.run;
    const current = this.current;
    if (run === undefined || current === undefined) return;
    this.table.run = undefined;
    await run.handle.close();
    await this.endSqlPart();
    const file = this.nextFile('load.sql');
    const statements = loadDataStatements({
      file: run.dataFile,
      quotedTable: run.quotedTable,
      columns: run.columns,
      characterSet: this.segmenter.characterSet()!,
    });
    await writeFile(file, Buffer.concat([this.segmenter.sessionPreamble(), Buffer.from(statements, 'latin1')]), {
      flag: 'wx',
      mode: 0o600,
    });
    current.parts.push({ kind: 'load', file, dataFile: run.dataFile, table: run.quotedTable.slice(1, -1), rows: run.rows });
    current.sql = await this.openSqlPart('table');
  }
}

/**
 * A longer INSERT stays SQL instead of being held: the dump tools cut theirs at
 * net_buffer_length (1 MiB by default), so only a dump written with unusual options has one.
 */
const STATEMENT_LIMIT_BYTES = 64 * 1024 * 1024;

/** Whether a line (with or without its newline) ends in `;`. */
function endsStatement(line: Buffer): boolean {
  const last = line.at(-1) === NEWLINE ? line.length - 2 : line.length - 1;
  return last >= 0 && line[last] === SEMICOLON;
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
  /** Big tables' INSERTs become LOAD DATA (only for a target that takes it: see loadDataApplies). */
  loadData: boolean;
  controller: AbortController;
  progress: Progress;
}): Promise<StreamedObject> {
  const sink = new SegmentWriter(params.dir, params.groupBytes, params.onSegment, params.loadData);
  return streamRepositoryToSink({ ...params, sink });
}
