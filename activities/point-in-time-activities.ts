import { log } from '@temporalio/activity';
import { binlogFileFolder } from '../domain/binlog-archive';
import { replayFiles, replayStopOf, ReplaySelection, snapshotForPointInTime } from '../domain/binlog-replay';
import type { PointInTimeTarget } from '../domain/point-in-time-target';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Manifest } from '../domain/manifest';
import type { Progress } from '../domain/progress';
import type { Engine } from '../domain/resources';
import { binlogDecodeCommand, clientFamily, isMariadbGtidSessionLine, restoreFilters, type ToolCommand } from '../domain/tool-commands';
import { BinlogPieceChecksumError, replayBinlogFiles } from '../pipeline/binlog-replay';
import { recoverableWindows, type ArchiveGap, type RecoverableWindow, type SnapshotPoint } from '../domain/recoverable-window';
import type { Named, RepositorySpec } from '../domain/resources';
import { serverIdentity, type ServerFlavor } from '../domain/server-flavor';
import { parseRestoringSessionInput, type RestoringSessionInput } from '../domain/session-inputs';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { readBinlogCatalog } from './binlog-catalog';
import { readSnapshotCatalog } from './snapshot-catalog';
import { parseArrivedSessionInput } from './session-input';

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

/**
 * Where a snapshot stands in its source's GTID history, if the manifest recorded it, and when its
 * data was consistent: a logical snapshot as of its start (one transaction), a physical one as of
 * the moment mariadb-backup blocked commits to read the position, near its end (completedAt
 * follows it, so a window never starts before the snapshot's data).
 */
function snapshotPoint(manifest: Manifest): SnapshotPoint | undefined {
  const gtids = manifest.replication?.gtidExecuted ?? manifest.replication?.gtidBinlogPos;
  if (gtids === undefined) return undefined;
  return {
    snapshotId: manifest.snapshotId,
    gtids,
    consistentAt: manifest.method === 'logical' ? manifest.startedAt : manifest.completedAt,
  };
}

/**
 * A configuration's snapshots and archived binary log, and the windows and gaps they make; with
 * `method`, only its snapshots start windows (those a restore of that kind can start from).
 */
export async function readRecoverableState(storage: Storage, configuration: string, method?: Manifest['method']) {
  const [snapshots, binlogs] = await Promise.all([readSnapshotCatalog(storage, configuration), readBinlogCatalog(storage, configuration)]);
  const flavor: ServerFlavor | undefined = binlogs.pieces[0]?.source.flavor ?? snapshots.snapshots.map(flavorOf)[0];
  const points = snapshots.snapshots
    .filter((manifest) => method === undefined || manifest.method === method)
    .map(snapshotPoint)
    .filter((p): p is SnapshotPoint => p !== undefined);
  const { windows, gaps } = flavor ? recoverableWindows(flavor, points, binlogs.pieces) : { windows: [], gaps: [] };
  return { flavor, points, windows, gaps, binlogs };
}

export interface ResolvePointInTimeInput {
  repository: Named<RepositorySpec>;
  configuration: string;
  pointInTime: PointInTimeTarget;
  /** The kind of snapshot the restore starts from: `logical` (into a Target, the default) or `physical` (into volumes). */
  method?: Manifest['method'];
  /** The session's whole input: this is its first activity. Absent in inputs of earlier versions. */
  session?: RestoringSessionInput;
}

