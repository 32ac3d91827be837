import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context, log } from '@temporalio/activity';
import type mysql from 'mysql2/promise';
import {
  binlogArchivePrefix,
  binlogFileFolder,
  binlogPieceKeys,
  binlogPieceSchema,
  binlogSourceName,
  fileStartGtidsFromEventInfo,
  isBinlogIndexKey,
  parseBinlogPiece,
  serializeBinlogPiece,
  type BinlogPiece,
  archiveSourceCandidates,
} from '../domain/binlog-archive';
import { missingBinlogArchivePrivileges } from '../domain/database-privileges';
import { parseDurationMs } from '../domain/duration';
import { isPermanentFailure, permanentFailure, PermanentFailureType } from '../domain/failures';
import { gtidStateReached } from '../domain/recoverable-window';
import { storedSuffix } from '../domain/repository-layout';
import type { BackupConfigurationSpec, Named, RepositorySpec, TargetSpec } from '../domain/resources';
import { serverIdentity, type ServerFlavor } from '../domain/server-flavor';
import { parseBackupSessionInput } from '../domain/session-inputs';
import { binlogReaderServerId, binlogStreamCommand, clientFamily, storageFilters } from '../domain/tool-commands';
import { followBinlog, type BinlogPieceOnDisk, type FollowProgress } from '../pipeline/binlog-follower';
import { targetCredentialFiles, withSecretFiles, type SecretFileContents } from '../pipeline/option-file';
import { makeScratchDirectory } from '../pipeline/scratch-directory';
import { streamReadableToRepository } from '../pipeline/stream-pipelines';
import type { SecretResolver } from '../secrets/secret-resolver';
import { resolveTargetCredentials } from '../secrets/target-credentials';
import type { Storage } from '../storage/storage';
import { ageRecipients } from './backup-activities';
import { connectToTarget } from './database-connection';
import { readSessionUserPrivileges, requirePrivileges } from './granted-privileges';
import { abortOnActivityCancel } from './heartbeat';
import { readRecoverableState } from './point-in-time-activities';
import { pushPointInTimeMetrics } from './session-metrics';
import { parseArrivedSessionInput } from './session-input';

export interface ArchiveBinlogInput {
  configuration: Named<BackupConfigurationSpec>;
  target: Named<TargetSpec>;
  repository: Named<RepositorySpec>;
  /** How long this run follows the source before it returns, so its workflow can continue as new. */
  runForMs: number;
}

export interface ArchiveBinlogResult {
  piecesStored: number;
  bytesStored: number;
  /** Where the archive stands: the last stored piece's end. */
  position?: { source: string; file: string; offset: number; gtids: string };
  /** When everything the source had sent was last stored. */
  caughtUpAt?: string;
  /** How often the replication client had to be started again (source restarts, network). */
  readerRestarts: number;
}

/** What the archiver heartbeats: its position and lag, shown in the UI's pending-activity card. */
export interface ArchiveProgress {
  phase: 'archiving' | 'waiting for the source';
  source?: string;
  file?: string;
  offset?: number;
  gtids?: string;
  piecesStored: number;
  bytesStored: number;
  caughtUpAt?: string;
  lagSeconds?: number;
  lastProblem?: string;
}

/** The source as the archiver sees it before it starts its replication client. */
interface BinlogSource {
  flavor: ServerFlavor;
  name: string;
  serverId: number;
  serverUuid?: string;
  hostname: string;
  port: number;
  /** SHOW BINARY LOGS, oldest first. */
  files: string[];
}

const HEARTBEAT_MS = 2000;
const RESTART_BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000];

