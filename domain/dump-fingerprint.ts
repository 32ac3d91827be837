import { createHash, type Hash } from 'node:crypto';
import { z } from 'zod';
import { DumpByte } from './dump-bytes';
import { Sha256TableDataHashes, Xxh128TableDataHashes, type TableDataHashes } from './table-data-hashes';

/**
 * A logical dump's fingerprint, read from the dump stream itself as it leaves the dump tool:
 * per table its row count and the SHA-256 of its INSERT statements, and per object (a table's
 * definition and triggers, a view, the database's routines, its events) the SHA-256 of what
 * the dump says about it. Nothing is asked of the source, so it costs the source nothing.
 *
 * A restore drill dumps the restored copy again with the same tool and options and reads it the
 * same way: equal fingerprints mean the restored databases hold exactly the rows and objects the
 * backup read. Comment lines (the dump's date, host, server version, binary log position) and
 * blank lines are left out; everything else the dump writes is part of it, in the dump's order.
 *
 * Format 2 leaves out what differs between two servers holding the same data, which only
 * MySQL's dumps show: the statements on the server's GTID state and
 * binary logging (SET @@GLOBAL.GTID_PURGED, SQL_LOG_BIN; a scratch server has no GTIDs), and a
 * column's `CHARACTER SET x` before its `COLLATE x_…` (the collation names its character set;
 * MySQL writes the redundant form for a table created from its own SHOW CREATE TABLE).
 *
 * Format 3 reads a table's name in its INSERT statements as UTF-8, as the section comments are
 * read: formats 1 and 2 read it byte by byte, so the rows of a table whose name is not ASCII were
 * counted under a garbled name, beside an empty entry under its own.
 *
 * Format 4 (what backups record now) hashes each table's rows with XXH3-128 instead of SHA-256
 * (domain/table-data-hashes.ts): at a gigabyte, SHA-256 was 0.76 s of the worker's CPU and
 * XXH3-128 is 0.18 s. Definitions keep SHA-256: they are small.
 *
 * A drill reads the restored copy in the format its snapshot's fingerprint was recorded in.
 *
 * A backup's fingerprint has its INSERT statements read in C (pipeline/native/dump-scan.c,
 * format 4 only): the reader is then given the dump without them, and each statement's table,
 * rows and, at the end, each table's hash (pushScannedStatement, recordScannedDigest). Both
 * readers give the same fingerprint: test/unit/dump-scan-records.test.ts reads dumps both ways.
 */
export const DUMP_FINGERPRINT_FORMAT = 4;

const tableFingerprintSchema = z.union([
  z.strictObject({ rows: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  z.strictObject({ rows: z.number().int().min(0), xxh128: z.string().regex(/^[0-9a-f]{32}$/) }),
]);

export const dumpFingerprintSchema = z.object({
  formatVersion: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]),
  /** The dump tool's options that shaped its output (domain/tool-commands.ts dumpOutputArgs): a drill's dump of the restored copy uses them too. */
  dumpArgs: z.array(z.string()).default([]),
  /** `database.table` → its rows and the hash of its data: SHA-256 up to format 3, XXH3-128 from format 4. */
  tables: z.record(z.string(), tableFingerprintSchema),
  /** `database: table t`, `database: view v`, `database: routines`, `database: events` → the hash of its definition. */
  definitions: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
});
export type DumpFingerprint = z.infer<typeof dumpFingerprintSchema>;

