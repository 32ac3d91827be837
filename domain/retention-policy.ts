import { z } from 'zod';
import { parseDurationMs } from './duration';
import { durationSchema } from './duration-schema';

// Pure: decides, never deletes. The retention activity does the deleting, and `--dry-run`
// prints the same decision through describeRetentionDecision.

export { parseDurationMs };

const MAX_KEEP_COUNT = 100_000;
const KEEP_COUNT_MESSAGE = `must be a whole number from 0 to ${MAX_KEEP_COUNT}`;

const keepCountSchema = z
  .number({ error: KEEP_COUNT_MESSAGE })
  .int({ error: KEEP_COUNT_MESSAGE })
  .min(0, { error: KEEP_COUNT_MESSAGE })
  .max(MAX_KEEP_COUNT, { error: KEEP_COUNT_MESSAGE });

/**
 * Which snapshots of a configuration to keep, as restic's `forget --keep-*` and Stash's
 * `RetentionPolicy` express it, plus mariadb-operator's `maxRetention`. A snapshot is kept
 * when any rule keeps it. A count of 0 is the same as leaving the rule out (as in restic),
 * and a policy without any rule keeps everything.
 */
export const retentionPolicySchema = z.strictObject({
  /** Keep every snapshot at most this old (`720h`, `30m`, `1h30m`, `7d`, `2w`), measured from now. */
  maxRetention: durationSchema.optional(),
  /** The N newest snapshots. */
  keepLast: keepCountSchema.optional(),
  /** The newest snapshot of each of the N newest hours (UTC) that have snapshots. */
  keepHourly: keepCountSchema.optional(),
  /** The newest snapshot of each of the N newest days (UTC) that have snapshots. */
  keepDaily: keepCountSchema.optional(),
  /** The newest snapshot of each of the N newest ISO weeks (UTC, Monday to Sunday) that have snapshots. */
  keepWeekly: keepCountSchema.optional(),
  /** The newest snapshot of each of the N newest months (UTC) that have snapshots. */
  keepMonthly: keepCountSchema.optional(),
  /** The newest snapshot of each of the N newest years (UTC) that have snapshots. */
  keepYearly: keepCountSchema.optional(),
  /** Report what would be removed and remove nothing. Does not change the decision, only what callers do with it. */
  dryRun: z.boolean().default(false),
});

export type RetentionPolicy = z.infer<typeof retentionPolicySchema>;

/** The fields of a snapshot that retention looks at. */
export interface RetainableSnapshot {
  snapshotId: string;
  /** ISO time of the snapshot's consistent point. */
  startedAt: string;
}

/** Both lists newest first (equal times: larger snapshot id first). */
export interface RetentionDecision<S extends RetainableSnapshot = RetainableSnapshot> {
  keep: Array<{ snapshot: S; reasons: string[] }>;
  remove: Array<{ snapshot: S; reason: string }>;
}

type KeepCountField = 'keepLast' | 'keepHourly' | 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepYearly';

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/** ISO 8601 week (weeks start on Monday; week 1 holds the year's first Thursday), in UTC. */
function isoWeekOf(time: Date): string {
  const day = new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), time.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  // The Thursday of the same week decides which year the week belongs to.
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const year = day.getUTCFullYear();
  const week = Math.floor((day.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7) + 1;
  return `${pad(year, 4)}-W${pad(week)}`;
}

/**
 * Buckets are computed in UTC, so the decision does not depend on the worker's time zone
 * and is the same wherever it runs; a "daily" snapshot is the newest of a UTC day.
 */
const KEEP_RULES: ReadonlyArray<{
  field: KeepCountField;
  /** Snapshots sharing a bucket compete for one kept slot; keepLast gives each its own. */
  bucketOf: (time: Date, index: number) => string;
  reason: (bucket: string) => string;
}> = [
  { field: 'keepLast', bucketOf: (_time, index) => String(index), reason: () => 'last snapshot' },
  {
    field: 'keepHourly',
    bucketOf: (t) => `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ${pad(t.getUTCHours())}`,
    reason: (bucket) => `hourly snapshot (${bucket})`,
  },
  {
    field: 'keepDaily',
    bucketOf: (t) => `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`,
    reason: (bucket) => `daily snapshot (${bucket})`,
  },
  { field: 'keepWeekly', bucketOf: isoWeekOf, reason: (bucket) => `weekly snapshot (${bucket})` },
  {
    field: 'keepMonthly',
    bucketOf: (t) => `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}`,
    reason: (bucket) => `monthly snapshot (${bucket})`,
  },
  { field: 'keepYearly', bucketOf: (t) => pad(t.getUTCFullYear(), 4), reason: (bucket) => `yearly snapshot (${bucket})` },
];

function compareNewestFirst(a: { time: number; snapshotId: string }, b: { time: number; snapshotId: string }): number {
  if (a.time !== b.time) return b.time - a.time;
  return a.snapshotId < b.snapshotId ? 1 : a.snapshotId > b.snapshotId ? -1 : 0;
}

