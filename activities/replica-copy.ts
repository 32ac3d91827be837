import { log } from '@temporalio/activity';
import path from 'node:path';
import type { Progress } from '../domain/progress';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import {
  claimVolume,
  completeVolume,
  copyReplicaFiles,
  isCompleteReplicaOf,
  volumeRootOwnerIfRoot,
  type VolumeClaim,
} from './replica-volume';

export interface CopyReplicaVolumeInput extends VolumeClaim {
  /** The replica's directory on the worker's host: the restore's `volumeTemplate` for its ordinal, validated with the session's input. */
  directory: string;
  /** The replica of the same restore whose volume is complete: replica 0, downloaded and prepared. */
  from: { ordinal: number; directory: string };
}

/** A copy made, or why none was: the session then populates the replica from the repository. */
export type CopyReplicaVolumeResult =
  { copied: true; volume: string; bytesOnVolume: number; durationSeconds: number } | { copied: false; reason: string };

/**
 * Replicas on directories of one host (the embedded mode): the session's own worker, already
 * running, copies replica 0's complete volume into another replica's directory. No replica
 * worker starts for a copy: on a small host, a Node process starting beside replica 0's
 * population slowed it down (bench/README.md). The copy claims the volume as a replica worker
 * does (VolumeNotEmpty without `overwrite`), gives the files the volume's owner, syncs it whole
 * and only then marks it complete.
 */
export function createReplicaCopyActivities() {
  return {
    async copyReplicaVolume(input: CopyReplicaVolumeInput): Promise<CopyReplicaVolumeResult> {
      const started = Date.now();
      const volume = path.resolve(input.directory);
      const source = path.resolve(input.from.directory);
      // Checked before the claim: a worker on another host than replica 0's leaves the volume to a replica worker.
      if (!(await isCompleteReplicaOf(source, volume, input))) {
        log.info('the replica to copy is not complete on this host; it is populated from the repository', {
          from: source,
          ordinal: input.ordinal,
        });
        return { copied: false, reason: `replica ${input.from.ordinal}'s volume ${source} is not this restore's complete one here` };
      }
      const progress: Progress = { phase: 'claiming volume', bytesRead: 0, bytesWritten: 0 };
      const stopHeartbeats = startHeartbeats(() => ({ ...progress }));
      const controller = abortOnActivityCancel();
      try {
        await claimVolume(volume, input);
        progress.phase = `copying replica ${input.from.ordinal}`;
        await copyReplicaFiles(source, volume, controller.signal, progress);
        const owner = await volumeRootOwnerIfRoot(volume);
        const bytesOnVolume = await completeVolume({ volume, claim: input, owner, signal: controller.signal, progress });
        const durationSeconds = (Date.now() - started) / 1000;
        log.info('replica volume copied', { ordinal: input.ordinal, from: input.from.ordinal, volume, bytesOnVolume, durationSeconds });
        return { copied: true, volume, bytesOnVolume, durationSeconds };
      } finally {
        stopHeartbeats();
      }
    },
  };
}
