import { Context, log } from '@temporalio/activity';
import { lchown, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Manifest } from '../domain/manifest';
import type { Progress } from '../domain/progress';
import type { Named, RepositorySpec } from '../domain/resources';
import type { SecretRef } from '../domain/secret-ref';
import { rootClientCommand, optionFileContents, toolVersionCommand } from '../domain/tool-commands';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import { withSecretFiles } from '../pipeline/option-file';
import { resolveSnapshotIdentity } from './snapshot-decryption';
import { restorePhysicalSnapshot } from '../pipeline/physical-restore';
import { readToolVersion, ToolFailedError } from '../pipeline/tool-process';
import { classifyToolFailure } from '../domain/server-errors';
import { startLocalServer } from '../pipeline/local-server';
import type { PointInTimeTarget } from '../domain/point-in-time-target';
import { replayArchivedBinlog, type ReplayOutcome } from './point-in-time-activities';
import {
  claimVolume,
  completeVolume,
  copyReplicaFiles,
  isCompleteReplicaOf,
  measureTree,
  volumeRootOwnerIfRoot,
  type VolumeClaim,
} from './replica-volume';

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
   * restore's complete one, is ignored, and the snapshot is downloaded and prepared again. Only
   * sessions started before the workflow patch `copies-by-session-worker` ask for it: later ones
   * have the session's worker copy (replica-copy.ts).
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

  const claimOf = (input: PopulateReplicaInput): VolumeClaim => ({
    restoreId: input.restoreId,
    ordinal: input.ordinal,
    overwrite: input.overwrite,
    snapshotId: input.manifest.snapshotId,
  });

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
    if (!(await isCompleteReplicaOf(source, volume, claimOf(input)))) {
      log.info('the replica to copy is not complete here; populating from the repository', { from: source, ordinal: input.ordinal });
      return undefined;
    }
    progress.phase = `copying replica ${from.ordinal}`;
    await copyReplicaFiles(source, volume, signal, progress);
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
        await claimVolume(volume, claimOf(input));
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
                discard: () => claimVolume(volume, { ...claimOf(input), overwrite: true }),
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
        const bytesOnVolume = await completeVolume({ volume, claim: claimOf(input), owner, signal: controller.signal, progress });
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
