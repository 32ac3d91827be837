import type { Manifest } from '../domain/manifest';
import { recoverableWindows, type ArchiveGap, type RecoverableWindow, type SnapshotPoint } from '../domain/recoverable-window';
import type { Named, RepositorySpec } from '../domain/resources';
import { serverIdentity, type ServerFlavor } from '../domain/server-flavor';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { readBinlogCatalog } from './binlog-catalog';
import { readSnapshotCatalog } from './snapshot-catalog';

export interface RecoverableWindowInput {
  repository: Named<RepositorySpec>;
  configuration: string;
}

export interface RecoverableWindowResult {
  windows: RecoverableWindow[];
  gaps: ArchiveGap[];
  /** The newest archived transaction's time: the recovery point as of the last stored piece. */
  lastArchivedEventAt?: string;
  pieces: number;
  archivedBytes: number;
  /** Index entries that cannot be trusted (damaged, data missing): left out of every window. */
  problems: Array<{ key: string; reason: string }>;
}

/** Where a snapshot stands in its source's GTID history, if the manifest recorded it. */
function snapshotPoint(manifest: Manifest): SnapshotPoint | undefined {
  const gtids = manifest.replication?.gtidExecuted ?? manifest.replication?.gtidBinlogPos;
  return gtids === undefined ? undefined : { snapshotId: manifest.snapshotId, gtids, consistentAt: manifest.startedAt };
}

export function createPointInTimeActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}) {
  return {
    /** The configuration's recoverable windows and gaps, from its snapshots and its archived binary log. */
    async readRecoverableWindow(input: RecoverableWindowInput): Promise<RecoverableWindowResult> {
      const storage = await deps.openStorage(input.repository, deps.secrets);
      const [snapshots, binlogs] = await Promise.all([
        readSnapshotCatalog(storage, input.configuration),
        readBinlogCatalog(storage, input.configuration),
      ]);
      const flavor: ServerFlavor | undefined =
        binlogs.pieces[0]?.source.flavor ??
        snapshots.snapshots.map((m) => m.server.flavor ?? serverIdentity(m.server.version).flavor).find((f) => f !== undefined);
      const points = snapshots.snapshots.map(snapshotPoint).filter((p): p is SnapshotPoint => p !== undefined);
      const { windows, gaps } = flavor ? recoverableWindows(flavor, points, binlogs.pieces) : { windows: [], gaps: [] };
      const last = binlogs.pieces
        .map((p) => p.lastEventAt)
        .sort()
        .at(-1);
      return {
        windows,
        gaps,
        ...(last ? { lastArchivedEventAt: last } : {}),
        pieces: binlogs.pieces.length,
        archivedBytes: binlogs.pieces.reduce((sum, p) => sum + p.data.storedBytes, 0),
        problems: binlogs.problems,
      };
    },
  };
}
