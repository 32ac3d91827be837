import { z } from 'zod';
import { snapshotIdSchema } from './names';

/** The fields of a snapshot that selection looks at. */
export interface SelectableSnapshot {
  snapshotId: string;
  /** ISO time of the snapshot's consistent point. */
  startedAt: string;
}

/** Which snapshot a restore wants: an exact id, or the newest at or before a time (default: now). */
export const snapshotSelectorSchema = z.union(
  [
    z.strictObject({ snapshotId: snapshotIdSchema }),
    z.strictObject({
      targetRecoveryTime: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time such as 2026-11-21T16:00:00Z' }).optional(),
    }),
  ],
  { error: 'must be { snapshotId } or { targetRecoveryTime }' },
);

export type SnapshotSelector = z.infer<typeof snapshotSelectorSchema>;

/**
 * The newest snapshot whose consistent point is at or before `recoveryTime`, as
 * mariadb-operator's `targetRecoveryTime` does. Undefined when every snapshot is newer.
 */
export function selectSnapshotForRecoveryTime<S extends SelectableSnapshot>(snapshots: readonly S[], recoveryTime: Date): S | undefined {
  let best: S | undefined;
  for (const snapshot of snapshots) {
    const at = Date.parse(snapshot.startedAt);
    if (at > recoveryTime.getTime()) continue;
    if (!best || at > Date.parse(best.startedAt) || (at === Date.parse(best.startedAt) && snapshot.snapshotId > best.snapshotId)) {
      best = snapshot;
    }
  }
  return best;
}

/** Applies a selector: an exact id, or a recovery time defaulting to `now`. */
export function selectSnapshot<S extends SelectableSnapshot>(
  snapshots: readonly S[],
  selector: SnapshotSelector,
  now: Date,
): S | undefined {
  if ('snapshotId' in selector) return snapshots.find((s) => s.snapshotId === selector.snapshotId);
  const at = selector.targetRecoveryTime ? new Date(selector.targetRecoveryTime) : now;
  return selectSnapshotForRecoveryTime(snapshots, at);
}
