/**
 * The segments a parallel restore cuts a mariadb-dump / mysqldump `--databases` dump into, as
 * the rest of dbkeep sees them. pipeline/native/dbkeep-stage.c decides where they start and
 * writes them; pipeline/parallel-apply.ts schedules and applies them.
 * - `table` segments: one or more tables' structure, data and triggers (or views' stand-in
 *   tables). They do not depend on each other (the dump turns unique and foreign key checks
 *   off), so consecutive ones may run at the same time.
 * - `serial` segments: everything else, in order, alone: the header, each database's CREATE
 *   DATABASE and USE, events and routines, the final view definitions (which need every table),
 *   the footer.
 */
export type SegmentKind = 'serial' | 'table';

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
