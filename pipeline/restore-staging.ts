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
/**
 * A table's INSERTs become a LOAD DATA only from this much SQL on: a load is one more client
 * session, which costs more than it saves on a small table. Until then its statements are held.
 */
export const LOAD_DATA_MIN_BYTES = 1024 * 1024;

/** A part of a segment, applied in order in its session slot (pipeline/parallel-apply.ts). */
export type SegmentPart =
  | { kind: 'sql'; file: string }
  /** `file` holds the session's settings and the LOAD DATA statement (domain/load-data-rows.ts) that reads `dataFile`. */
  | { kind: 'load'; file: string; dataFile: string; table: string; rows: number };

/** A segment staged as files. */
export interface StagedSegmentFile extends StagedSegment {
  parts: SegmentPart[];
}

interface OpenSegment extends StagedSegmentFile {
  /** The SQL part being written, the last of `parts`. */
  handle: FileHandle;
  /** Whether that part holds more than its session preamble. */
  partHasStatements: boolean;
}

/** A run of one table's INSERT statements being turned into rows for LOAD DATA. */
interface LoadRun {
  quotedTable: string;
  columns: string;
  dataFile: string;
  handle: FileHandle;
  rows: number;
}

/**
 * What a table segment does with the table it is in: its `CREATE TABLE` says whether LOAD DATA
 * reads its columns alike; its INSERTs are held until they are worth a load, then loaded.
 */
interface TableData {
  createTable: string[] | undefined;
  loadable: boolean;
  /** Complete INSERT statements held back, and the lines of the one being read. */
  held: Buffer[];
  heldBytes: number;
  statement: Buffer[];
  statementBytes: number;
  run: LoadRun | undefined;
}

