import {
  formatMariadbGtidPosition,
  formatMysqlGtidSet,
  isMariadbPositionReached,
  isMysqlGtidSubset,
  parseMariadbGtidPosition,
  parseMysqlGtidSet,
  subtractMysqlGtidSet,
} from './gtid-sets';
import type { ServerFlavor } from './server-flavor';

/**
 * The times a configuration can be recovered to: from a snapshot's consistent point, through the
 * archived binary log that follows it without a gap, to the last archived event. Archived pieces
 * are ordered and joined by their GTIDs, never by file name or upload time: a failover renames
 * files, and a piece uploaded again later is still the same transactions.
 */

/** One archived piece of binary log, as its index entry describes it (GTIDs in the flavor's own text). */
export interface ArchivedPiece {
  /** The GTID state before its first transaction, and after its last. */
  gtidsBefore: string;
  gtidsAfter: string;
  firstEventAt: string;
  lastEventAt: string;
}

/** A snapshot as point-in-time recovery starts from it: its GTID state, and when that state was current. */
export interface SnapshotPoint {
  snapshotId: string;
  gtids: string;
  consistentAt: string;
}

export interface RecoverableWindow {
  from: string;
  to: string;
  /** The snapshots a restore into this window may start from, oldest first. */
  snapshotIds: string[];
}

/** Transactions no archived piece holds: a restore cannot cross them. */
export interface ArchiveGap {
  /** The last event archived before the gap, and the first after it. */
  after: string;
  before: string;
  missing: string;
}

/** Containment and difference of GTID states, per flavor. */
interface GtidAlgebra {
  /** Whether every transaction up to `state` is also in `reached`. */
  reached(state: string, reached: string): boolean;
  /** The transactions up to `state` that are not up to `reached`, as text. */
  missing(state: string, reached: string): string;
}

const ALGEBRA: Record<ServerFlavor, GtidAlgebra> = {
  mysql: {
    reached: (state, reached) => isMysqlGtidSubset(parseMysqlGtidSet(state), parseMysqlGtidSet(reached)),
    missing: (state, reached) => formatMysqlGtidSet(subtractMysqlGtidSet(parseMysqlGtidSet(state), parseMysqlGtidSet(reached))),
  },
  mariadb: {
    reached: (state, reached) => isMariadbPositionReached(parseMariadbGtidPosition(state), parseMariadbGtidPosition(reached)),
    missing: (state, reached) => {
      const target = parseMariadbGtidPosition(reached);
      const ahead = new Map(
        [...parseMariadbGtidPosition(state)].filter(([domain, { sequence }]) => sequence > (target.get(domain)?.sequence ?? 0)),
      );
      return `${formatMariadbGtidPosition(target) || 'nothing'} to ${formatMariadbGtidPosition(ahead)}`;
    },
  },
};

/** Whether every transaction up to `state` is also up to `reached`, in the flavor's GTID text. */
export function gtidStateReached(flavor: ServerFlavor): (state: string, reached: string) => boolean {
  return ALGEBRA[flavor].reached;
}

interface ContiguousRun {
  gtidsBefore: string;
  gtidsAfter: string;
  lastEventAt: string;
}

export function recoverableWindows(
  flavor: ServerFlavor,
  snapshots: readonly SnapshotPoint[],
  pieces: readonly ArchivedPiece[],
): { windows: RecoverableWindow[]; gaps: ArchiveGap[] } {
  const gtids = ALGEBRA[flavor];
  // One source's pieces end in ever larger states: ordered by what each one's end has reached.
  const ordered = [...pieces].sort((a, b) =>
    gtids.reached(a.gtidsAfter, b.gtidsAfter) ? (gtids.reached(b.gtidsAfter, a.gtidsAfter) ? 0 : -1) : 1,
  );
  const runs: ContiguousRun[] = [];
  const gaps: ArchiveGap[] = [];
  for (const piece of ordered) {
    const run = runs.at(-1);
    if (run && gtids.reached(piece.gtidsBefore, run.gtidsAfter)) {
      // Contiguous (or overlapping: a piece archived twice adds nothing but its newer end).
      if (!gtids.reached(piece.gtidsAfter, run.gtidsAfter)) {
        run.gtidsAfter = piece.gtidsAfter;
        run.lastEventAt = piece.lastEventAt;
      }
      continue;
    }
    if (run) gaps.push({ after: run.lastEventAt, before: piece.firstEventAt, missing: gtids.missing(piece.gtidsBefore, run.gtidsAfter) });
    runs.push({ gtidsBefore: piece.gtidsBefore, gtidsAfter: piece.gtidsAfter, lastEventAt: piece.lastEventAt });
  }
  const windows: RecoverableWindow[] = [];
  for (const run of runs) {
    // A snapshot starts a window in the run that holds its state and everything after it.
    const starts = snapshots
      .filter((s) => gtids.reached(run.gtidsBefore, s.gtids) && gtids.reached(s.gtids, run.gtidsAfter))
      .sort((a, b) => Date.parse(a.consistentAt) - Date.parse(b.consistentAt));
    const first = starts[0];
    if (!first) continue;
    const to = starts.reduce((latest, s) => (Date.parse(s.consistentAt) > Date.parse(latest) ? s.consistentAt : latest), run.lastEventAt);
    windows.push({ from: first.consistentAt, to, snapshotIds: starts.map((s) => s.snapshotId) });
  }
  return { windows, gaps };
}

/**
 * The snapshot a restore to `time` starts from: the newest of the window holding `time` that is
 * not after it. A time outside every window is refused before anything is touched, naming them.
 */
export function snapshotForRecoveryTime(
  windows: readonly RecoverableWindow[],
  snapshots: readonly SnapshotPoint[],
  time: string,
): { snapshotId: string } | { problem: string } {
  const wanted = Date.parse(time);
  const window = windows.find((w) => Date.parse(w.from) <= wanted && wanted <= Date.parse(w.to));
  const start = window
    ? snapshots
        .filter((s) => window.snapshotIds.includes(s.snapshotId) && Date.parse(s.consistentAt) <= wanted)
        .reduce<SnapshotPoint | undefined>(
          (newest, s) => (!newest || Date.parse(s.consistentAt) > Date.parse(newest.consistentAt) ? s : newest),
          undefined,
        )
    : undefined;
  if (start) return { snapshotId: start.snapshotId };
  const known = windows.map((w) => `${w.from} to ${w.to}`).join(', ');
  return { problem: `${time} is outside every recoverable window (${known || 'there is none yet'})` };
}