export function createBinlogArchiveActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
  /** Where the archive's metrics go (dbkeep_pitr_*); none: not pushed. */
  pushgatewayUrl?: string;
}) {
  return {
    /**
     * Follows the Target's binary log for `runForMs` and stores it in the repository as pieces of
     * whole transactions, each with its index entry (domain/binlog-archive.ts), resuming where the
     * archive ends. A source that goes away is waited for, heartbeating; a user without the
     * replication privileges fails at once.
     */
    async archiveBinlog(input: ArchiveBinlogInput): Promise<ArchiveBinlogResult> {
      const { configuration, repository } = parseArrivedSessionInput(parseBackupSessionInput, {
        configuration: input.configuration,
        target: input.target,
        repository: input.repository,
      });
      const pitr = configuration.spec.pointInTimeRecovery;
      if (!pitr?.enabled) {
        throw permanentFailure(
          PermanentFailureType.InvalidInput,
          `BackupConfiguration "${configuration.name}" does not enable spec.pointInTimeRecovery; nothing to archive`,
        );
      }
      const target = archivingTarget(input.target, pitr.replicationUser);
      const storage = await deps.openStorage(repository, deps.secrets);
      const recipients = configuration.spec.encryption
        ? await deps.secrets.resolve(
            configuration.spec.encryption.age.recipients,
            `BackupConfiguration "${configuration.name}" spec.encryption.age.recipients`,
          )
        : undefined;
      const controller = abortOnActivityCancel();
      const deadline = Date.now() + input.runForMs;
      const follow: FollowProgress = { piecesStored: 0, bytesStored: 0 };
      const progress: ArchiveProgress = { phase: 'archiving', piecesStored: 0, bytesStored: 0 };
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat(describeProgress(progress, follow)), HEARTBEAT_MS);
      context.heartbeat(describeProgress(progress, follow));
      const metrics = archiveMetrics({
        ...deps,
        storage,
        configuration: configuration.name,
        repository: repository.name,
        target: input.target.name,
        follow,
      });
      await metrics.refresh();
      let readerRestarts = -1;
      let lastSource: BinlogSource | undefined;
      // The Galera member followed instead of the Target's host, while it answers.
      let followed: Named<TargetSpec> | undefined;
      const secretFiles: Record<string, SecretFileContents<string>> = {
        ...targetCredentialFiles(target.spec.engine, await resolveTargetCredentials(target, deps.secrets)),
        ...(recipients ? { 'recipients.txt': `${recipients}\n` } : {}),
      };
      try {
        for (let failures = 0; Date.now() < deadline;) {
          if (controller.signal.aborted) throw controller.signal.reason;
          const found = await readFirstReachableSource(archiveSourceCandidates(target, followed), deps.secrets).catch((error: unknown) => {
            // A source that is down or restarting is waited for; a wrong password or missing grant is not.
            if (isPermanentFailure(error, PermanentFailureType.TargetUnreachable)) return error;
            throw error;
          });
          if (found instanceof Error) {
            // A Service's endpoints are resolved per attempt: after a few tries, a new attempt looks again.
            if (failures >= 3) throw new Error(found.message);
            progress.phase = 'waiting for the source';
            progress.lastProblem = found.message;
            await sleep(RESTART_BACKOFF_MS[Math.min(failures++, RESTART_BACKOFF_MS.length - 1)]!, undefined, {
              signal: controller.signal,
            }).catch(() => undefined);
            continue;
          }
          const { node, source } = found;
          if (node !== target && followed !== node) {
            log.warn('the Target does not answer; archiving from another member of its Galera cluster', {
              configuration: configuration.name,
              member: `${node.spec.host}:${node.spec.port}`,
            });
          }
          followed = node === target ? undefined : node;
          lastSource = source;
          progress.source = source.name;
          const start = await archiveStart(storage, configuration.name, source, node, deps.secrets);
          progress.phase = 'archiving';
          // Where the archive ends is the position until the reader stores more: the UI shows it at once.
          if (start.gtids !== undefined && start.fileStartGtids !== undefined && follow.position === undefined) {
            follow.position = { file: start.file, offset: start.storedUpTo, gtids: start.gtids, fileStartGtids: start.fileStartGtids };
            context.heartbeat(describeProgress(progress, follow));
          }
          readerRestarts += 1;
          const piecesBefore = follow.piecesStored;
          const directory = await makeScratchDirectory('binlog');
          try {
            const outcome = await withSecretFiles(secretFiles, (files) =>
              followBinlog({
                flavor: source.flavor,
                reader: binlogStreamCommand({
                  target: node.spec,
                  optionFile: files['client.cnf']!,
                  serverId: binlogReaderServerId(configuration.name),
                  resultDirectory: directory,
                  startFile: start.file,
                }),
                directory,
                startFile: start.file,
                storedUpTo: start.storedUpTo,
                expectedFileStartGtids: start.fileStartGtids,
                uploadIntervalMs: parseDurationMs(pitr.uploadInterval)!,
                deadline,
                signal: controller.signal,
                progress: follow,
                storePiece: (piece) =>
                  storePieceWithIndex({
                    storage,
                    configuration: configuration.name,
                    compression: configuration.spec.compression,
                    recipients,
                    recipientsFile: files['recipients.txt'],
                    source,
                    piece,
                    controller,
                  }).then((storedBytes) => metrics.stored(piece, storedBytes)),
              }),
            );
            if (outcome.readerExit) {
              progress.lastProblem = outcome.readerExit;
              log.warn('binary log reader stopped; starting it again', { configuration: configuration.name, reason: outcome.readerExit });
              failures = follow.piecesStored > piecesBefore ? 0 : failures + 1;
              await sleep(RESTART_BACKOFF_MS[Math.min(failures, RESTART_BACKOFF_MS.length - 1)]!, undefined, {
                signal: controller.signal,
              }).catch(() => undefined);
            }
          } finally {
            await rm(directory, { recursive: true, force: true });
          }
        }
      } finally {
        clearInterval(heartbeat);
        await metrics.stop();
      }
      const position = follow.position;
      return {
        piecesStored: follow.piecesStored,
        bytesStored: follow.bytesStored,
        ...(position && lastSource
          ? { position: { source: lastSource.name, file: position.file, offset: position.offset, gtids: position.gtids } }
          : {}),
        ...(follow.caughtUpAt ? { caughtUpAt: follow.caughtUpAt.toISOString() } : {}),
        readerRestarts: Math.max(0, readerRestarts),
      };
    },
  };
}