const noTableData = (): TableData => ({
  createTable: undefined,
  loadable: false,
  held: [],
  heldBytes: 0,
  statement: [],
  statementBytes: 0,
  run: undefined,
});

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
 * The end of the staging pipeline: reads the decompressed dump line by line (DumpSegmenter
 * decides where segments start) and writes each segment, its session preamble first, into files
 * of its own, handing every complete segment to `onSegment` in dump order. Lines are gathered
 * per chunk and written in one go. The files hold plain SQL: compressing them cost more CPU
 * than the apply could spare on a small machine, and each is removed once applied.
 *
 * With `loadData`, a table's INSERT statements (from LOAD_DATA_MIN_BYTES of them on) are
 * written as rows for LOAD DATA instead, in a part of their own, between the SQL before them
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
    const handles = [this.current?.handle, this.table.run?.handle];
    this.current = undefined;
    this.table = noTableData();
    void Promise.all(handles.map((handle) => handle?.close().catch(() => undefined))).then(() => callback(error));
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
    } else if (start?.table) {
      await this.endTableData();
      this.table = noTableData();
      this.current!.tables.push(start.table);
    }
    if (!this.segmenter.keeps(line)) return;
    this.current!.rawBytes += line.length;
    if (this.loadData && this.current!.kind === 'table' && (await this.tookAsTableData(line))) return;
    this.writeSql(line);
  }

  private writeSql(line: Buffer): void {
    this.batch.push(line);
    this.current!.partHasStatements = true;
  }

  /** Serial segments in a row are one session; small tables in a row share one. */
  private continues(current: OpenSegment, start: SegmentStart): boolean {
    if (current.kind !== start.kind) return false;
    return start.kind === 'serial' || current.rawBytes < this.groupBytes;
  }

  private async open(start: SegmentStart): Promise<void> {
    const part = await this.openSqlPart(start.kind);
    this.current = {
      kind: start.kind,
      rawBytes: part.preambleBytes,
      tables: start.table ? [start.table] : [],
      parts: [{ kind: 'sql', file: part.file }],
      handle: part.handle,
      partHasStatements: false,
    };
  }

  /** A new SQL part's file, its session preamble (the header's settings and the current USE) queued first. */
  private async openSqlPart(kind: SegmentStart['kind']): Promise<{ file: string; handle: FileHandle; preambleBytes: number }> {
    const file = this.nextFile(`${kind}.sql`);
    const handle = await open(file, 'wx', 0o600);
    const preamble = this.segmenter.sessionPreamble();
    if (preamble.length > 0) this.batch.push(preamble);
    return { file, handle, preambleBytes: preamble.length };
  }

  private nextFile(suffix: string): string {
    return path.join(this.dir, `${String(this.count++).padStart(6, '0')}-${suffix}`);
  }

  private async flush(): Promise<void> {
    if (this.current === undefined || this.batch.length === 0) return;
    const bytes = Buffer.concat(this.batch);
    this.batch = [];
    await this.current.handle.write(bytes);
  }

  private async close(): Promise<void> {
    if (this.current === undefined) return;
    await this.endTableData();
    this.table = noTableData();
    await this.flush();
    const { handle, partHasStatements, ...segment } = this.current;
    this.current = undefined;
    await handle.close();
    if (!partHasStatements && segment.parts.length > 1) await this.dropLastPart(segment);
    this.onSegment(segment);
  }

  /** A SQL part after a load that got nothing but its preamble is not worth a client session. */
  private async dropLastPart(segment: StagedSegmentFile): Promise<void> {
    const last = segment.parts.pop()!;
    await rm(last.file, { force: true });
  }

  /**
   * Takes a line of a table segment when it belongs to its table's data: a `CREATE TABLE` is
   * read (and written), an INSERT statement's lines are held or loaded. Any other line ends the
   * table's data.
   */
  private async tookAsTableData(line: Buffer): Promise<boolean> {
    const table = this.table;
    if (table.statement.length > 0 || (table.loadable && line.subarray(0, 13).toString('latin1') === 'INSERT INTO `')) {
      table.statement.push(line);
      table.statementBytes += line.length;
      // A statement's last line ends in `;`: strings hold no raw newline, and every row starts its line.
      if (endsStatement(line)) await this.takeStatement();
      else if (table.statementBytes > STATEMENT_LIMIT_BYTES) await this.giveUpLoading([]);
      return true;
    }
    await this.endTableData();
    if (line.subarray(0, 13).toString('latin1') === 'CREATE TABLE ') table.createTable = [];
    if (table.createTable !== undefined) {
      table.createTable.push(line.toString('utf8'));
      if (endsStatement(line)) {
        table.loadable = this.segmenter.characterSet() !== undefined && loadDataReadsTableAlike(table.createTable.join(''));
        table.createTable = undefined;
      }
    }
    return false;
  }

  private async takeStatement(): Promise<void> {
    const table = this.table;
    const statement = table.statement.length === 1 ? table.statement[0]! : Buffer.concat(table.statement);
    table.statement = [];
    table.statementBytes = 0;
    if (table.run === undefined) {
      table.held.push(statement);
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
    if (!(await this.load(statement))) await this.giveUpLoading([statement]);
  }

  /** Adds a statement's rows to the table's load; false when LOAD DATA would read them differently. */
  private async load(statement: Buffer): Promise<boolean> {
    const rows = insertToLoadDataRows(statement);
    const table = this.table;
    if (rows === undefined) return false;
    if (table.run && (table.run.quotedTable !== rows.quotedTable || table.run.columns !== rows.columns)) await this.endLoadRun();
    if (table.run === undefined) {
      const dataFile = this.nextFile('rows.tsv');
      table.run = { quotedTable: rows.quotedTable, columns: rows.columns, dataFile, handle: await open(dataFile, 'wx', 0o600), rows: 0 };
    }
    await table.run.handle.write(rows.rows);
    table.run.rows += rows.rowCount;
    return true;
  }

  /** The rest of the table's statements (and the one being read) stay SQL, after what was loaded so far. */
  private async giveUpLoading(statements: Buffer[]): Promise<void> {
    await this.endLoadRun();
    const table = this.table;
    table.loadable = false;
    for (const statement of [...statements, ...table.statement]) this.writeSql(statement);
    table.statement = [];
    table.statementBytes = 0;
  }

  /** The table's data ended: held statements are written as SQL, before a load run that becomes a part. */
  private async endTableData(): Promise<void> {
    const table = this.table;
    if (table.run) await this.endLoadRun();
    for (const line of [...table.held, ...table.statement]) this.writeSql(line);
    table.held = [];
    table.heldBytes = 0;
    table.statement = [];
    table.statementBytes = 0;
  }

  /**
   * Closes the SQL part before the load and the load's rows, writes the load's statement file,
   * and opens the SQL part that follows it.
   */
  private async endLoadRun(): Promise<void> {
    const run = this.table.run;
    const current = this.current;
    if (run === undefined || current === undefined) return;
    this.table.run = undefined;
    await run.handle.close();
    await this.flush();
    await current.handle.close();
    if (!current.partHasStatements) await this.dropLastPart(current);
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
    const next = await this.openSqlPart('table');
    current.parts.push({ kind: 'sql', file: next.file });
    current.handle = next.handle;
    current.partHasStatements = false;
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
  /** Big tables' INSERTs become LOAD DATA (only for a target that takes it: see loadDataApplies). */
  loadData: boolean;
  controller: AbortController;
  progress: Progress;
}): Promise<StreamedObject> {
  const sink = new SegmentWriter(params.dir, params.groupBytes, params.onSegment, params.loadData);
  return streamRepositoryToSink({ ...params, sink });
}
