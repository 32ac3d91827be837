import { Context, log } from '@temporalio/activity';
import { configurationPrefix, MANIFEST_FILE, snapshotKey } from '../domain/repository-layout';
import type { Named, RepositorySpec } from '../domain/resources';
import { selectAbandonedFolders } from '../domain/abandoned-folders';
import { applyRetentionPolicy, type RetentionPolicy } from '../domain/retention-policy';
import { parsePruneSessionInput } from '../domain/session-inputs';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { readSnapshotCatalog } from './snapshot-catalog';
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
      return {
        dryRun: input.dryRun,
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
