import type { ServerIdentity } from './server-flavor';
import { DumpByte } from './dump-bytes';

/**
 * Turns a dump's extended INSERT lines into rows for `LOAD DATA LOCAL INFILE`, which MariaDB
 * applies two to three times faster than the same rows as SQL: the server no longer parses
 * every value as an expression (docs/sessions.md, "LOAD DATA for big tables"). Pure: it sees lines and
 * a table definition, it does no I/O (pipeline/restore-staging.ts writes the files).
 *
 * Only what is written exactly the same both ways is turned: numbers, NULL and plain quoted
 * strings (mariadb-dump and mysqldump escape them with backslashes). A line holding anything else
 * (a hex or bit literal, a `_binary` introducer, a doubled quote from NO_BACKSLASH_ESCAPES) is
 * left as SQL, and so is a table with a column type whose text form is not its value (binary
 * strings, BLOBs, BIT, spatial types).
 *
 * The rows use LOAD DATA's defaults, spelled out in the statement: fields end at a tab, lines at
 * a newline, `\` escapes, `\N` is NULL.
 */

const {
  quote: QUOTE,
  doubleQuote: DOUBLE_QUOTE,
  backslash: BACKSLASH,
  tab: TAB,
  newline: NEWLINE,
  open: OPEN,
  close: CLOSE,
  comma: COMMA,
  semicolon: SEMICOLON,
  space: SPACE,
  carriageReturn: CARRIAGE_RETURN,
} = DumpByte;

// The `VALUES` keyword ends the head; mariadb-dump names the columns when a table has invisible ones.
const INSERT_HEAD = /^INSERT INTO `((?:[^`]|``)+)`(?: (\((?:`(?:[^`]|``)+`(?:, ?)?)+\)))? VALUES\s*/;
/** An escape the server reads the same in a string literal and in LOAD DATA's input: `\0 \b \n \r \t \Z \\`. */
const SAME_ESCAPES = new Set([0x30, 0x62, 0x6e, 0x72, 0x74, 0x5a, BACKSLASH]);
/** The bytes of a number as the dump tools write it (integers, decimals, floats with an exponent): copied as they are. */
const NUMBER_BYTES = new Uint8Array(256);
for (const byte of Buffer.from('0123456789.-+eE', 'latin1')) NUMBER_BYTES[byte] = 1;

export interface LoadDataRows {
  /** The table's name as the dump quotes it, `` `t` ``. */
  quotedTable: string;
  /** The dump's column list, `` (`a`, `b`) ``, or '' for every column in table order. */
  columns: string;
  /** The rows as LOAD DATA reads them, each ending in a newline: a view of `scratch` when one was given. */
  rows: Buffer;
  rowCount: number;
}

/**
 * The rows of one complete INSERT statement (`INSERT INTO … VALUES (…),(…);` and its newline;
 * mariadb-dump 10.11 and later put each row on a line of its own, mysqldump all on one), or
 * undefined when it holds something LOAD DATA would read differently.
 *
 * The rows are written into `scratch` when it is large enough (twice the statement: a raw tab
 * becomes two bytes, everything else shrinks), so a caller that writes them out before the next
 * statement allocates one buffer for all of them instead of one per statement.
 */
