import { createHash } from 'node:crypto';

/**
 * Names of what an overwriting restore keeps on the target while it applies (see
 * activities/kept-databases.ts): each replaced database's tables wait in a keep schema, and the
 * control schema records what was moved there and the definitions of the views, routines,
 * events and triggers that could not move with them.
 */
export const RESTORE_CONTROL_SCHEMA = '_dbkeep_restore';

const KEEP_SCHEMA_PREFIX = '_dbkeep_keep_';

/** The keep schema of `database`: a fixed name per database, so a retried restore finds it again. */
export function keepSchemaName(database: string): string {
  return `${KEEP_SCHEMA_PREFIX}${createHash('sha256').update(database, 'utf8').digest('hex').slice(0, 16)}`;
}

/** A LIKE pattern matching every restore work schema (`_` escaped). */
export const RESTORE_WORK_SCHEMA_PATTERN = '\\_dbkeep\\_%';

/** Where a replaced database stands; each step moves it forward and a retry resumes from it. */
export type KeptDatabaseState =
  /** Nothing moved yet; definitions are being recorded. */
  | 'saving'
  /** Definitions recorded; the tables may be moving to the keep schema. */
  | 'saved'
  /** The tables are in the keep schema and the database is gone: the apply may run. */
  | 'kept';

/** The kinds of object whose definitions are recorded, in the order they are recreated. */
export const KEPT_OBJECT_KINDS = ['VIEW', 'PROCEDURE', 'FUNCTION', 'EVENT', 'TRIGGER'] as const;
export type KeptObjectKind = (typeof KEPT_OBJECT_KINDS)[number];