function describeProgress(progress: ArchiveProgress, follow: FollowProgress): ArchiveProgress {
  const caughtUpAt = follow.caughtUpAt?.toISOString();
  return {
    ...progress,
    ...(follow.position ? { file: follow.position.file, offset: follow.position.offset, gtids: follow.position.gtids } : {}),
    piecesStored: follow.piecesStored,
    bytesStored: follow.bytesStored,
    ...(caughtUpAt ? { caughtUpAt, lagSeconds: Math.max(0, Math.round((Date.now() - follow.caughtUpAt!.getTime()) / 1000)) } : {}),
  };
}

/** The Target as the archiver connects to it: as the replication user when the configuration names one. */
function archivingTarget(
  target: Named<TargetSpec>,
  replicationUser: NonNullable<BackupConfigurationSpec['pointInTimeRecovery']>['replicationUser'],
): Named<TargetSpec> {
  return replicationUser ? { ...target, spec: { ...target.spec, user: replicationUser.user, password: replicationUser.password } } : target;
}

/** The first of `candidates` that answers, and what it says of its binary log; a refusal (credentials, grants) is not passed over. */
async function readFirstReachableSource(
  candidates: ReadonlyArray<Named<TargetSpec>>,
  secrets: SecretResolver,
): Promise<{ node: Named<TargetSpec>; source: BinlogSource }> {
  let firstUnreachable: unknown;
  for (const node of candidates) {
    try {
      return { node, source: await readBinlogSource(node, secrets) };
    } catch (error) {
      if (!isPermanentFailure(error, PermanentFailureType.TargetUnreachable)) throw error;
      firstUnreachable ??= error;
    }
  }
  throw firstUnreachable;
}

async function readBinlogSource(target: Named<TargetSpec>, secrets: SecretResolver): Promise<BinlogSource> {
  const connection = await connectToTarget(target, secrets);
  try {
    const [[row]] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT VERSION() AS version, @@server_id AS serverId, @@hostname AS hostname, @@port AS port, @@log_bin AS logBin',
    );
    const flavor = serverIdentity(String(row!.version)).flavor;
    // MySQL without GTIDs writes anonymous transactions: nothing would join the pieces to the snapshots.
    const gtidMode =
      flavor === 'mysql' ? String((await connection.query<mysql.RowDataPacket[]>('SELECT @@gtid_mode AS mode'))[0][0]!.mode) : 'ON';
    if (Number(row!.logBin) !== 1 || gtidMode !== 'ON') {
      throw permanentFailure(
        PermanentFailureType.InvalidInput,
        `Target "${target.name}" ${Number(row!.logBin) !== 1 ? 'writes no binary log (log_bin is OFF)' : `has gtid_mode ${gtidMode}`}: ` +
          'point-in-time recovery archives the binary log and joins it to the snapshots by GTID; start the server with --log-bin' +
          (flavor === 'mysql' ? ' and GTIDs on (--gtid-mode=ON --enforce-gtid-consistency=ON)' : ''),
      );
    }
    requirePrivileges(await readSessionUserPrivileges(connection), target, 'archiving the binary log', (granted) =>
      missingBinlogArchivePrivileges(clientFamily(target.spec.engine), granted),
    );
    const serverUuid =
      flavor === 'mysql' ? String((await connection.query<mysql.RowDataPacket[]>('SELECT @@server_uuid AS uuid'))[0][0]!.uuid) : undefined;
    const [logs] = await connection.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
    const identity = { flavor, serverId: Number(row!.serverId), serverUuid, hostname: String(row!.hostname), port: Number(row!.port) };
    return { ...identity, name: binlogSourceName(identity), files: logs.map((l) => String(l.Log_name)) };
  } finally {
    await connection.end().catch(() => undefined);
  }
}

