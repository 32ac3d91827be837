import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Manifest } from '../domain/manifest';
import type { Progress } from '../domain/progress';
import { snapshotKey } from '../domain/repository-layout';
import { extractStreamCommand, preparePhysicalBackupCommand, restoreFilters } from '../domain/tool-commands';
import type { Storage } from '../storage/storage';
import { hashStoredObject, streamRepositoryToTool, type StreamedObject } from './stream-pipelines';
import { withOwnController } from './stages';
import { startTool, ToolFailedError } from './tool-process';

const dataKey = (manifest: Manifest) => snapshotKey(manifest.configuration, manifest.snapshotId, manifest.data.file);

/**
 * Reads the snapshot's data object once more and tells whether its SHA-256 is the manifest's:
 * after a restore whose tools failed, it tells a damaged object (which may not even decompress,
 * and which no retry mends) from a tool that failed.
 */
export async function storedObjectMatchesManifest(params: {
  storage: Storage;
  manifest: Manifest;
  signal: AbortSignal;
  progress: Progress;
}): Promise<boolean> {
  params.progress.phase = 'checking the stored object';
  const stored = await hashStoredObject({ ...params, key: dataKey(params.manifest) });
  return stored.sha256 === params.manifest.data.sha256;
}

/**
 * A physical snapshot made a data directory a server starts on, in `directory` (which exists,
 * empty): the stored object → decryptor → decompressor → the engine's xbstream extractor, its
 * SHA-256 checked against the manifest before anything prepares what was extracted, then
 * prepared (mariadb-backup/xtrabackup --prepare applies the redo log). A replica volume and a
 * physical restore drill are both made this way.
 *
 * A damaged object fails with ChecksumMismatch, after `onChecksumMismatch.discard` removed what
 * was extracted; its message ends with `onChecksumMismatch.consequence`.
 */
export async function restorePhysicalSnapshot(params: {
  storage: Storage;
  manifest: Manifest;
  /** The age identity's file, for an encrypted snapshot. */
  identityFile: string | undefined;
  directory: string;
  /** Aborts the restore (the activity's cancellation). */
  signal: AbortSignal;
  progress: Progress;
  onChecksumMismatch: { discard?: () => Promise<void>; consequence: string };
}): Promise<StreamedObject> {
  const { storage, manifest, signal, progress } = params;
  const engine = manifest.target.engine;
  const mismatch = async () => {
    await params.onChecksumMismatch.discard?.();
    return permanentFailure(
      PermanentFailureType.ChecksumMismatch,
      `snapshot ${manifest.snapshotId}: data object does not match its manifest (sha256); ${params.onChecksumMismatch.consequence}`,
    );
  };
  progress.phase = 'downloading and extracting';
  let streamed: StreamedObject;
  try {
    streamed = await withOwnController(signal, (controller) =>
      streamRepositoryToTool({
        storage,
        key: dataKey(manifest),
        filters: restoreFilters({ algorithm: manifest.compression.algorithm, identityFile: params.identityFile }),
        consumer: extractStreamCommand(engine, params.directory),
        controller,
        progress,
      }),
    );
  } catch (error) {
    // Only a tool's failure sends the object through a second read: a damaged object is a checksum failure, not a retry.
    if (
      error instanceof ToolFailedError &&
      !signal.aborted &&
      !(await storedObjectMatchesManifest({ storage, manifest, signal, progress }))
    )
      throw await mismatch();
    throw error;
  }
  if (streamed.sha256 !== manifest.data.sha256) throw await mismatch();
  progress.phase = 'preparing';
  await startTool(preparePhysicalBackupCommand(engine, params.directory), { signal, stdin: 'ignore', stdout: 'ignore' }).finished;
  return streamed;
}
