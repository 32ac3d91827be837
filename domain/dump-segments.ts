/**
 * Cuts a mariadb-dump / mysqldump `--databases` dump into segments a parallel restore may apply
 * in separate client sessions. Pure: it sees lines, it does no I/O (pipeline/restore-staging.ts
 * writes the segments, pipeline/parallel-apply.ts schedules and applies them).
 *
 * The dump tools write a comment line before every section, at the start of a line, and escape
 * newlines inside string values, so a line-based reader sees every section start. What it
 * decides:
 * - `table` segments: one table's structure, data and triggers, or a view's stand-in table.
 *   They do not depend on each other (the dump turns unique and foreign key checks off), so
 *   consecutive ones may run at the same time.
 * - `serial` segments: everything else, in order, alone: the header, each database's CREATE
 *   DATABASE and USE, events and routines, the final view definitions (which need every table),
 *   the footer. A dump without section comments (--skip-comments, --compact) is one serial
 *   segment: the restore is then exactly the serial one.
 * Section comments inside a stored program (between `DELIMITER ;;` and `DELIMITER ;`, where the
 * dump tools put every trigger, routine and event body) are not section starts.
 */
export type SegmentKind = 'serial' | 'table';

const TABLE_MARKERS = ['-- Table structure for table ', '-- Temporary table structure for view '];
const SERIAL_MARKERS = [
  '-- Current Database: ',
  '-- Dumping events for database ',
  '-- Dumping routines for database ',
  '-- Final view structure for view ',
];
const DELIMITER = 'DELIMITER ';
const USE = 'USE ';
const CREATE_DATABASE = 'CREATE DATABASE ';
/** The header's session settings: `/*!40101 SET NAMES utf8mb4 *\/;`, the sandbox-mode line, plain SETs. */
const SESSION_SETTING_PREFIXES = ['/*!', '/*M!', 'SET '];
const LONGEST_PREFIX = Math.max(...[...TABLE_MARKERS, ...SERIAL_MARKERS].map((m) => m.length));

const startsWithAny = (head: string, prefixes: readonly string[]) => prefixes.some((prefix) => head.startsWith(prefix));

export interface SegmentStart {
  kind: SegmentKind;
  /** The table or view a `table` segment starts with, for messages. */
  table?: string;
}

export class DumpSegmenter {
  private inHeader = true;
  private inStoredProgram = false;
  private current: SegmentKind = 'serial';
  private readonly settings: Buffer[] = [];
  private use: Buffer | undefined;

  /**
   * Reads one line (with its newline). Returns where a new segment starts with this line, or
   * undefined when the line continues the current segment.
   */
  read(line: Buffer): SegmentStart | undefined {
    const head = line.subarray(0, LONGEST_PREFIX).toString('latin1');
    if (head.startsWith(DELIMITER)) {
      this.inStoredProgram = line.toString('latin1').trim() !== 'DELIMITER ;';
      return undefined;
    }
    if (this.inStoredProgram) return undefined;
    const start = this.sectionStart(head, line);
    if (start) {
      this.inHeader = false;
      this.current = start.kind;
      return start;
    }
    if (this.inHeader && startsWithAny(head, SESSION_SETTING_PREFIXES)) this.settings.push(Buffer.from(line));
    if (head.startsWith(USE)) this.use = Buffer.from(line);
    return undefined;
  }

  /** Whether the lines being read are a stored program's body (between `DELIMITER ;;` and `DELIMITER ;`). */
  get inStoredProgramBody(): boolean {
    return this.inStoredProgram;
  }

  /**
   * Whether the line just read goes into its segment. A table segment leaves out the dump's
   * `LOCK TABLES … WRITE` and `UNLOCK TABLES`: they only bundle a table's inserts, and while one
   * session holds such a lock MariaDB makes another one's statements on a table linked by a
   * cascading foreign key fail with ERROR 1100 ("… was not locked with LOCK TABLES").
   */
  keeps(line: Buffer): boolean {
    if (this.current !== 'table') return true;
    const text = line.subarray(0, 16).toString('latin1');
    return !(text.startsWith('LOCK TABLES `') || text.startsWith('UNLOCK TABLES;'));
  }

  /**
   * What a segment starting now must run first in its own session: the header's session
   * settings (character set, checks off, SQL mode, time zone) and the current `USE`.
   */
  sessionPreamble(): Buffer {
    return Buffer.concat([...this.settings, ...(this.use ? [ensureNewline(this.use)] : [])]);
  }

  /** The character set the header's `SET NAMES` gives the dump's statements; undefined without one. */
  characterSet(): string | undefined {
    for (const line of this.settings) {
      const names = /\bSET NAMES ([A-Za-z0-9_]+)/.exec(line.toString('latin1'));
      if (names) return names[1];
    }
    return undefined;
  }

  private sectionStart(head: string, line: Buffer): SegmentStart | undefined {
    const tableMarker = TABLE_MARKERS.find((marker) => head.startsWith(marker));
    if (tableMarker) return { kind: 'table', table: quotedName(line.toString('utf8', tableMarker.length)) };
    if (startsWithAny(head, SERIAL_MARKERS)) return { kind: 'serial' };
    // A database switch never belongs to a table segment, whatever wrote the dump.
    if (this.current === 'table' && (head.startsWith(USE) || head.startsWith(CREATE_DATABASE))) return { kind: 'serial' };
    return undefined;
  }
}

function ensureNewline(line: Buffer): Buffer {
  return line.at(-1) === 0x0a ? line : Buffer.concat([line, Buffer.from('\n')]);
}

/** `` `film_actor` `` → film_actor (names holding a backquote keep only what precedes it: messages only). */
function quotedName(rest: string): string {
  return rest
    .replace(/^`/, '')
    .replace(/`[^]*$/, '')
    .trim();
}

/** A written segment, as the plan sees it. */
export interface StagedSegment {
  kind: SegmentKind;
  /** Uncompressed SQL bytes it holds, preamble included. */
  rawBytes: number;
  /** Tables and views of a `table` segment, in dump order. */
  tables: string[];
}

/** "`a`, `b` and 3 more" for messages. */
export function describeTables(tables: readonly string[]): string {
  const shown = tables.slice(0, 3).map((t) => `\`${t}\``);
  return tables.length > 3 ? `${shown.join(', ')} and ${tables.length - 3} more` : shown.join(', ');
}