/**
 * Where the archiver starts: where this source's archive ends, in a file the source still has;
 * or (another source, the archive's file purged) the newest file whose start the archive has
 * reached, so the same GTIDs continue; or, for a new archive, the source's oldest file. Anything
 * between the archive's end and that start is a gap the recoverable window shows.
 */
async function archiveStart(
  storage: Storage,
  configuration: string,
  source: BinlogSource,
  target: Named<TargetSpec>,
  secrets: SecretResolver,
): Promise<{ file: string; storedUpTo: number; fileStartGtids?: string; gtids?: string }> {
  const lastPieces = await lastArchivedPieces(storage, configuration);
  const last = lastPieces.get(source.name);
  if (last && source.files.includes(last.file)) {
    return { file: last.file, storedUpTo: last.to, fileStartGtids: last.fileStartGtids, gtids: last.gtidsAfter };
  }
  // A source the archive has not read from (a replica that took over) starts where the archive
  // as a whole ends: its files before that hold only what other sources' pieces already hold.
  const reached = gtidStateReached(source.flavor);
  const archivedEnd =
    last?.gtidsAfter ??
    [...lastPieces.values()]
      .map((piece) => piece.gtidsAfter)
      .reduce<string | undefined>((furthest, end) => (furthest === undefined || reached(end, furthest) ? end : furthest), undefined);
  const oldest = source.files[0]!;
  if (archivedEnd === undefined) return { file: oldest, storedUpTo: 0 };
  const connection = await connectToTarget(target, secrets);
  try {
    for (const file of [...source.files].reverse()) {
      const [events] = await connection.query<mysql.RowDataPacket[]>(`SHOW BINLOG EVENTS IN ${connection.escape(file)} LIMIT 2`);
      const start = fileStartGtidsFromEventInfo(source.flavor, String(events[1]?.Info ?? ''));
      if (reached(start, archivedEnd)) return { file, storedUpTo: 0 };
    }
  } finally {
    await connection.end().catch(() => undefined);
  }
  return { file: oldest, storedUpTo: 0 };
}

/** The newest piece stored from each source, by source name: found by their keys (file names sort), one index entry read per source. */
async function lastArchivedPieces(storage: Storage, configuration: string): Promise<Map<string, BinlogPiece>> {
  const prefix = binlogArchivePrefix(configuration);
  const newest = new Map<string, string>();
  for await (const object of storage.list(prefix)) {
    if (!isBinlogIndexKey(object.key)) continue;
    const source = object.key.slice(prefix.length).split('/')[0]!;
    const known = newest.get(source);
    if (known === undefined || pieceOrder(object.key) > pieceOrder(known)) newest.set(source, object.key);
  }
  const pieces = new Map<string, BinlogPiece>();
  for (const [source, key] of newest) {
    const parsed = parseBinlogPiece((await storage.getBytes(key)).toString('utf8'));
    if (parsed.ok) pieces.set(source, parsed.piece);
  }
  return pieces;
}

/** `<file>-<start>/<from>-<to>.json` → `<file>/<from>`: the order pieces of one source were written in. */
function pieceOrder(key: string): string {
  const [folder = '', piece = ''] = key.split('/').slice(-2);
  return `${folder.replace(/-[0-9a-f]{12}$/, '')}/${piece}`;
}

