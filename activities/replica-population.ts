import { Context, log } from '@temporalio/activity';
import { lchown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Manifest } from '../domain/manifest';
import type { Progress } from '../domain/progress';
import {
  parseReplicaVolumeMarker,
  replicaVolumeClaimProblem,
  RESTORE_MARKER_FILE,
  RESTORE_MARKER_PARTIAL_FILE,
  type ReplicaVolumeMarker,
} from '../domain/replica-volume-marker';
import type { Named, RepositorySpec } from '../domain/resources';
import type { SecretRef } from '../domain/secret-ref';
import { rootClientCommand, optionFileContents, toolVersionCommand } from '../domain/tool-commands';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import { withSecretFiles } from '../pipeline/option-file';
import { resolveSnapshotIdentity } from './snapshot-decryption';
import { restorePhysicalSnapshot } from '../pipeline/physical-restore';
import { copyDirectoryTree } from '../pipeline/directory-copy';
import { syncDirectoryTree, syncEntry } from '../pipeline/directory-sync';
import { readToolVersion, ToolFailedError } from '../pipeline/tool-process';
import { classifyToolFailure } from '../domain/server-errors';
import { startLocalServer } from '../pipeline/local-server';
import { stopLeftoverLocalServer } from '../pipeline/leftover-servers';
import type { PointInTimeTarget } from '../domain/point-in-time-target';
import { replayArchivedBinlog, type ReplayOutcome } from './point-in-time-activities';

export interface PopulateReplicaInput {
  repository: Named<RepositorySpec>;
  manifest: Manifest;
  restoreId: string;
  ordinal: number;
  /** Replace whatever the volume holds; without it only an empty volume, this restore's own or an unfinished one is written. */
  overwrite: boolean;
  /** The configuration's age identity, for encrypted snapshots. */
  identity?: SecretRef;
  /** Replay the configuration's archived binary log into the prepared volume up to this point (docs/point-in-time-recovery.md). */
  pointInTime?: PointInTimeTarget;
  /**
   * Another replica of this restore, populated already, whose volume this worker copies when it
   * sees it complete (the embedded mode, one host): its data is prepared, and replayed to
   * `pointInTime`, once for every replica. A volume the worker cannot see, or that is not this
   * restore's complete one, is ignored, and the snapshot is downloaded and prepared again.
   */
  copyFrom?: { ordinal: number; directory: string };
  /**
   * Owner of the restored files. Default, for a worker running as root (the embedded mode): the
   * owner of the volume's root, as the provisioner made it. A worker running as another user
   * (the Kubernetes Job runs as the database's uid) leaves them to itself.
   */
  owner?: { uid: number; gid: number };
}

export interface PopulateReplicaResult {
  ordinal: number;
  volume: string;
  /** Bytes of the prepared data directory on the volume. */
  bytesOnVolume: number;
  durationSeconds: number;
  preparedWith: string;
  /** A point-in-time restore: what the worker's own server replayed into the volume after prepare. */
  replayed?: ReplayOutcome;
  /** The replica whose complete volume was copied, instead of downloading and preparing the snapshot again. */
  copiedFrom?: number;
}

/**
 * The activities of a replica worker: a worker bound to one volume (a local directory in the
 * embedded mode, a mounted PVC in a Kubernetes Job), polling a task queue of its own. The
 * volume is the worker's, never an input: a workflow cannot point it at another path.
 */