const { newline: NEWLINE, quote: QUOTE, backslash: BACKSLASH, open: OPEN, semicolon: SEMICOLON } = DumpByte;
const QUOTE_CHARACTER = String.fromCharCode(QUOTE);
const OPEN_CHARACTER = String.fromCharCode(OPEN);
const SEMICOLON_CHARACTER = String.fromCharCode(SEMICOLON);
const NOT_SEARCHED = -2;
/** A line's start is kept until it says what it is: long enough for `INSERT INTO`, a name and a column list. */
const LINE_HEAD_BYTES = 64 * 1024;
// mariadb-dump lists the columns when a table has invisible ones: `INSERT INTO `t` (`a`, `b`) VALUES`.
const INSERT_LINE = /^INSERT INTO `((?:[^`]|``)+)`.*? VALUES/;
const IDENTIFIER = /`((?:[^`]|``)+)`/;
// Format 2: the server's GTID state and binary logging, not the data's.
const REPLICATION_STATE_LINE = /^(?:SET @@GLOBAL\.GTID_PURGED|SET @@SESSION\.SQL_LOG_BIN|SET @MYSQL_SQL_LOG_BIN)\b/i;
const REDUNDANT_CHARACTER_SET = / CHARACTER SET ([A-Za-z0-9]+) COLLATE (\1_[A-Za-z0-9_]+)/g;

type Mode =
  | { kind: 'line-start' }
  /** The first bytes of a line, until it can be classified. */
  | { kind: 'head'; bytes: Buffer[]; length: number }
  /** The rest of a line that is not an INSERT: hashed into the current section, or dropped (a comment, format 2's replication state). */
  | { kind: 'rest'; comment: boolean; dropped?: boolean }
  /** Inside an INSERT statement's values. */
  | { kind: 'insert'; table: string; inQuote: boolean; escaped: boolean };

/**
 * Reads a dump in chunks of any size and returns its fingerprint at the end. Memory: one line's
 * head and a hash per object. A chunk is read during `push` only; its memory may be reused after.
 */
export class DumpFingerprinter {
  private constructor(
    private readonly formatVersion: DumpFingerprint['formatVersion'],
    private readonly tableHashes: TableDataHashes,
  ) {}

  /** `formatVersion`: a drill reads the restored copy in the format of the fingerprint it compares with. */
  static async create(formatVersion: DumpFingerprint['formatVersion'] = DUMP_FINGERPRINT_FORMAT): Promise<DumpFingerprinter> {
    const hashes = formatVersion >= 4 ? await Xxh128TableDataHashes.create() : new Sha256TableDataHashes();
    return new DumpFingerprinter(formatVersion, hashes);
  }

  private mode: Mode = { kind: 'line-start' };
  private database = '';
  /** The section the lines that are not INSERTs belong to; none before the first marker (the dump's header). */
  private section: string | undefined;
  /** Each table's rows so far; its data's hash is in tableHashes. */
  private readonly tableRows = new Map<string, number>();
  private readonly definitions = new Map<string, Hash>();
  /** A comment line's text, for the section markers. */
  private comment = '';
  /** The tables whose statements were read in C, by the scan's id, and the hashes it gave. */
  private readonly scannedTables = new Map<number, string>();
  private readonly scannedTableNames = new Set<string>();
  private readonly scannedDigests = new Map<string, string>();
  /** The tables whose statements were read here: a table is read one way or the other, never both. */
  private readonly tablesReadHere = new Set<string>();

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const mode = this.mode;
      switch (mode.kind) {
        case 'line-start':
          this.mode = { kind: 'head', bytes: [], length: 0 };
          break;
        case 'head':
          at = this.readHead(mode, chunk, at);
          break;
        case 'rest':
          at = this.readRest(mode, chunk, at);
          break;
        case 'insert':
          at = this.readInsert(mode, chunk, at);
          break;
      }
    }
  }

  /**
   * An INSERT statement read in C where the next line starts: `rows` rows of table `name` (the
   * statement's, as bytes), in the scan's table `id`; `ended` when it ended with its `;`.
   */
  pushScannedStatement(statement: { id: number; name: Buffer; rows: number; ended: boolean }): void {
    if (this.formatVersion !== 4) throw new Error(`the native dump scan reads fingerprint format 4, not ${this.formatVersion}`);
    if (this.mode.kind !== 'line-start' || this.section === undefined) {
      throw new Error('the native dump scan read an INSERT statement where the fingerprint expects none (a defect)');
    }
    let table = this.scannedTables.get(statement.id);
    if (table === undefined) {
      table = this.tableNamed(statement.name.toString('latin1'));
      if (this.tablesReadHere.has(table) || this.scannedTableNames.has(table)) {
        throw new Error(`the native dump scan and the fingerprint disagree on the statements of table ${table} (a defect)`);
      }
      this.scannedTables.set(statement.id, table);
      this.scannedTableNames.add(table);
    }
    this.countRows(table, statement.rows);
    this.mode = statement.ended ? { kind: 'rest', comment: false } : { kind: 'insert', table, inQuote: false, escaped: false };
  }

  /** The XXH3-128 (hex) of the statements of the scan's table `id`, once the dump ended. */
  recordScannedDigest(id: number, digest: string): void {
    const table = this.scannedTables.get(id);
    if (table === undefined) throw new Error(`the native dump scan gave the hash of table ${id}, which it never named (a defect)`);
    this.scannedDigests.set(table, digest);
  }

  /** The fingerprint of everything pushed; a line without its newline at the end counts as complete. */
  result(dumpArgs: readonly string[] = []): DumpFingerprint {
    if (this.mode.kind === 'head') this.classify(this.mode);
    if (this.mode.kind === 'rest' && this.mode.comment) this.endComment();
    const tables: DumpFingerprint['tables'] = {};
    const algorithm = this.tableHashes.algorithm;
    for (const [name, rows] of [...this.tableRows].sort(([a], [b]) => a.localeCompare(b))) {
      const digest = this.scannedDigests.get(name) ?? this.tableHashes.digest(name);
      tables[name] = algorithm === 'sha256' ? { rows, sha256: digest } : { rows, xxh128: digest };
    }
    const definitions: DumpFingerprint['definitions'] = {};
    for (const [name, hash] of [...this.definitions].sort(([a], [b]) => a.localeCompare(b))) {
      definitions[name] = hash.copy().digest('hex');
    }
    return { formatVersion: this.formatVersion, dumpArgs: [...dumpArgs], tables, definitions };
  }

  private readHead(mode: Extract<Mode, { kind: 'head' }>, chunk: Buffer, at: number): number {
    const newline = chunk.indexOf(NEWLINE, at);
    const end = Math.min(newline === -1 ? chunk.length : newline, at + LINE_HEAD_BYTES - mode.length);
    // A copy: the chunk's memory is read into again once push returns (pipeline/dump-scan.ts).
    mode.bytes.push(Buffer.from(chunk.subarray(at, end)));
    mode.length += end - at;
    if (end === newline || mode.length >= LINE_HEAD_BYTES) this.classify(mode);
    return end;
  }

  /** Decides what the line is from its head, then feeds the head to what reads the rest. */
  private classify(mode: Extract<Mode, { kind: 'head' }>): void {
    const head = Buffer.concat(mode.bytes, mode.length);
    const text = head.toString('latin1');
    const insert = INSERT_LINE.exec(text);
    if (insert && this.section !== undefined) {
      const table = this.tableNamed(insert[1]!.replace(/``/g, '`'));
      if (!this.tablesReadHere.has(table)) {
        if (this.scannedTableNames.has(table)) {
          throw new Error(`the native dump scan and the fingerprint disagree on the statements of table ${table} (a defect)`);
        }
        this.tablesReadHere.add(table);
      }
      // The rows are counted from VALUES on: a column list's parentheses are no row.
      const values = Buffer.byteLength(insert[0], 'latin1');
      this.countRows(table, 0);
      this.tableHashes.update(table, head.subarray(0, values));
      this.mode = { kind: 'insert', table, inQuote: false, escaped: false };
      this.readInsert(this.mode, head, values);
      return;
    }
    // Blank lines go with the comments: --master-data wraps its comment in them.
    const comment = text.startsWith('--') || (head.length < LINE_HEAD_BYTES && text.trim() === '');
    if (comment || this.formatVersion === 1 || head.length >= LINE_HEAD_BYTES) {
      this.mode = { kind: 'rest', comment };
      if (comment) this.comment = '';
      this.readRest(this.mode, head, 0);
      return;
    }
    // Format 2, a whole line: its newline is all that is left of it.
    this.mode = { kind: 'rest', comment: false, dropped: REPLICATION_STATE_LINE.test(text) };
    const normalized = text.replace(REDUNDANT_CHARACTER_SET, ' COLLATE $2');
    this.readRest(this.mode, normalized === text ? head : Buffer.from(normalized, 'latin1'), 0);
  }

  private readRest(mode: Extract<Mode, { kind: 'rest' }>, chunk: Buffer, at: number): number {
    const newline = chunk.indexOf(NEWLINE, at);
    const end = newline === -1 ? chunk.length : newline + 1;
    if (mode.comment) {
      if (this.comment.length < LINE_HEAD_BYTES) this.comment += chunk.subarray(at, Math.min(end, at + LINE_HEAD_BYTES)).toString('utf8');
    } else if (this.section !== undefined && !mode.dropped) {
      this.definitionOf(this.section).update(chunk.subarray(at, end));
    }
    if (newline !== -1) {
      if (mode.comment) this.endComment();
      this.mode = { kind: 'line-start' };
    }
    return end;
  }

  /**
   * Counts the rows of an INSERT and hashes it, up to its `;`. Its values are literals, so
   * outside a string a `(` opens a row and a `;` ends the statement. They and the quotes are
   * found by the search of a latin1 string of the chunk (one character per byte), not byte by
   * byte in JavaScript: a row costs a few native searches, whatever its length. A string ends at
   * a quote after an even run of backslashes (each `\\` pair is one escaped backslash). State
   * lives in locals while a chunk is read.
   */
  private readInsert(mode: Extract<Mode, { kind: 'insert' }>, chunk: Buffer, at: number): number {
    const text = chunk.toString('latin1', at);
    const length = text.length;
    let { inQuote, escaped } = mode;
    let rows = 0;
    let i = 0;
    let ended = false;
    // The next `(` and `;` at or after i: -1 when there is none, NOT_SEARCHED before the first search.
    let nextOpen = NOT_SEARCHED;
    let nextEnd = NOT_SEARCHED;
    while (i < length) {
      if (inQuote) {
        if (escaped) {
          escaped = false;
          i += 1;
          continue;
        }
        const quote = text.indexOf(QUOTE_CHARACTER, i);
        const runEnd = quote === -1 ? length : quote;
        let run = 0;
        while (runEnd - run - 1 >= i && text.charCodeAt(runEnd - run - 1) === BACKSLASH) run += 1;
        if (quote === -1) {
          // The string goes on in the next chunk; a trailing odd backslash escapes its first byte.
          escaped = run % 2 === 1;
          i = length;
        } else {
          if (run % 2 === 0) inQuote = false;
          i = quote + 1;
        }
        continue;
      }
      const quote = text.indexOf(QUOTE_CHARACTER, i);
      const stringStart = quote === -1 ? length : quote;
      // Found earlier inside the string just passed: no row, no end. Search again from here.
      if (nextOpen !== -1 && nextOpen < i) nextOpen = text.indexOf(OPEN_CHARACTER, i);
      if (nextEnd !== -1 && nextEnd < i) nextEnd = text.indexOf(SEMICOLON_CHARACTER, i);
      const end = nextEnd !== -1 && nextEnd < stringStart ? nextEnd : -1;
      const segmentEnd = end === -1 ? stringStart : end;
      while (nextOpen !== -1 && nextOpen < segmentEnd) {
        rows += 1;
        nextOpen = text.indexOf(OPEN_CHARACTER, nextOpen + 1);
      }
      if (end !== -1) {
        ended = true;
        i = end + 1;
        break;
      }
      inQuote = quote !== -1;
      i = stringStart + 1;
    }
    this.countRows(mode.table, rows);
    const read = Math.min(i, length);
    this.tableHashes.update(mode.table, chunk.subarray(at, at + read));
    // What follows the `;` on its line (its newline) is read as the rest of a line.
    if (ended) this.mode = { kind: 'rest', comment: false };
    else Object.assign(mode, { inQuote, escaped });
    return at + read;
  }

  /** `database.table` for a name as an INSERT statement gives it, one byte per character. */
  private tableNamed(name: string): string {
    return `${this.database}.${this.formatVersion >= 3 ? Buffer.from(name, 'latin1').toString('utf8') : name}`;
  }

  /** Section markers, as mysqldump and mariadb-dump write them. */
  private endComment(): void {
    const text = this.comment.trim();
    const name = IDENTIFIER.exec(text)?.[1]?.replace(/``/g, '`');
    if (text.startsWith('-- Current Database:') && name !== undefined) {
      this.database = name;
      this.section = `${name}: database`;
    } else if (/^-- (Table structure|Dumping data) for table /.test(text) && name !== undefined) {
      this.section = `${this.database}: table ${name}`;
      if (text.startsWith('-- Dumping data')) this.countRows(`${this.database}.${name}`, 0);
    } else if (/^-- Temporary (table|view) structure for view /.test(text) && name !== undefined) {
      this.section = `${this.database}: view ${name} (placeholder)`;
    } else if (text.startsWith('-- Final view structure for view ') && name !== undefined) {
      this.section = `${this.database}: view ${name}`;
    } else if (text.startsWith('-- Dumping events for database ')) {
      this.section = `${this.database}: events`;
    } else if (text.startsWith('-- Dumping routines for database ')) {
      this.section = `${this.database}: routines`;
    }
  }

  /** Adds rows to a table's count; with 0, lists the table (an empty one is part of the fingerprint). */
  private countRows(table: string, rows: number): void {
    this.tableRows.set(table, (this.tableRows.get(table) ?? 0) + rows);
  }

  private definitionOf(section: string): Hash {
    let hash = this.definitions.get(section);
    if (!hash) this.definitions.set(section, (hash = createHash('sha256')));
    return hash;
  }
}

/** What differs between the fingerprint recorded at backup time and a restored copy's, one line per table or object. */
export function fingerprintDifferences(recorded: DumpFingerprint, restored: DumpFingerprint): string[] {
  const differences: string[] = [];
  for (const name of new Set([...Object.keys(recorded.tables), ...Object.keys(restored.tables)])) {
    const [want, got] = [recorded.tables[name], restored.tables[name]];
    if (!got) differences.push(`table ${name}: missing after the restore`);
    else if (!want) differences.push(`table ${name}: not in the snapshot's fingerprint`);
    else if (want.rows !== got.rows) differences.push(`table ${name}: ${got.rows} rows, ${want.rows} recorded`);
    else if (tableDigest(want) !== tableDigest(got)) differences.push(`table ${name}: same ${want.rows} rows, different data`);
  }
  for (const name of new Set([...Object.keys(recorded.definitions), ...Object.keys(restored.definitions)])) {
    const [want, got] = [recorded.definitions[name], restored.definitions[name]];
    if (want !== got)
      differences.push(`${name}: ${!got ? 'missing after the restore' : !want ? 'not in the snapshot' : 'definition differs'}`);
  }
  return differences.sort();
}

function tableDigest(table: DumpFingerprint['tables'][string]): string {
  return 'sha256' in table ? `sha256:${table.sha256}` : `xxh128:${table.xxh128}`;
}