async function storePieceWithIndex(params: {
  storage: Storage;
  configuration: string;
  compression: BackupConfigurationSpec['compression'];
  recipients?: string;
  recipientsFile?: string;
  source: BinlogSource;
  piece: BinlogPieceOnDisk;
  controller: AbortController;
}): Promise<number> {
  const { piece, source } = params;
  const folder = binlogFileFolder(params.configuration, source.name, piece.file, piece.fileStartGtids);
  const keys = binlogPieceKeys(folder, piece.from, piece.to, storedSuffix(params.compression.algorithm, params.recipients !== undefined));
  const streamed = await streamReadableToRepository({
    source: createReadStream(piece.path, { start: piece.from, end: piece.to - 1 }),
    filters: storageFilters({ compression: params.compression, recipientsFile: params.recipientsFile }),
    storage: params.storage,
    key: keys.data,
    controller: params.controller,
  });
  const entry: BinlogPiece = binlogPieceSchema.parse({
    formatVersion: 1,
    configuration: params.configuration,
    source: {
      name: source.name,
      flavor: source.flavor,
      serverId: source.serverId,
      ...(source.serverUuid ? { serverUuid: source.serverUuid } : {}),
      hostname: source.hostname,
      port: source.port,
    },
    file: piece.file,
    fileStartGtids: piece.fileStartGtids,
    from: piece.from,
    to: piece.to,
    gtidsBefore: piece.gtidsBefore,
    gtidsAfter: piece.gtidsAfter,
    transactions: piece.transactions,
    firstEventAt: new Date(piece.firstAt * 1000).toISOString(),
    lastEventAt: new Date(piece.lastAt * 1000).toISOString(),
    data: { file: keys.data.slice(folder.length), storedBytes: streamed.storedBytes, sha256: streamed.sha256 },
    compression: params.compression,
    ...(params.recipients ? { encryption: { method: 'age', recipients: ageRecipients(params.recipients) } } : {}),
    archivedAt: new Date().toISOString(),
  });
  // The index entry last: a piece without one is not part of the archive.
  await params.storage.putBytes(keys.index, Buffer.from(serializeBinlogPiece(entry)));
  return entry.data.storedBytes;
}

const METRICS_PUSH_MS = 15_000;
const METRICS_AFTER_PIECE_MS = 3000;

/**
 * The archive's gauges, pushed every METRICS_PUSH_MS, soon after a piece is stored, and when the
 * run ends. Gaps and archived bytes are read from the repository when the run starts and ends;
 * a push that fails is logged, never allowed to stop the archive.
 */
function archiveMetrics(params: {
  pushgatewayUrl?: string;
  storage: Storage;
  configuration: string;
  repository: string;
  target: string;
  follow: FollowProgress;
}) {
  const { pushgatewayUrl } = params;
  let counted: { gaps: number; archivedBytes: number; lastRecoverableAt?: Date } = { gaps: 0, archivedBytes: 0 };
  let storedSinceCount = 0;
  let lastPush = 0;
  let trailing: NodeJS.Timeout | undefined;
  const push = async () => {
    if (!pushgatewayUrl) return;
    lastPush = Date.now();
    await pushPointInTimeMetrics(pushgatewayUrl, {
      configuration: params.configuration,
      repository: params.repository,
      target: params.target,
      now: new Date(),
      ...(counted.lastRecoverableAt ? { lastRecoverableAt: counted.lastRecoverableAt } : {}),
      ...(params.follow.caughtUpAt ? { caughtUpAt: params.follow.caughtUpAt } : {}),
      gaps: counted.gaps,
      archivedBytes: counted.archivedBytes + storedSinceCount,
    }).catch((error: unknown) => log.warn('point-in-time metrics not pushed', { error: (error as Error).message }));
  };
  const timer = pushgatewayUrl ? setInterval(() => void push(), METRICS_PUSH_MS) : undefined;
  const refresh = async () => {
    if (!pushgatewayUrl) return;
    const state = await readRecoverableState(params.storage, params.configuration);
    const last = state.binlogs.pieces
      .map((p) => p.lastEventAt)
      .sort()
      .at(-1);
    counted = {
      gaps: state.gaps.length,
      archivedBytes: state.binlogs.pieces.reduce((sum, p) => sum + p.data.storedBytes, 0),
      ...(last ? { lastRecoverableAt: new Date(last) } : {}),
    };
    storedSinceCount = 0;
    await push();
  };
  return {
    refresh,
    async stored(piece: BinlogPieceOnDisk, storedBytes: number) {
      storedSinceCount += storedBytes;
      const at = new Date(piece.lastAt * 1000);
      if (!counted.lastRecoverableAt || at > counted.lastRecoverableAt) counted.lastRecoverableAt = at;
      // At most one push per METRICS_AFTER_PIECE_MS, and the last piece's always goes out.
      const wait = lastPush + METRICS_AFTER_PIECE_MS - Date.now();
      if (wait <= 0) await push();
      else
        trailing ??= setTimeout(() => {
          trailing = undefined;
          void push();
        }, wait);
    },
    async stop() {
      if (timer) clearInterval(timer);
      if (trailing) clearTimeout(trailing);
      await refresh().catch((error: unknown) => log.warn('point-in-time metrics not pushed', { error: (error as Error).message }));
    },
  };
}
