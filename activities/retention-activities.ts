import { Context, log } from '@temporalio/activity';
import { configurationPrefix, MANIFEST_FILE, snapshotKey } from '../domain/repository-layout';
import type { Named, RepositorySpec } from '../domain/resources';
import { selectAbandonedFolders } from '../domain/abandoned-folders';
import { applyRetentionPolicy, type RetentionPolicy } from '../domain/retention-policy';
import { parsePruneSessionInput } from '../domain/session-inputs';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { readSnapshotCatalog } from './snapshot-catalog';
import { readBinlogCatalog } from './binlog-catalog';
import { binlogFileFolder, isBinlogIndexKey } from '../domain/binlog-archive';
import { prunableBinlogFolders } from '../domain/binlog-replay';
import type { Manifest } from '../domain/manifest';
import { parseArrivedSessionInput } from './session-input';

export interface ApplyRetentionInput {
  repository: Named<RepositorySpec>;
  configuration: string;
  /** Undefined: no policy, everything is kept (and the step only measures the repository). */
  policy?: RetentionPolicy;
  /** Snapshots never removed, e.g. the one the session just committed. */
  protect: string[];
  dryRun: boolean;
}

/** At most this many kept/removed entries are returned; the counts are always complete. */
const MAX_LISTED = 200;

export interface ApplyRetentionResult {
  dryRun: boolean;
  kept: Array<{ snapshotId: string; startedAt: string; reasons: string[] }>;
  removed: Array<{ snapshotId: string; startedAt: string; reason: string }>;
  keptCount: number;
  removedCount: number;
  /** Folders without a manifest, untouched for a day, deleted (or, in a dry run, to be): domain/abandoned-folders.ts. */
  abandoned: string[];
  /** Archived binary log files (point-in-time recovery) no kept snapshot needs any more: removed, or in a dry run to be. */
  binlogFilesRemoved: number;
  /** After pruning (or, in a dry run, as it would be): snapshots and their stored bytes. */
  snapshotCount: number;
  storedBytes: number;
}

export function createRetentionActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}) {
  return {
    /**
     * Applies the configuration's retention policy. A removed snapshot loses its manifest first,
     * so it stops being a snapshot at once, and then its data: an interruption in between
     * leaves an unlisted folder, never a listed snapshot without data. Such folders, and the
     * data of sessions that never committed, are deleted once abandoned (a day untouched).
     */
    async applyRetention(input: ApplyRetentionInput): Promise<ApplyRetentionResult> {
      // The first activity of a prune session; after a backup it meets the specs the preflight parsed.
      const { repository, configuration, dryRun } = input;
      const { policy } = parseArrivedSessionInput(parsePruneSessionInput, { repository, configuration, policy: input.policy, dryRun });
      const storage = await deps.openStorage(input.repository, deps.secrets);
      const catalog = await readSnapshotCatalog(storage, input.configuration);
      const now = new Date();
      const decision = applyRetentionPolicy(catalog.snapshots, policy ?? {}, { now, protect: input.protect });
      const abandoned = selectAbandonedFolders(catalog.unfinished, now);
      const context = Context.current();
      if (!input.dryRun) {
        for (const [index, { snapshot }] of decision.remove.entries()) {
          context.heartbeat({ phase: 'pruning', snapshotsRemoved: index, snapshotsToRemove: decision.remove.length });
          await storage.delete(snapshotKey(input.configuration, snapshot.snapshotId, MANIFEST_FILE));
          for await (const object of storage.list(`${configurationPrefix(input.configuration)}${snapshot.snapshotId}/`)) {
            await storage.delete(object.key);
          }
          log.info('snapshot removed by retention', { configuration: input.configuration, snapshotId: snapshot.snapshotId });
        }
        for (const folder of abandoned) {
          context.heartbeat({ phase: 'removing abandoned folders', folder: folder.snapshotId });
          for (const key of folder.keys) await storage.delete(key);
          log.info('abandoned snapshot folder removed', {
            configuration: input.configuration,
            snapshotId: folder.snapshotId,
            lastModified: folder.lastModified.toISOString(),
          });
        }
      }
      const binlogFilesRemoved = await pruneArchivedBinlog(
        storage,
        input.configuration,
        decision.keep.map(({ snapshot }) => snapshot),
        input.dryRun,
      );
      return {
        dryRun: input.dryRun,
        binlogFilesRemoved,
        kept: decision.keep.slice(0, MAX_LISTED).map(({ snapshot, reasons }) => ({
          snapshotId: snapshot.snapshotId,
          startedAt: snapshot.startedAt,
          reasons,
        })),
        removed: decision.remove.slice(0, MAX_LISTED).map(({ snapshot, reason }) => ({
          snapshotId: snapshot.snapshotId,
          startedAt: snapshot.startedAt,
          reason,
        })),
        keptCount: decision.keep.length,
        removedCount: decision.remove.length,
        abandoned: abandoned.slice(0, MAX_LISTED).map((folder) => folder.snapshotId),
        snapshotCount: decision.keep.length,
        storedBytes: decision.keep.reduce((total, { snapshot }) => total + snapshot.data.storedBytes, 0),
      };
    },
  };
}

/**
 * Removes the archived binary log files no kept snapshot needs (domain/binlog-replay.ts), index
 * entries first: a file stops being part of any window before its data goes, so the recoverable
 * window never advertises a time whose binary log is half deleted. Returns how many files.
 */
async function pruneArchivedBinlog(storage: Storage, configuration: string, kept: readonly Manifest[], dryRun: boolean): Promise<number> {
  const { pieces } = await readBinlogCatalog(storage, configuration);
  const flavor = pieces[0]?.source.flavor;
  if (!flavor) return 0;
  const keptGtids = kept
    .map((m) => m.replication?.gtidExecuted ?? m.replication?.gtidBinlogPos)
    .filter((gtids): gtids is string => gtids !== undefined);
  const withFolders = pieces.map((piece) => ({
    folder: binlogFileFolder(configuration, piece.source.name, piece.file, piece.fileStartGtids),
    piece,
  }));
  const folders = prunableBinlogFolders(flavor, withFolders, keptGtids);
  if (dryRun) return folders.length;
  const context = Context.current();
  for (const [index, folder] of folders.entries()) {
    context.heartbeat({ phase: 'pruning archived binary log', filesRemoved: index, filesToRemove: folders.length });
    const objects: string[] = [];
    for await (const object of storage.list(folder)) objects.push(object.key);
    // Index entries first, then the data they described.
    for (const key of objects.filter(isBinlogIndexKey)) await storage.delete(key);
    for (const key of objects.filter((key) => !isBinlogIndexKey(key))) await storage.delete(key);
    log.info('archived binary log file removed by retention', { configuration, folder });
  }
  return folders.length;
}