export function insertToLoadDataRows(line: Buffer, scratch?: Buffer): LoadDataRows | undefined {
  const head = INSERT_HEAD.exec(line.subarray(0, 64 * 1024).toString('latin1'));
  if (!head) return undefined;
  const out = scratch !== undefined && scratch.length >= line.length * 2 ? scratch : Buffer.allocUnsafe(line.length * 2);
  let written = 0;
  let rowCount = 0;
  let at = Buffer.byteLength(head[0], 'latin1');
  const end = line.length;
  let nextQuote = -2;
  let nextBackslash = -2;
  let nextTab = -2;
  const after = (found: number) => (found === -1 ? end : found);
  for (;;) {
    if (line[at] !== OPEN) return undefined;
    at += 1;
    rowCount += 1;
    for (let field = 0; ; field++) {
      if (field > 0) out[written++] = TAB;
      if (line[at] === QUOTE) {
        at += 1;
        // Copies runs between the bytes that matter, found by native searches remembered until passed.
        for (;;) {
          if (nextQuote < at) nextQuote = after(line.indexOf(QUOTE, at));
          if (nextBackslash < at) nextBackslash = after(line.indexOf(BACKSLASH, at));
          if (nextTab < at) nextTab = after(line.indexOf(TAB, at));
          const stop = Math.min(nextQuote, nextBackslash, nextTab);
          if (stop >= end) return undefined;
          written += line.copy(out, written, at, stop);
          const byte = line[stop]!;
          if (byte === QUOTE) {
            at = stop + 1;
            break;
          }
          if (byte === TAB) {
            out[written++] = BACKSLASH;
            out[written++] = 0x74;
            at = stop + 1;
            continue;
          }
          const escaped = line[stop + 1];
          if (escaped === undefined) return undefined;
          if (escaped === QUOTE || escaped === DOUBLE_QUOTE) out[written++] = escaped;
          else if (SAME_ESCAPES.has(escaped)) {
            out[written++] = BACKSLASH;
            out[written++] = escaped;
          } else return undefined;
          at = stop + 2;
        }
        // A quote right after the closing one is NO_BACKSLASH_ESCAPES's doubled quote.
        if (line[at] === QUOTE) return undefined;
      } else {
        const start = at;
        let numeric = true;
        for (; at < end; at++) {
          const byte = line[at]!;
          if (byte === COMMA || byte === CLOSE) break;
          if (NUMBER_BYTES[byte] !== 1) numeric = false;
        }
        if (numeric && at > start) written += line.copy(out, written, start, at);
        else if (at - start === 4 && line.toString('latin1', start, at) === 'NULL') {
          out[written++] = BACKSLASH;
          out[written++] = 0x4e;
        } else return undefined;
      }
      const separator = line[at];
      if (separator === CLOSE) break;
      if (separator !== COMMA) return undefined;
      at += 1;
    }
    out[written++] = NEWLINE;
    at += 1;
    const next = line[at];
    if (next === SEMICOLON) break;
    if (next !== COMMA) return undefined;
    // mariadb-dump 10.11 and later start every row on a line of its own.
    for (at += 1; line[at] === NEWLINE || line[at] === CARRIAGE_RETURN || line[at] === SPACE;) at += 1;
  }
  // Only the line's end may follow the `;`.
  for (at += 1; at < end; at++) if (line[at] !== NEWLINE && line[at] !== CARRIAGE_RETURN && line[at] !== SPACE) return undefined;
  return { quotedTable: `\`${head[1]!}\``, columns: head[2] ?? '', rows: out.subarray(0, written), rowCount };
}

/**
 * Whether every column of a `CREATE TABLE` statement (as SHOW CREATE TABLE writes it, one column
 * per line) reads the same from LOAD DATA's text as from the dump's literal. Binary strings keep
 * bytes the connection's character set would reinterpret; BIT and spatial values are no text.
 */
export function loadDataReadsTableAlike(createTable: string): boolean {
  const columns = createTable.split('\n').filter((line) => /^\s+`/.test(line));
  if (columns.length === 0) return false;
  return columns.every((line) => {
    const definition = line.replace(/^\s+`(?:[^`]|``)+`\s+/, '').toLowerCase();
    const type = /^[a-z]+/.exec(definition)?.[0] ?? '';
    if (!LOADABLE_TYPES.has(type)) return false;
    // `varchar(10) CHARACTER SET binary`, `char(4) BINARY`-style collations: bytes, not text.
    return !/\bcharacter set binary\b|\bcollate binary\b/.test(definition);
  });
}

const LOADABLE_TYPES = new Set([
  'tinyint',
  'smallint',
  'mediumint',
  'int',
  'integer',
  'bigint',
  'decimal',
  'numeric',
  'float',
  'double',
  'real',
  'char',
  'varchar',
  'tinytext',
  'text',
  'mediumtext',
  'longtext',
  'date',
  'time',
  'datetime',
  'timestamp',
  'year',
  'enum',
  'set',
]);

/** SQL's quoting of a string: what a file name in a LOAD DATA statement needs. */
function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The statement that loads the rows of `file` into the table as the INSERTs would have, in the
 * dump's character set (its `SET NAMES`), then the number of rows it loaded: with LOCAL the
 * server skips a row it cannot insert (a duplicate key) with a warning instead of failing, so
 * the caller compares that number with the rows it wrote.
 */
export function loadDataStatements(params: { file: string; quotedTable: string; columns: string; characterSet: string }): string {
  return (
    `LOAD DATA LOCAL INFILE ${sqlString(params.file)} INTO TABLE ${params.quotedTable} CHARACTER SET ${params.characterSet} ` +
    `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'${params.columns ? ` ${params.columns}` : ''};\n` +
    'SELECT ROW_COUNT();\n'
  );
}

/**
 * Whether a parallel restore into this server turns big tables' INSERTs into LOAD DATA LOCAL:
 * only MariaDB with `local_infile` on (its default; MySQL's is off, and turning it on is the
 * DBA's call, not a restore's), at a release whose InnoDB bulk load into an empty table is fixed
 * (MDEV-34703: 10.11.11, 11.4.5, 11.7.2, as mariadb-import checks), and never a Galera node: one
 * LOAD DATA is one write set, which a big table makes larger than wsrep_max_ws_size.
 */
export function serverTakesLoadData(server: { identity: ServerIdentity; localInfile: boolean; galera: boolean }): boolean {
  if (server.identity.flavor !== 'mariadb' || !server.localInfile || server.galera) return false;
  const [major, minor, patch] = server.identity.release;
  const release = major * 10000 + minor * 100 + patch;
  return release >= 110702 || (release >= 110405 && release < 110500) || (release >= 101111 && release < 101200);
}
