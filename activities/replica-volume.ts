import { lchown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Progress } from '../domain/progress';
import {
  parseReplicaVolumeMarker,
  replicaVolumeClaimProblem,
  RESTORE_MARKER_FILE,
  RESTORE_MARKER_PARTIAL_FILE,
  type ReplicaVolumeMarker,
} from '../domain/replica-volume-marker';
import { copyDirectoryTree } from '../pipeline/directory-copy';
import { syncDirectoryTree, syncEntry } from '../pipeline/directory-sync';
import { stopLeftoverLocalServer } from '../pipeline/leftover-servers';

/**
 * The steps every population of a replica volume shares, whoever runs it: the replica worker
 * bound to the volume (replica-population.ts) or the session's worker copying a complete replica
 * on its own host (replica-copy.ts).
 */

/** Which restore a population works for, and the replica it populates. */
export interface VolumeClaim {
  restoreId: string;
  ordinal: number;
  /** Replace whatever the volume holds; without it only an empty volume, this restore's own or an unfinished one is written. */
  overwrite: boolean;
  snapshotId: string;
}

/** Empties the volume so every attempt starts clean, refusing data that is not this restore's to replace. */
export async function claimVolume(volume: string, claim: VolumeClaim): Promise<void> {
  await mkdir(volume, { recursive: true });
  // A worker killed mid-replay leaves its server running on the volume; nothing may write to it now.
  await stopLeftoverLocalServer(volume);
  const entries = await readdir(volume);
  const problem = replicaVolumeClaimProblem({
    entryCount: entries.filter((entry) => entry !== RESTORE_MARKER_PARTIAL_FILE).length,
    marker: await readMarker(volume),
    restoreId: claim.restoreId,
    overwrite: claim.overwrite,
  });
  if (problem) {
    throw permanentFailure(
      PermanentFailureType.VolumeNotEmpty,
      `replica ${claim.ordinal}: volume ${volume} ${problem}; nothing was changed. Use an empty volume, or pass overwrite to replace its contents`,
    );
  }
  // The marker goes last (replaced, not removed): a worker killed while emptying the volume
  // leaves it marked as this restore's, which the next attempt may claim again.
  const others = entries.filter((entry) => entry !== RESTORE_MARKER_FILE);
  await Promise.all(others.map((entry) => rm(path.join(volume, entry), { recursive: true, force: true })));
  await writeMarker(volume, claim, false);
}

/** The volume's marker; undefined when it has none or one that is not a dbkeep restore's. */
async function readMarker(volume: string): Promise<ReplicaVolumeMarker | undefined> {
  return parseReplicaVolumeMarker(await readFile(path.join(volume, RESTORE_MARKER_FILE), 'utf8').catch(() => undefined));
}

/**
 * Written aside, synced, then renamed into place and the rename synced: a worker killed or a
 * host crashed mid-write leaves the old marker or the new one, never a torn one.
 */
async function writeMarker(volume: string, claim: VolumeClaim, complete: boolean, owner?: { uid: number; gid: number }): Promise<void> {
  const marker: ReplicaVolumeMarker = { restoreId: claim.restoreId, snapshotId: claim.snapshotId, complete };
  const partial = path.join(volume, RESTORE_MARKER_PARTIAL_FILE);
  await writeFile(partial, JSON.stringify(marker));
  if (owner) await lchown(partial, owner.uid, owner.gid);
  await syncEntry(partial, 'data');
  await rename(partial, path.join(volume, RESTORE_MARKER_FILE));
  await syncEntry(volume, 'all');
}

/**
 * The last step of every population: the volume's files given `owner`, measured, synced to the
 * disk whole, and only then the marker saying complete. Extraction, prepare and copies write
 * through the page cache, so a host that crashes once the marker is written cannot leave a
 * volume that says complete and lacks data. Returns the volume's bytes.
 */
export async function completeVolume(params: {
  volume: string;
  claim: VolumeClaim;
  owner: { uid: number; gid: number } | undefined;
  signal: AbortSignal;
  progress: Progress;
}): Promise<number> {
  const { volume, claim, owner, signal, progress } = params;
  progress.phase = 'fixing ownership';
  const bytesOnVolume = await measureTree(volume, owner);
  progress.phase = 'syncing to disk';
  await syncDirectoryTree(volume, signal);
  await writeMarker(volume, claim, true, owner);
  return bytesOnVolume;
}

/**
 * Whether `source` is another volume of the same restore, complete for the same snapshot: the
 * only volume a copy may be made of. A volume another restore prepared holds data nobody asked for.
 */
export async function isCompleteReplicaOf(source: string, volume: string, claim: VolumeClaim): Promise<boolean> {
  const marker = await readMarker(source);
  return source !== volume && marker?.complete === true && marker.restoreId === claim.restoreId && marker.snapshotId === claim.snapshotId;
}

/** The complete replica volume `source` copied into the claimed `volume`, everything but its marker. */
export async function copyReplicaFiles(source: string, volume: string, signal: AbortSignal, progress: Progress): Promise<void> {
  await copyDirectoryTree({ from: source, to: volume, skip: [RESTORE_MARKER_FILE, RESTORE_MARKER_PARTIAL_FILE], signal, progress });
}

/** Only root may give files away; anyone else already owns what it restored. */
export async function volumeRootOwnerIfRoot(volume: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const root = await stat(volume);
  return { uid: root.uid, gid: root.gid };
}

/** The bytes of the regular files under dir; with chownTo, chown -R on the way, without following links. */
export async function measureTree(dir: string, chownTo: { uid: number; gid: number } | undefined): Promise<number> {
  let bytes = 0;
  if (chownTo) await lchown(dir, chownTo.uid, chownTo.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) bytes += await measureTree(full, chownTo);
    else {
      if (chownTo) await lchown(full, chownTo.uid, chownTo.gid);
      if (entry.isFile()) bytes += (await stat(full)).size;
    }
  }
  return bytes;
}