export function createPointInTimeActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}) {
  const readWindows = async (repository: Named<RepositorySpec>, configuration: string, method?: Manifest['method']) =>
    readRecoverableState(await deps.openStorage(repository, deps.secrets), configuration, method);

  return {
    /**
     * The snapshot a point-in-time restore starts from; a point outside every recoverable window
     * is refused here, before the restore touches anything, with the windows in the message.
     */
    async resolvePointInTime(input: ResolvePointInTimeInput): Promise<{ snapshotId: string }> {
      if (input.session) parseArrivedSessionInput(parseRestoringSessionInput, input.session);
      const method = input.method ?? 'logical';
      const { flavor, points, windows, binlogs } = await readWindows(input.repository, input.configuration, method);
      const chosen = flavor
        ? snapshotForPointInTime({ flavor, windows, snapshots: points, pieces: binlogs.pieces, target: input.pointInTime })
        : { problem: `configuration ${input.configuration} has no snapshot and no archived binary log yet` };
      if ('problem' in chosen) {
        throw permanentFailure(
          PermanentFailureType.OutsideRecoverableWindow,
          `${input.configuration}: ${chosen.problem}, counting ${method} snapshots only; nothing was touched`,
        );
      }
      return chosen;
    },

    /** The configuration's recoverable windows and gaps, from its snapshots and its archived binary log. */
    async readRecoverableWindow(input: RecoverableWindowInput): Promise<RecoverableWindowResult> {
      const { windows, gaps, binlogs } = await readWindows(input.repository, input.configuration);
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

/** What a point-in-time restore replayed after its snapshot. */
export interface ReplayOutcome {
  transactions: number;
  /** The last replayed transaction's statement time and GTID; absent when nothing after the snapshot was replayed. */
  lastAppliedAt?: string;
  lastAppliedGtid?: string;
  /** Where the last replayed transaction ends in the source's binary log (file, offset after it). */
  lastAppliedEnd?: { file: string; offset: number };
  /** Whether the replayed transactions kept the source's GTIDs (the target took the snapshot's) or became the target's own. */
  sourceGtids: boolean;
  /**
   * The source's GTID state the restored data is at: the snapshot's, plus every replayed
   * transaction (what a replica made from it starts replicating after).
   */
  reachedGtids: string;
}

function flavorOf(manifest: Manifest): ServerFlavor {
  return manifest.server.flavor ?? serverIdentity(manifest.server.version).flavor;
}

/**
 * Replays the configuration's archived binary log onto the snapshot just restored, in one client
 * session, up to the point asked for: domain/binlog-replay.ts selects the transactions, the
 * engine's decoder turns them into SQL, `client` applies them (into a Target, or into the worker's
 * own server on a restored volume). With `keepSourceGtids` the replay continues the source's
 * history with the source's GTIDs (the target took the snapshot's); otherwise every replayed
 * transaction is applied without them, so none is ever skipped because the target already knows its GTID.
 */
export async function replayArchivedBinlog(params: {
  manifest: Manifest;
  /** Whose decoder reads the archived binary log: the snapshot's engine. */
  engine: Engine;
  client: ToolCommand;
  keepSourceGtids: boolean;
  pointInTime: PointInTimeTarget;
  /** The age identity file, for an encrypted archive. */
  identityFile?: string;
  storage: Storage;
  controller: AbortController;
  progress: Progress;
  /** Names what is replayed into, for the log. */
  into: string;
}): Promise<ReplayOutcome> {
  const { manifest, engine, keepSourceGtids } = params;
  const flavor = flavorOf(manifest);
  const snapshotGtids = manifest.replication?.gtidExecuted ?? manifest.replication?.gtidBinlogPos;
  if (!snapshotGtids) {
    throw permanentFailure(
      PermanentFailureType.InvalidInput,
      `snapshot ${manifest.snapshotId} records no GTID position, so no binary log replay can start from it`,
    );
  }
  const catalog = await readBinlogCatalog(params.storage, manifest.configuration);
  const folderOf = (piece: (typeof catalog.pieces)[number]) =>
    binlogFileFolder(manifest.configuration, piece.source.name, piece.file, piece.fileStartGtids);
  const files = replayFiles(
    flavor,
    snapshotGtids,
    catalog.pieces.map((piece) => ({ folder: folderOf(piece), piece })),
  );
  const stop = replayStopOf(params.pointInTime);
  const selection = new ReplaySelection(flavor, snapshotGtids, stop);
  try {
    await replayBinlogFiles({
      storage: params.storage,
      files: files.map((file) => ({
        name: file.file,
        pieces: file.pieces.map((piece) => ({
          key: `${file.folder}${piece.data.file}`,
          filters: restoreFilters({
            algorithm: piece.compression.algorithm,
            identityFile: piece.encryption ? params.identityFile : undefined,
          }),
          sha256: piece.data.sha256,
        })),
      })),
      selection,
      decoder: binlogDecodeCommand(engine, keepSourceGtids),
      client: params.client,
      ...(clientFamily(engine) === 'mariadb' && !keepSourceGtids ? { dropLine: isMariadbGtidSessionLine } : {}),
      controller: params.controller,
      progress: params.progress,
    });
  } catch (error) {
    // A piece that changed in the repository stays changed: no retry helps.
    if (error instanceof BinlogPieceChecksumError) throw permanentFailure(PermanentFailureType.ChecksumMismatch, error.message);
    throw error;
  }
  if ('beforeGtid' in stop && !selection.done) {
    throw permanentFailure(
      PermanentFailureType.OutsideRecoverableWindow,
      `transaction ${stop.beforeGtid} was not found in the archive after snapshot ${manifest.snapshotId}; nothing of the replay is kept`,
    );
  }
  const outcome: ReplayOutcome = {
    transactions: selection.applied,
    ...(selection.lastAppliedAt === undefined ? {} : { lastAppliedAt: new Date(selection.lastAppliedAt * 1000).toISOString() }),
    ...(selection.lastAppliedGtid === undefined ? {} : { lastAppliedGtid: selection.lastAppliedGtid }),
    ...(selection.lastAppliedEnd === undefined ? {} : { lastAppliedEnd: selection.lastAppliedEnd }),
    sourceGtids: keepSourceGtids,
    reachedGtids: selection.reachedGtids,
  };
  log.info('binary log replayed', { snapshotId: manifest.snapshotId, into: params.into, ...outcome });
  return outcome;
}