function timeOf(snapshot: RetainableSnapshot): number {
  const time = Date.parse(snapshot.startedAt);
  // Refusing is safer than guessing: a wrong time could put the snapshot in a bucket it does not belong to.
  if (Number.isNaN(time)) {
    throw new Error(`snapshot ${snapshot.snapshotId}: startedAt ${JSON.stringify(snapshot.startedAt)} is not an ISO time`);
  }
  return time;
}

/**
 * restic's `ExpirePolicy` applied to one configuration's snapshots: the union of every rule
 * of the policy, plus two safety nets no policy can remove: the `protect`ed ids (e.g. the
 * snapshot a session just committed) and the newest snapshot, so a policy never deletes
 * everything. Input order does not matter. Throws when the policy does not validate.
 */
export function applyRetentionPolicy<S extends RetainableSnapshot>(
  snapshots: readonly S[],
  policy: Partial<RetentionPolicy>,
  options: { now: Date; protect?: readonly string[] },
): RetentionDecision<S> {
  const parsed = retentionPolicySchema.safeParse(policy);
  if (!parsed.success) throw new Error(`invalid retention policy: ${z.prettifyError(parsed.error)}`);
  const rules = parsed.data;

  const ordered = snapshots
    .map((snapshot) => ({ snapshot, snapshotId: snapshot.snapshotId, time: timeOf(snapshot) }))
    .sort(compareNewestFirst);

  const activeKeepRules = KEEP_RULES.filter((rule) => (rules[rule.field] ?? 0) > 0);
  const maxRetentionMs = rules.maxRetention === undefined ? undefined : parseDurationMs(rules.maxRetention);
  if (activeKeepRules.length === 0 && maxRetentionMs === undefined) {
    return { keep: ordered.map(({ snapshot }) => ({ snapshot, reasons: ['no retention policy'] })), remove: [] };
  }

  const reasons: string[][] = ordered.map(() => []);
  for (const rule of activeKeepRules) {
    let remaining = rules[rule.field] ?? 0;
    let lastBucket: string | undefined;
    for (const [index, { time }] of ordered.entries()) {
      if (remaining === 0) break;
      const bucket = rule.bucketOf(new Date(time), index);
      // Newest first, so the first snapshot seen in a bucket is that bucket's newest.
      if (bucket === lastBucket) continue;
      lastBucket = bucket;
      remaining -= 1;
      reasons[index]!.push(rule.reason(bucket));
    }
  }
  if (maxRetentionMs !== undefined) {
    const oldestKept = options.now.getTime() - maxRetentionMs;
    for (const [index, { time }] of ordered.entries()) {
      if (time >= oldestKept) reasons[index]!.push(`within maxRetention ${rules.maxRetention}`);
    }
  }
  const protect = new Set(options.protect ?? []);
  for (const [index, { snapshotId }] of ordered.entries()) {
    if (protect.has(snapshotId)) reasons[index]!.push(`protected: ${snapshotId}`);
  }
  reasons[0]?.push('newest snapshot');

  const keepRuleNames = activeKeepRules.map((rule) => `${rule.field} ${rules[rule.field]}`).join(', ');
  const removeReason =
    maxRetentionMs === undefined
      ? `not kept by any keep rule (${keepRuleNames})`
      : activeKeepRules.length === 0
        ? `older than maxRetention ${rules.maxRetention}`
        : `older than maxRetention ${rules.maxRetention} and not kept by any keep rule (${keepRuleNames})`;

  const decision: RetentionDecision<S> = { keep: [], remove: [] };
  for (const [index, { snapshot }] of ordered.entries()) {
    const kept = reasons[index]!;
    if (kept.length > 0) decision.keep.push({ snapshot, reasons: kept });
    else decision.remove.push({ snapshot, reason: removeReason });
  }
  return decision;
}

/**
 * One line per snapshot, newest first, for `--dry-run` and logs:
 * `keep   <id>  <startedAt>  daily snapshot (2026-11-21), last snapshot` or `remove <id>  <startedAt>  <reason>`.
 */
export function describeRetentionDecision(decision: RetentionDecision): string[] {
  const lines = [
    ...decision.keep.map(({ snapshot, reasons }) => ({ snapshot, action: 'keep  ', why: reasons.join(', ') })),
    ...decision.remove.map(({ snapshot, reason }) => ({ snapshot, action: 'remove', why: reason })),
  ];
  return lines
    .map((line) => ({ ...line, snapshotId: line.snapshot.snapshotId, time: Date.parse(line.snapshot.startedAt) }))
    .sort(compareNewestFirst)
    .map(({ action, snapshot, why }) => `${action} ${snapshot.snapshotId}  ${snapshot.startedAt}  ${why}`);
}
