import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes of dbkeep's sessions, so the Temporal UI's list and
 * `temporal workflow list --query` can filter sessions, and of its schedules. They must be
 * registered on the server before a session starts or a schedule is applied: the dev stack
 * does it with `--search-attribute`, a production namespace with
 * `temporal operator search-attribute create`.
 */
export const searchAttributes = {
  configuration: defineSearchAttributeKey('DbkeepConfiguration', SearchAttributeType.KEYWORD),
  target: defineSearchAttributeKey('DbkeepTarget', SearchAttributeType.KEYWORD),
  repository: defineSearchAttributeKey('DbkeepRepository', SearchAttributeType.KEYWORD),
  sessionKind: defineSearchAttributeKey('DbkeepSessionKind', SearchAttributeType.KEYWORD),
  /** Upserted by the session as it goes: Pending, Running, Succeeded, Failed, Skipped. */
  phase: defineSearchAttributeKey('DbkeepPhase', SearchAttributeType.KEYWORD),
  /** Bytes stored (backup) or restored (restore), upserted when known. */
  sizeBytes: defineSearchAttributeKey('DbkeepSizeBytes', SearchAttributeType.INT),
  snapshot: defineSearchAttributeKey('DbkeepSnapshot', SearchAttributeType.KEYWORD),
  /**
   * Schedules only: the hash of the applied spec, and its cron and time zone. ListSchedules
   * returns a schedule's search attributes, so one listing serves `dbkeep apply` and
   * `dbkeep schedules`; unlike a schedule's memo (which Temporal Server 1.29 keeps from
   * creation), they follow an update in place.
   */
  specHash: defineSearchAttributeKey('DbkeepSpecHash', SearchAttributeType.KEYWORD),
  cron: defineSearchAttributeKey('DbkeepCron', SearchAttributeType.KEYWORD),
  timezone: defineSearchAttributeKey('DbkeepTimezone', SearchAttributeType.KEYWORD),
  /**
   * Binary log archives only, upserted after each run (every ten minutes): the file and offset
   * archived through, and when the archive last held everything the source had written, so
   * `DbkeepPitrCaughtUpAt < "…"` lists the archives that fell behind. The live position is in
   * the running activity's heartbeat details and in the dbkeep_pitr_* metrics.
   */
  pitrPosition: defineSearchAttributeKey('DbkeepPitrPosition', SearchAttributeType.KEYWORD),
  pitrCaughtUpAt: defineSearchAttributeKey('DbkeepPitrCaughtUpAt', SearchAttributeType.DATETIME),
} as const;

const TYPE_NAMES: Record<string, string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DATETIME]: 'Datetime',
};

/** `NAME=TYPE` pairs in the form `temporal server start-dev --search-attribute` takes. */
export const searchAttributeRegistrations: readonly string[] = Object.values(searchAttributes).map(
  (key) => `${key.name}=${TYPE_NAMES[key.type]}`,
);

/**
 * Visibility query for a configuration's running backup sessions, which `backupNow` (client)
 * asks before it starts another. The name is a validated DNS label, safe inside the quoted literal.
 */
export function runningBackupSessionsQuery(configuration: string): string {
  return `WorkflowType = 'backupSession' AND ExecutionStatus = 'Running' AND ${searchAttributes.configuration.name} = '${configuration}'`;
}
