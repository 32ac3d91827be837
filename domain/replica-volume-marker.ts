/**
 * The marker a replica population leaves in its volume, and the rule for which volumes a
 * population may empty. The marker is written when the population claims the volume
 * (`complete: false`) and rewritten once the data directory is prepared (`complete: true`).
 */
export interface ReplicaVolumeMarker {
  restoreId: string;
  snapshotId: string;
  /** Prepared: the volume holds a data directory a server can start on. */
  complete: boolean;
}

export const RESTORE_MARKER_FILE = '.dbkeep-restore.json';
/**
 * Where the marker is written before it is renamed into place, so a worker killed mid-write
 * never leaves a torn marker. A volume holding only this file holds nothing of anyone's.
 */
export const RESTORE_MARKER_PARTIAL_FILE = '.dbkeep-restore.json.partial';

/** The marker from the file's text; undefined for a missing or foreign file. A marker of an older dbkeep (no `complete`) counts as complete. */
export function parseReplicaVolumeMarker(text: string | undefined): ReplicaVolumeMarker | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<ReplicaVolumeMarker>;
    if (typeof value.restoreId !== 'string' || typeof value.snapshotId !== 'string') return undefined;
    return { restoreId: value.restoreId, snapshotId: value.snapshotId, complete: value.complete !== false };
  } catch {
    return undefined;
  }
}

/**
 * Why a population may not empty the volume, or undefined when it may: the volume is empty, the
 * user asked to overwrite, it is this restore's own (a retry), or it holds only the unfinished
 * work of an earlier restore (failed or cancelled before its data directory was prepared: nothing
 * a server could start on, so re-running a restore adopts its volumes instead of failing).
 */
export function replicaVolumeClaimProblem(claim: {
  entryCount: number;
  marker: ReplicaVolumeMarker | undefined;
  restoreId: string;
  overwrite: boolean;
}): string | undefined {
  const { entryCount, marker, restoreId, overwrite } = claim;
  if (entryCount === 0 || overwrite || marker?.restoreId === restoreId || marker?.complete === false) return undefined;
  return marker
    ? `holds the data directory restore ${marker.restoreId} prepared from snapshot ${marker.snapshotId}`
    : `holds ${entryCount} entries not written by a dbkeep restore`;
}
