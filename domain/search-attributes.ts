/**
 * Search attributes of dbkeep's sessions, schedules and binary log archives: their names, types
 * and the values they hold, so the Temporal UI's list and `temporal workflow list --query` can
 * filter them. They must be registered on the server before a session starts or a schedule is
 * applied: the dev stack does it with `--search-attribute` (searchAttributeRegistrations), a
 * production namespace with `temporal operator search-attribute create`. `type` is spelled as
 * Temporal's SearchAttributeType; workflows/search-attributes.ts turns each entry into the SDK's
 * typed key, which domain/ cannot import.
 */
export const SEARCH_ATTRIBUTES = {
  configuration: { name: 'DbkeepConfiguration', type: 'KEYWORD' },
  target: { name: 'DbkeepTarget', type: 'KEYWORD' },
  repository: { name: 'DbkeepRepository', type: 'KEYWORD' },
  /** The kind of session (SessionKindValue). */
  sessionKind: { name: 'DbkeepSessionKind', type: 'KEYWORD' },
  /** Upserted by the session as it goes: Pending, Running, Succeeded, Failed, Skipped; an archive's Running, Stopped. */
  phase: { name: 'DbkeepPhase', type: 'KEYWORD' },
  /** Bytes stored (backup) or restored (restore), upserted when known. */
  sizeBytes: { name: 'DbkeepSizeBytes', type: 'INT' },
  snapshot: { name: 'DbkeepSnapshot', type: 'KEYWORD' },
  /**
   * Schedules only: the hash of the applied spec, and its cron and time zone. ListSchedules
   * returns a schedule's search attributes, so one listing serves `dbkeep apply` and
   * `dbkeep schedules`; unlike a schedule's memo (which Temporal Server 1.29 keeps from
   * creation), they follow an update in place.
   */
  specHash: { name: 'DbkeepSpecHash', type: 'KEYWORD' },
  cron: { name: 'DbkeepCron', type: 'KEYWORD' },
  timezone: { name: 'DbkeepTimezone', type: 'KEYWORD' },
  /**
   * Binary log archives only, upserted after each run (every ten minutes): the file and offset
   * archived through, and when the archive last held everything the source had written, so
   * `DbkeepPitrCaughtUpAt < "…"` lists the archives that fell behind. The live position is in
   * the running activity's heartbeat details and in the dbkeep_pitr_* metrics.
   */
  pitrPosition: { name: 'DbkeepPitrPosition', type: 'KEYWORD' },
  pitrCaughtUpAt: { name: 'DbkeepPitrCaughtUpAt', type: 'DATETIME' },
} as const satisfies Record<string, { name: string; type: SearchAttributeTypeName }>;

type SearchAttributeTypeName = 'KEYWORD' | 'INT' | 'DATETIME';

interface SearchAttributeValueTypes {
  KEYWORD: string;
  INT: number;
  DATETIME: Date;
}

export type SearchAttributeField = keyof typeof SEARCH_ATTRIBUTES;

/** Values of some of the search attributes, each of its attribute's type. */
export type SearchAttributeValues = {
  [F in SearchAttributeField]?: SearchAttributeValueTypes[(typeof SEARCH_ATTRIBUTES)[F]['type']];
};

const REGISTRATION_TYPE_NAMES: Record<SearchAttributeTypeName, string> = { KEYWORD: 'Keyword', INT: 'Int', DATETIME: 'Datetime' };

/** `NAME=TYPE` pairs in the form `temporal server start-dev --search-attribute` takes. */
export const searchAttributeRegistrations: readonly string[] = Object.values(SEARCH_ATTRIBUTES).map(
  ({ name, type }) => `${name}=${REGISTRATION_TYPE_NAMES[type]}`,
);

/** What DbkeepSessionKind holds: the kind of a session, or `binlog-archive`. */
export type SessionKindValue = 'backup' | 'restore' | 'prune' | 'binlog-archive';

/**
 * What a session or archive works on, given when the client starts it and restated by the
 * workflow (for one started without them). A restore drill carries no kind.
 */
export function identitySearchAttributes(identity: {
  kind?: SessionKindValue;
  configuration: string;
  repository: string;
  target?: string;
}): SearchAttributeValues {
  return {
    ...(identity.kind === undefined ? {} : { sessionKind: identity.kind }),
    configuration: identity.configuration,
    repository: identity.repository,
    ...(identity.target ? { target: identity.target } : {}),
  };
}

/** A session's phase, with its size (bytes stored, else raw) and its snapshot once known. */
export function phaseSearchAttributes(status: {
  phase: string;
  storedBytes?: number;
  rawBytes?: number;
  snapshotId?: string;
}): SearchAttributeValues {
  const size = status.storedBytes ?? status.rawBytes;
  return {
    phase: status.phase,
    ...(size === undefined ? {} : { sizeBytes: size }),
    ...(status.snapshotId ? { snapshot: status.snapshotId } : {}),
  };
}

/** Where a binary log archive stands, once it has archived something. */
export function archivePositionSearchAttributes(status: {
  position?: { file: string; offset: number };
  caughtUpAt?: string;
}): SearchAttributeValues {
  const { position, caughtUpAt } = status;
  return {
    ...(position ? { pitrPosition: `${position.file}:${position.offset}` } : {}),
    ...(caughtUpAt ? { pitrCaughtUpAt: new Date(caughtUpAt) } : {}),
  };
}

/*
 * Configuration names go into the queries' quoted literals: they are validated DNS labels
 * (domain/names.ts), which hold no quote.
 */

/** Visibility query for a configuration's running backup sessions, which `backupNow` (client) asks before it starts another. */
export function runningBackupSessionsQuery(configuration: string): string {
  return `WorkflowType = 'backupSession' AND ExecutionStatus = 'Running' AND ${SEARCH_ATTRIBUTES.configuration.name} = '${configuration}'`;
}

/** Visibility query for a configuration's backup, restore and prune sessions (`dbkeep sessions`). */
export function configurationSessionsQuery(configuration: string): string {
  return `${SEARCH_ATTRIBUTES.configuration.name} = '${configuration}' AND ${SEARCH_ATTRIBUTES.sessionKind.name} IN ('backup', 'restore', 'prune')`;
}