export function createReplicaActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
  volumeDir: string;
}) {
  const volume = path.resolve(deps.volumeDir);

  /** Empties the volume so every attempt starts clean, refusing data that is not this restore's to replace. */
  async function claimVolume(input: PopulateReplicaInput): Promise<void> {
    await mkdir(volume, { recursive: true });
    // A worker killed mid-replay leaves its server running on the volume; nothing may write to it now.
    await stopLeftoverLocalServer(volume);
    const entries = await readdir(volume);
    const marker = parseReplicaVolumeMarker(await readFile(path.join(volume, RESTORE_MARKER_FILE), 'utf8').catch(() => undefined));
    const problem = replicaVolumeClaimProblem({
      entryCount: entries.filter((entry) => entry !== RESTORE_MARKER_PARTIAL_FILE).length,
      marker,
      restoreId: input.restoreId,
      overwrite: input.overwrite,
    });
    if (problem) {
      throw permanentFailure(
        PermanentFailureType.VolumeNotEmpty,
        `replica ${input.ordinal}: volume ${volume} ${problem}; nothing was changed. Use an empty volume, or pass overwrite to replace its contents`,
      );
    }
    // The marker goes last (replaced, not removed): a worker killed while emptying the volume
    // leaves it marked as this restore's, which the next attempt may claim again.
    const others = entries.filter((entry) => entry !== RESTORE_MARKER_FILE);
    await Promise.all(others.map((entry) => rm(path.join(volume, entry), { recursive: true, force: true })));
    await writeMarker(input, false);
  }

  /**
   * Written aside, synced, then renamed into place and the rename synced: a worker killed or a
   * host crashed mid-write leaves the old marker or the new one, never a torn one.
   */
  async function writeMarker(input: PopulateReplicaInput, complete: boolean, owner?: { uid: number; gid: number }): Promise<void> {
    const marker: ReplicaVolumeMarker = { restoreId: input.restoreId, snapshotId: input.manifest.snapshotId, complete };
    const partial = path.join(volume, RESTORE_MARKER_PARTIAL_FILE);
    await writeFile(partial, JSON.stringify(marker));
    if (owner) await lchown(partial, owner.uid, owner.gid);
    await syncEntry(partial, 'data');
    await rename(partial, path.join(volume, RESTORE_MARKER_FILE));
    await syncEntry(volume, 'all');
  }

  /**
   * The archived binary log, replayed into the prepared volume by a server of the worker's own
   * (pipeline/local-server.ts) up to the point asked for, which then shuts down cleanly. Its
   * transactions are applied without their GTIDs (the volume's server writes no binary log, and
   * MariaDB keeps no GTID state without one); the position the volume's data reached is written
   * where mariadb-backup wrote the snapshot's, so a replica made from it replicates from there.
   */
  async function replayIntoVolume(params: {
    input: PopulateReplicaInput;
    pointInTime: PointInTimeTarget;
    owner: { uid: number; gid: number } | undefined;
    storage: Storage;
    identity: string | undefined;
    controller: AbortController;
    progress: Progress;
  }): Promise<ReplayOutcome> {
    const { manifest, ordinal } = params.input;
    const engine = manifest.target.engine;
    const server = await startLocalServer({ engine, datadir: volume, owner: params.owner, signal: params.controller.signal });
    let replayed: ReplayOutcome;
    try {
      replayed = await withSecretFiles(
        { 'client.cnf': optionFileContents(undefined), ...(params.identity ? { identity: params.identity } : {}) },
        (files: Record<string, string>) =>
          replayArchivedBinlog({
            manifest,
            engine,
            client: rootClientCommand(engine, files['client.cnf']!, { socket: server.socket }),
            keepSourceGtids: false,
            pointInTime: params.pointInTime,
            identityFile: files.identity,
            storage: params.storage,
            controller: params.controller,
            progress: params.progress,
            into: `replica ${ordinal} (${volume})`,
          }),
      );
    } catch (error) {
      await server.stop().catch(() => undefined);
      // A statement the server refuses (syntax, an engine it lacks) is refused again on every attempt.
      const refused = error instanceof ToolFailedError && error.exitedOnItsOwn ? classifyToolFailure(error.message) : undefined;
      if (refused?.permanent && error instanceof Error) {
        throw permanentFailure(
          PermanentFailureType.RestoreStatementRejected,
          `replica ${ordinal}: the worker's own server refused a statement of the binary log replay (${refused.reason}), which no retry changes: ${error.message}`,
        );
      }
      throw error;
    }
    await server.stop();
    await recordReachedPosition(volume, replayed);
    return replayed;
  }

  /**
   * The other replica's complete volume copied into this one (everything but its marker), and
   * its ordinal; undefined, with the volume left as claimed, when this worker does not see that
   * volume complete for this restore and snapshot.
   */
  async function copyCompleteReplica(
    input: PopulateReplicaInput,
    from: { ordinal: number; directory: string },
    signal: AbortSignal,
    progress: Progress,
  ): Promise<number | undefined> {
    const source = path.resolve(from.directory);
    const marker = parseReplicaVolumeMarker(await readFile(path.join(source, RESTORE_MARKER_FILE), 'utf8').catch(() => undefined));
    const usable =
      source !== volume &&
      marker?.complete === true &&
      marker.restoreId === input.restoreId &&
      marker.snapshotId === input.manifest.snapshotId;
    if (!usable) {
      log.info('the replica to copy is not complete here; populating from the repository', { from: source, ordinal: input.ordinal });
      return undefined;
    }
    progress.phase = `copying replica ${from.ordinal}`;
    await copyDirectoryTree({ from: source, to: volume, skip: [RESTORE_MARKER_FILE, RESTORE_MARKER_PARTIAL_FILE], signal, progress });
    return from.ordinal;
  }

  return {
    /**
     * The snapshot extracted into the volume and prepared (pipeline/physical-restore.ts), then
     * chowned (as root) and synced to the disk, and only then marked complete: the volume becomes
     * a data directory a server starts on, even after the host crashed. The SHA-256 of
     * the stored object is checked before prepare; a mismatch wipes the volume. Given `copyFrom`
     * and that volume complete, a copy of it instead: prepared and replayed already.
     */
    async populateReplicaVolume(input: PopulateReplicaInput): Promise<PopulateReplicaResult> {
      const started = Date.now();
      const { manifest } = input;
      const engine = manifest.target.engine;
      const progress: Progress = { phase: 'claiming volume', bytesRead: 0, bytesWritten: 0 };
      const stopHeartbeats = startHeartbeats(() => ({ ...progress }));
      const controller = abortOnActivityCancel();
      try {
        await claimVolume(input);
        const copiedFrom = input.copyFrom && (await copyCompleteReplica(input, input.copyFrom, controller.signal, progress));
        let replayed: ReplayOutcome | undefined;
        const owner = input.owner ?? (await volumeRootOwnerIfRoot(volume));
        if (copiedFrom === undefined) {
          const storage = await deps.openStorage(input.repository, deps.secrets);
          const identity = await resolveSnapshotIdentity(manifest, input.identity, deps.secrets);
          await withSecretFiles(identity ? { identity } : {}, (files: Record<string, string>) =>
            restorePhysicalSnapshot({
              storage,
              manifest,
              identityFile: files.identity,
              directory: volume,
              signal: controller.signal,
              progress,
              onChecksumMismatch: {
                discard: () => claimVolume({ ...input, overwrite: true }),
                consequence: `replica ${input.ordinal} volume wiped`,
              },
            }),
          );
          if (input.pointInTime) {
            progress.phase = 'fixing ownership';
            await measureTree(volume, owner);
            progress.phase = 'replaying binary log';
            progress.bytesRead = 0;
            replayed = await replayIntoVolume({ input, pointInTime: input.pointInTime, owner, storage, identity, controller, progress });
          }
        }
        progress.phase = 'fixing ownership';
        const bytesOnVolume = await measureTree(volume, owner);
        // Only a volume that is on the disk whole is marked complete: extraction and prepare write through the page cache.
        progress.phase = 'syncing to disk';
        await syncDirectoryTree(volume, controller.signal);
        await writeMarker(input, true, owner);
        const result: PopulateReplicaResult = {
          ordinal: input.ordinal,
          volume,
          bytesOnVolume,
          durationSeconds: (Date.now() - started) / 1000,
          preparedWith: await readToolVersion(toolVersionCommand(engine, 'physical')),
          ...(replayed ? { replayed } : {}),
          ...(copiedFrom === undefined ? {} : { copiedFrom }),
        };
        log.info('replica volume populated', { ...result, snapshotId: manifest.snapshotId, attempt: Context.current().info.attempt });
        return result;
      } finally {
        stopHeartbeats();
      }
    },
  };
}

/**
 * mariadb-backup's record of the snapshot's binary log position (`file<TAB>offset<TAB>GTID`), which
 * operators read to make the restored server a replica: after a replay it names the replay's end.
 */
const BINLOG_INFO_FILES = ['xtrabackup_binlog_info', 'mariadb_backup_binlog_info'];

async function recordReachedPosition(volume: string, replayed: ReplayOutcome): Promise<void> {
  if (!replayed.lastAppliedEnd) return;
  const { file, offset } = replayed.lastAppliedEnd;
  for (const name of BINLOG_INFO_FILES) {
    const infoFile = path.join(volume, name);
    const existing = await stat(infoFile).catch(() => undefined);
    if (!existing) continue;
    await writeFile(infoFile, `${file}\t${offset}\t${replayed.reachedGtids}\n`);
    await lchown(infoFile, existing.uid, existing.gid);
  }
}

/** Only root may give files away; anyone else already owns what it restored. */
async function volumeRootOwnerIfRoot(volume: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const root = await stat(volume);
  return { uid: root.uid, gid: root.gid };
}

/** The bytes of the regular files under dir; with chownTo, chown -R on the way, without following links. */
async function measureTree(dir: string, chownTo: { uid: number; gid: number } | undefined): Promise<number> {
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
