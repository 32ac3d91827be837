import { Context, log } from '@temporalio/activity';
import type mysql from 'mysql2/promise';
import { rm } from 'node:fs/promises';
import { permanentFailure, PermanentFailureType, REPLACED_DATABASES_PUT_BACK } from '../domain/failures';
import { classifyToolFailure, isLostConnection, isPrivilegeError } from '../domain/server-errors';
import type { Manifest } from '../domain/manifest';
import type { Progress } from '../domain/progress';
import { drillOutcomeKey, snapshotKey } from '../domain/repository-layout';
import { databasesReplacedByRestore, isSystemSchema } from '../domain/system-schemas';
import type { BackupMethod, CompressionAlgorithm, Named, RepositorySpec, TargetSpec } from '../domain/resources';
import { formatZodIssues } from '../domain/resource-set';
import { restoreOptionsSchema } from '../domain/resources';
import { selectSnapshot, type SnapshotSelector } from '../domain/snapshot-selection';
import { parseRestoringSessionInput, parseSnapshotSourceInput, type RestoringSessionInput } from '../domain/session-inputs';
import type { SecretRef } from '../domain/secret-ref';
import { isGaleraTarget, loadDataClientCommand, logicalRestoreCommand, restoreFilters, sessionTools } from '../domain/tool-commands';
import { serverTakesLoadData } from '../domain/load-data-rows';
import { describeGtidPlan, planGtidRestore, type GtidRestorePlan } from '../domain/gtid-restore';
import type { ReplicationPosition } from '../domain/replication-position';
import { engineMismatch, serverIdentity, snapshotLoadProblem } from '../domain/server-flavor';
import { discardKeptDatabases, keepReplacedDatabases as keepDatabases, putBackKeptDatabases } from './kept-databases';
import { readTargetGtidState } from './target-gtid-state';
import type { SecretResolver } from '../secrets/secret-resolver';
import { openStorage } from '../storage/open-storage';
import { ObjectNotFoundError, type Storage } from '../storage/storage';
import { connectToTarget } from './database-connection';
import { readSessionUserPrivileges, requirePrivileges } from './granted-privileges';
import { missingRestorePrivileges } from '../domain/database-privileges';
import { keepSchemaName, RESTORE_CONTROL_SCHEMA, RESTORE_WORK_SCHEMA_PATTERN } from '../domain/kept-databases';
import { parseArrivedSessionInput } from './session-input';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import { targetCredentialFiles, withSecretFiles, type SecretFileContents } from '../pipeline/option-file';
import { resolveTargetCredentials } from '../secrets/target-credentials';
import { OneDatabaseFilter } from '../pipeline/one-database-filter';
import { resolveSnapshotIdentity } from './snapshot-decryption';
import { readSnapshotCatalog, type SnapshotProblem } from './snapshot-catalog';
import { applySegmentFile, SegmentScheduler } from '../pipeline/parallel-apply';
import { stageDumpSegments, tableGroupBytes, type StagedDump, type StagedSegmentFile } from '../pipeline/restore-staging';
import { makeScratchDirectory } from '../pipeline/scratch-directory';
import { runStages, withOwnController } from '../pipeline/stages';
import { requireToolsOnPath, ToolFailedError } from '../pipeline/tool-process';
import { hashStoredObject, streamRepositoryToTool } from '../pipeline/stream-pipelines';
import type { PointInTimeTarget } from '../domain/point-in-time-target';
import { drillOutcomeSchema, type LastVerification } from '../domain/drill-outcome';
import { replayArchivedBinlog, type ReplayOutcome } from './point-in-time-activities';

export interface RestoreActivityDeps {
  secrets: SecretResolver;
  openStorage?: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}

/** What listing returns per snapshot: small, so a few hundred fit in a workflow result. */
export interface SnapshotSummary {
  snapshotId: string;
  startedAt: string;
  completedAt: string;
  target: string;
  serverVersion: string;
  databases: string[];
  compression: string;
  storedBytes: number;
  rawBytes: number;
  /** The snapshot's last restore drill, when it had one (docs/restore-drills.md). */
  lastVerification?: LastVerification;
}

export interface ListSnapshotsInput {
  repository: Named<RepositorySpec>;
  configuration: string;
  /** Newest first, at most this many (keeps the result well under Temporal's payload limits). */
  limit: number;
}

export interface ListSnapshotsResult {
  snapshots: SnapshotSummary[];
  total: number;
  problems: SnapshotProblem[];
}

export interface ResolveSnapshotInput {
  repository: Named<RepositorySpec>;
  configuration: string;
  selector: SnapshotSelector;
  /** The method the restore can apply; a snapshot of the other method is refused. Undefined: either. */
  method?: BackupMethod;
  /**
   * The session's whole input, when this is its first activity. Absent for a restore drill, after
   * resolvePointInTime (which parsed it), and in inputs of earlier versions.
   */
  session?: RestoringSessionInput;
}

const HOW_TO_RESTORE: Record<BackupMethod, string> = {
  logical: 'restore it into a running server with --to TARGET',
  physical: 'restore it into data directories with --replicas N --volume-dir DIR, or bootstrap a new instance from it',
};

export interface InspectTargetInput {
  target: Named<TargetSpec>;
  databases: string[];
  overwrite: boolean;
  /**
   * The snapshot about to be restored: its server and position decide compatibility and GTIDs, its
   * compression and encryption which tools the worker needs besides the client.
   */
  snapshot?: { server: Manifest['server']; replication?: ReplicationPosition; compression?: CompressionAlgorithm; encrypted?: boolean };
  /** A point-in-time restore: the archived binary log is replayed after the snapshot. */
  replaysBinlog?: boolean;
}

/** What the restore will do, decided once before anything changes so every attempt does the same. */
export interface RestoreTargetInspection {
  gtid: GtidRestorePlan;
}

export interface PutBackInput {
  target: Named<TargetSpec>;
  databases: string[];
  gtid?: GtidRestorePlan;
}

export interface RestoreInput {
  repository: Named<RepositorySpec>;
  target: Named<TargetSpec>;
  manifest: Manifest;
  /** The configuration's age identity, for encrypted snapshots. */
  identity?: SecretRef;
  /** Restore only this database of the snapshot (--one-database). */
  database?: string;
  /** Extra options for the mariadb client, validated by restoreOptionsSchema. */
  args?: string[];
  /** Client sessions applying tables at once; 1 (default) is the plain serial restore. */
  parallel?: number;
  /** From inspectRestoreTarget; absent in inputs of earlier versions (GTID state left alone). */
  gtid?: GtidRestorePlan;
  /** Replay the configuration's archived binary log onto the snapshot, up to here (docs/point-in-time-recovery.md). */
  pointInTime?: PointInTimeTarget;
}

export interface RestoreResult {
  storedBytes: number;
  rawBytes: number;
  /** What happened to the target's GTID state, in a sentence. */
  gtid: string;
  /** What a point-in-time restore replayed after the snapshot. */
  replayed?: ReplayOutcome;
}

/** A snapshot's last drill outcome, if it reads as one (a damaged one is not shown). */
async function readLastVerification(storage: Storage, manifest: Manifest): Promise<LastVerification | undefined> {
  const bytes = await storage.getBytes(drillOutcomeKey(manifest.configuration, manifest.snapshotId));
  const parsed = drillOutcomeSchema.safeParse(JSON.parse(bytes.toString('utf8')));
  if (!parsed.success) return undefined;
  const { verifiedAt, passed, durationSeconds, restoreSeconds } = parsed.data;
  return { verifiedAt, passed, durationSeconds, restoreSeconds };
}

function summarize(manifest: Manifest): SnapshotSummary {
  return {
    snapshotId: manifest.snapshotId,
    startedAt: manifest.startedAt,
    completedAt: manifest.completedAt,
    target: manifest.target.name,
    serverVersion: manifest.server.version,
    databases: manifest.databases,
    compression: manifest.compression.algorithm,
    storedBytes: manifest.data.storedBytes,
    rawBytes: manifest.data.rawBytes,
  };
}

/** The databases a restore of `manifest` applies: all of them, or the one asked for (databasesReplacedByRestore: which it drops first). */
export function restoredDatabases(manifest: Manifest, database: string | undefined): string[] {
  if (database === undefined) return manifest.databases;
  if (!manifest.databases.includes(database)) {
    throw permanentFailure(
      PermanentFailureType.UnknownDatabase,
      `snapshot ${manifest.snapshotId} holds ${manifest.databases.map((d) => `"${d}"`).join(', ')}, not "${database}"`,
    );
  }
  return [database];
}

interface RestoreSecretFiles {
  clientOptions: string;
  identity?: string;
}

function restoreClient(input: RestoreInput, files: RestoreSecretFiles) {
  return logicalRestoreCommand({
    target: input.target.spec,
    optionFile: files.clientOptions,
    extraArgs: input.args,
    withoutBinaryLog: input.gtid?.action === 'adopt',
  });
}

const quoteIdentifier = (name: string) => `\`${name.replace(/`/g, '``')}\``;

const dataKey = (manifest: Manifest) => snapshotKey(manifest.configuration, manifest.snapshotId, manifest.data.file);

/** Nothing is applied from an object that is not byte for byte the one the manifest describes. */
function checkAgainstManifest(storage: Storage, manifest: Manifest, read: { sha256: string; storedBytes: number }): void {
  if (read.sha256 === manifest.data.sha256 && read.storedBytes === manifest.data.storedBytes) return;
  throw permanentFailure(
    PermanentFailureType.ChecksumMismatch,
    `snapshot ${manifest.configuration}/${manifest.snapshotId}: data object ${storage.location}${dataKey(manifest)} does not match its manifest ` +
      `(sha256 ${read.sha256} over ${read.storedBytes} bytes, expected ${manifest.data.sha256} over ${manifest.data.storedBytes}); ` +
      'nothing was applied to the target',
  );
}

export function createRestoreActivities(deps: RestoreActivityDeps) {
  const open = deps.openStorage ?? openStorage;

  /** Streams the stored object through SHA-256; nothing reaches the database. */
  async function verifyStoredChecksum(storage: Storage, manifest: Manifest, signal: AbortSignal, progress: Progress) {
    const key = dataKey(manifest);
    let read: { storedBytes: number; sha256: string };
    try {
      read = await hashStoredObject({ storage, key, signal, progress });
    } catch (err) {
      if (err instanceof ObjectNotFoundError) {
        throw permanentFailure(PermanentFailureType.SnapshotNotFound, `snapshot ${manifest.snapshotId}: ${err.message}`);
      }
      // A cancelled activity is no read error, and a permanent failure (a wrong SSE-C key)
      // already names the object.
      if (signal.aborted || !(err instanceof Error) || (err as { nonRetryable?: boolean }).nonRetryable) throw err;
      // Left transient, so retried: MinIO refuses a bitrotten object with 503 SlowDownRead
      // ("Resource requested is unreadable"), its answer to any lost read quorum, which is
      // also what drives that are offline for a while produce and a retry can outlast; nothing
      // in the response tells the two apart.
      const cause = err.name === 'Error' ? err.message : `${err.name}: ${err.message}`;
      // No `cause`: a session's status reports the deepest cause, which would drop the names.
      throw new Error(`snapshot ${manifest.configuration}/${manifest.snapshotId}: reading ${storage.location}${key}: ${cause}`);
    }
    checkAgainstManifest(storage, manifest, read);
  }

  /**
   * What the apply needs to know of the target, read before anything changes: its
   * max_allowed_packet (for the message when a statement is too large) and whether it takes
   * LOAD DATA LOCAL.
   */
  async function readApplySettings(input: RestoreInput): Promise<{ maxAllowedPacket: number; loadData: boolean }> {
    return withTargetConnection(input.target, input.gtid, async (connection) => {
      const [[row]] = await connection.query<mysql.RowDataPacket[]>(
        'SELECT @@GLOBAL.max_allowed_packet AS maxAllowedPacket, @@GLOBAL.local_infile AS localInfile, VERSION() AS version',
      );
      const loadData = serverTakesLoadData({
        identity: serverIdentity(String(row?.version)),
        localInfile: Number(row?.localInfile) === 1,
        galera: isGaleraTarget(input.target.spec),
      });
      return { maxAllowedPacket: Number(row?.maxAllowedPacket), loadData };
    });
  }

  /**
   * Moves the databases the restore replaces out of the way (activities/kept-databases.ts), then
   * drops whatever an earlier attempt of this restore left in their place, so every attempt
   * applies into nothing. What was there before stays kept until the restore succeeded.
   */
  async function keepReplacedDatabases(input: RestoreInput): Promise<string[]> {
    const applied = restoredDatabases(input.manifest, input.database);
    const kept = applied.filter(isSystemSchema);
    if (kept.length > 0) {
      log.info('system schemas not dropped: the dump applies to them as it is', { snapshotId: input.manifest.snapshotId, schemas: kept });
    }
    const replaced = databasesReplacedByRestore(applied);
    return withTargetConnection(input.target, input.gtid, async (connection) => {
      await keepDatabases(connection, replaced, Context.current().info.workflowExecution?.workflowId ?? 'unknown session');
      for (const db of replaced) await connection.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(db)}`);
      return replaced;
    });
  }

  /**
   * One connection for dbkeep's own statements on the target. When the target takes the
   * snapshot's GTID position they stay out of its binary log, as the dump's do, so its
   * history holds nothing of its own.
   */
  async function withTargetConnection<T>(
    target: Named<TargetSpec>,
    gtid: GtidRestorePlan | undefined,
    use: (c: mysql.Connection) => Promise<T>,
  ): Promise<T> {
    const connection = await connectToTarget(target, deps.secrets);
    try {
      if (gtid?.action === 'adopt') await connection.query('SET SESSION sql_log_bin = 0');
      return await use(connection);
    } catch (err) {
      const { errno, sqlMessage } = err as { errno?: number; sqlMessage?: string };
      if (!isPrivilegeError(errno)) throw err;
      throw permanentFailure(
        PermanentFailureType.InsufficientPrivileges,
        `Target "${target.name}": its user may not do what the restore needs (${sqlMessage ?? `server error ${errno}`}); ` +
          'docs/security.md lists the grants of a restore user',
      );
    } finally {
      await connection.end().catch(() => undefined);
    }
  }

  /** The target takes the snapshot's GTID position; a retry that finds it taken already does nothing. */
  async function adoptGtidPosition(target: Named<TargetSpec>, gtid: GtidRestorePlan): Promise<void> {
    if (gtid.action !== 'adopt') return;
    await withTargetConnection(target, gtid, async (connection) => {
      if (gtid.flavor === 'mysql') {
        const [[row]] = await connection.query<mysql.RowDataPacket[]>('SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed) AS taken', [
          gtid.gtidSet,
        ]);
        if (Number(row?.taken) !== 1) await connection.query("SET @@GLOBAL.gtid_purged = CONCAT('+', ?)", [gtid.gtidSet]);
      } else {
        await connection.query('SET GLOBAL gtid_slave_pos = ?', [gtid.gtidPos]);
      }
    });
  }

  /**
   * Whether the target has been up since the apply started: a client that lost its connection to
   * a server that neither restarted nor went away lost it to the server closing it on purpose.
   */
  async function targetRanThroughout(target: Named<TargetSpec>, sinceMs: number): Promise<boolean> {
    try {
      return await withTargetConnection(target, undefined, async (connection) => {
        const [[row]] = await connection.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Uptime'");
        return Number(row?.Value) * 1000 > Date.now() - sinceMs;
      });
    } catch {
      return false;
    }
  }

  /** The target's password option file and the snapshot's age identity, as files for the tools. */
  /**
   * The client exited with an error: a statement the target refuses (or one larger than its
   * max_allowed_packet) fails the same way every time, so the restore fails for good; anything
   * else is retried.
   */
  async function rethrowApplyFailure(err: unknown, input: RestoreInput, maxAllowedPacket: number, applyStartedMs: number): Promise<never> {
    if (!(err instanceof ToolFailedError) || !err.exitedOnItsOwn) throw err;
    const failure = classifyToolFailure(err.message);
    const reason = failure.permanent
      ? failure.reason
      : isLostConnection(failure.code) && (await targetRanThroughout(input.target, applyStartedMs))
        ? `the target closed the connection while it kept running: a statement larger than its max_allowed_packet (${maxAllowedPacket} bytes) does that every time; raise max_allowed_packet on the target`
        : undefined;
    if (reason === undefined) throw err;
    throw permanentFailure(
      PermanentFailureType.RestoreStatementRejected,
      `snapshot ${input.manifest.snapshotId}: Target "${input.target.name}" refused a statement of the ${input.pointInTime ? 'dump or binary log replay' : 'dump'} (${reason}), which no retry changes: ` +
        `${err.message}; ${REPLACED_DATABASES_PUT_BACK}`,
    );
  }

  async function withRestoreSecretFiles<T>(input: RestoreInput, use: (files: RestoreSecretFiles) => Promise<T>): Promise<T> {
    const credentials = await resolveTargetCredentials(input.target, deps.secrets);
    const identity = await resolveSnapshotIdentity(input.manifest, input.identity, deps.secrets);
    const secretFiles: Record<string, SecretFileContents<string>> = targetCredentialFiles(input.target.spec.engine, credentials);
    if (identity) secretFiles.identity = identity;
    return withSecretFiles(secretFiles, (files) => use({ clientOptions: files['client.cnf']!, identity: files.identity }));
  }

  /**
   * repository → decompressor → client, in one session: what `mariadb < dump` does. The object
   * is read a second time after its verification, and could have changed in between: this read
   * is hashed too, and a different hash fails the restore (its databases are then put back).
   */
  async function applySerially(
    input: RestoreInput,
    files: RestoreSecretFiles,
    storage: Storage,
    controller: AbortController,
    progress: Progress,
  ): Promise<{ rawBytes: number }> {
    const { manifest } = input;
    const streamed = await streamRepositoryToTool({
      storage,
      key: dataKey(manifest),
      filters: restoreFilters({ algorithm: manifest.compression.algorithm, identityFile: files.identity }),
      consumer: restoreClient(input, files),
      transforms: input.database === undefined ? [] : [new OneDatabaseFilter(input.database)],
      controller,
      progress,
    });
    if (streamed.sha256 !== manifest.data.sha256) {
      throw permanentFailure(
        PermanentFailureType.ChecksumMismatch,
        `snapshot ${manifest.snapshotId}: its data object changed in the repository during the restore (its SHA-256 no longer matches the manifest); ` +
          REPLACED_DATABASES_PUT_BACK,
      );
    }
    return streamed;
  }

  /**
   * The stored object → decryptor, decompressor → dbkeep-stage's segment files in `dir`
   * (pipeline/restore-staging.ts), hashed on the way: the staging is the restore's checksum pass,
   * and what is applied is exactly what was hashed. Nothing is applied here: the caller applies
   * once this returned, so a damaged object changes nothing on the target. A staging that fails
   * is explained by the object's checksum first: a damaged object fails with ChecksumMismatch,
   * not with what the decompressor made of it.
   */
  async function stageVerifiedDump(
    input: RestoreInput & { parallel: number; loadData: boolean },
    files: RestoreSecretFiles,
    storage: Storage,
    dir: string,
    controller: AbortController,
    progress: Progress,
  ): Promise<StagedDump> {
    const { manifest } = input;
    const stage = (own: AbortController) =>
      stageDumpSegments({
        storage,
        key: dataKey(manifest),
        filters: restoreFilters({ algorithm: manifest.compression.algorithm, identityFile: files.identity }),
        transforms: input.database === undefined ? [] : [new OneDatabaseFilter(input.database)],
        dir,
        groupBytes: tableGroupBytes(manifest.data.rawBytes, input.parallel),
        loadData: input.loadData,
        controller: own,
        progress,
      });
    let staged: StagedDump;
    try {
      staged = await withOwnController(controller.signal, stage);
    } catch (err) {
      if (controller.signal.aborted) throw err;
      await verifyStoredChecksum(storage, manifest, controller.signal, progress);
      throw err;
    }
    checkAgainstManifest(storage, manifest, staged);
    return staged;
  }

  /** The staged segments, applied: serial ones alone and in order, tables by `parallel` client sessions at once. */
  async function applyStaged(
    input: RestoreInput & { parallel: number; loadData: boolean },
    { segments, rawBytes }: StagedDump,
    files: RestoreSecretFiles,
    controller: AbortController,
    progress: Progress,
  ): Promise<{ rawBytes: number }> {
    const client = restoreClient(input, files);
    const scheduler = new SegmentScheduler<StagedSegmentFile>(input.parallel, (segment) =>
      applySegmentFile(segment, { client, loadClient: loadDataClientCommand(client), controller, progress }),
    );
    for (const segment of segments) scheduler.add(segment);
    scheduler.close();
    await runStages(controller, [scheduler.finished]);
    log.info('snapshot applied in parallel', {
      snapshotId: input.manifest.snapshotId,
      segments: segments.length,
      sessions: input.parallel,
      loadData: input.loadData,
    });
    return { rawBytes };
  }

  return {
    /**
     * After a restore failed, was cancelled or lost its worker: every database it replaced is
     * back as it was, and those it created are gone. Returns the databases put back.
     */
    async putBackReplacedDatabases(input: PutBackInput): Promise<string[]> {
      const databases = databasesReplacedByRestore(input.databases);
      const putBack = await withTargetConnection(input.target, input.gtid, (connection) => putBackKeptDatabases(connection, databases));
      log.info('replaced databases put back after a failed restore', { target: input.target.name, databases: putBack });
      return putBack;
    },

    async listSnapshots(input: ListSnapshotsInput): Promise<ListSnapshotsResult> {
      const storage = await open(input.repository, deps.secrets);
      const catalog = await readSnapshotCatalog(storage, input.configuration);
      for (const problem of catalog.problems) log.warn('skipping damaged snapshot', { ...problem });
      const listed = catalog.snapshots.slice(-input.limit).reverse();
      // Only the snapshots the listing shows a drill outcome for are read.
      const verifications = await Promise.all(
        listed.map((manifest) => (catalog.drilled.has(manifest.snapshotId) ? readLastVerification(storage, manifest) : undefined)),
      );
      return {
        snapshots: listed.map((manifest, index) => ({
          ...summarize(manifest),
          ...(verifications[index] ? { lastVerification: verifications[index] } : {}),
        })),
        total: catalog.snapshots.length,
        problems: catalog.problems,
      };
    },

    async resolveSnapshot(input: ResolveSnapshotInput): Promise<Manifest> {
      // The first activity of a restore, volume restore or bootstrap session, unless a point in
      // time was resolved first; a drill's selector and repository come without a session input.
      if (input.session) parseArrivedSessionInput(parseRestoringSessionInput, input.session);
      else parseArrivedSessionInput(parseSnapshotSourceInput, input);
      const { selector } = input;
      const storage = await open(input.repository, deps.secrets);
      const { snapshots, problems } = await readSnapshotCatalog(storage, input.configuration);
      const chosen = selectSnapshot(snapshots, selector, new Date());
      if (chosen && input.method !== undefined && chosen.method !== input.method) {
        throw permanentFailure(
          PermanentFailureType.MethodMismatch,
          `snapshot ${chosen.snapshotId} of "${input.configuration}" is a ${chosen.method} backup (${chosen.tools.dump}) and cannot be restored as ${input.method}: ${HOW_TO_RESTORE[chosen.method]}`,
        );
      }
      if (chosen) return chosen;
      const damaged = 'snapshotId' in selector ? problems.find((p) => p.snapshotId === selector.snapshotId) : undefined;
      const wanted =
        'snapshotId' in selector ? `snapshot ${selector.snapshotId}` : `snapshot at or before ${selector.targetRecoveryTime ?? 'now'}`;
      throw permanentFailure(
        PermanentFailureType.SnapshotNotFound,
        `configuration "${input.configuration}" in ${storage.location} has no ${wanted}` +
          (damaged ? ` (it exists but is damaged: ${damaged.reason})` : ` (${snapshots.length} valid snapshot(s))`),
      );
    },

    /**
     * Refuses a target whose server is not the Target's engine, or cannot load the snapshot, a
     * worker without the restore's tools, and a target that already holds objects in a database
     * the restore replaces, unless overwrite; then decides what the restore does with GTIDs
     * (domain/gtid-restore.ts).
     */
    async inspectRestoreTarget(input: InspectTargetInput): Promise<RestoreTargetInspection> {
      const databases = databasesReplacedByRestore(input.databases);
      const connection = await connectToTarget(input.target, deps.secrets);
      try {
        const [[row]] = await connection.query<mysql.RowDataPacket[]>('SELECT VERSION() AS version');
        const server = serverIdentity(String(row?.version ?? ''));
        const mismatch = engineMismatch(input.target.name, input.target.spec.engine, server);
        if (mismatch) throw permanentFailure(PermanentFailureType.EngineMismatch, mismatch);
        const snapshotFlavor = input.snapshot
          ? (input.snapshot.server.flavor ?? serverIdentity(input.snapshot.server.version).flavor)
          : undefined;
        const incompatible = input.snapshot ? snapshotLoadProblem(input.snapshot.server, server) : undefined;
        if (incompatible)
          throw permanentFailure(PermanentFailureType.IncompatibleSnapshot, `Target "${input.target.name}": ${incompatible}`);
        await requireToolsOnPath(
          sessionTools({
            engine: input.target.spec.engine,
            tool: 'client',
            compression: input.snapshot?.compression,
            encrypted: input.snapshot?.encrypted,
          }),
        );
        const gtid = planGtidRestore({
          snapshotFlavor,
          position: input.snapshot?.replication,
          target: await readTargetGtidState(connection, server.flavor),
          galera: isGaleraTarget(input.target.spec),
        });
        if (databases.length === 0) return { gtid };
        const [rows] = await connection.query<mysql.RowDataPacket[]>(
          `SELECT db, COUNT(*) AS n FROM (
             SELECT TABLE_SCHEMA AS db FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (?)
             UNION ALL SELECT ROUTINE_SCHEMA FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN (?)
             UNION ALL SELECT EVENT_SCHEMA FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN (?)
           ) AS objects GROUP BY db ORDER BY db`,
          [databases, databases, databases],
        );
        if (rows.length > 0 && !input.overwrite) {
          const held = rows.map((r) => `"${r.db}" (${r.n} objects)`).join(', ');
          throw permanentFailure(
            PermanentFailureType.RestoreTargetNotEmpty,
            `Target "${input.target.name}" already holds ${held}; nothing was changed. Restore into an empty target, or pass overwrite to replace these databases`,
          );
        }
        const work = { pattern: RESTORE_WORK_SCHEMA_PATTERN, schemas: [RESTORE_CONTROL_SCHEMA, ...databases.map(keepSchemaName)] };
        requirePrivileges(await readSessionUserPrivileges(connection), input.target, 'a restore', (granted) =>
          missingRestorePrivileges(granted, work, databases, input.replaysBinlog ? server : undefined),
        );
        return { gtid };
      } finally {
        await connection.end().catch(() => undefined);
      }
    },

    /**
     * The checksum pass (nothing applied yet), then the databases the snapshot replaces are kept
     * aside (what an earlier attempt applied is dropped, so every attempt starts clean), then the
     * dump is applied: serially (`parallel` 1, the default; the object is read and hashed again)
     * or by several sessions (applyStaged, from the segment files the checksum pass staged:
     * stageVerifiedDump). Only once all of it succeeded is what was kept discarded; the session
     * puts it back otherwise (putBackReplacedDatabases).
     */
    async restoreFromSnapshot(input: RestoreInput): Promise<RestoreResult> {
      const { manifest } = input;
      // Checked here too: a session started with the temporal CLI skipped the client's checks.
      const options = restoreOptionsSchema.safeParse({ database: input.database, args: input.args, parallel: input.parallel });
      if (!options.success) throw permanentFailure(PermanentFailureType.InvalidInput, formatZodIssues(options.error.issues));
      // The worker's own tool, checked before anything changes (the session's preflight checked the client).
      if (options.data.parallel > 1)
        await requireToolsOnPath([{ command: 'dbkeep-stage', role: "the parallel restore's staging of the dump" }]);
      const storage = await open(input.repository, deps.secrets);
      const controller = abortOnActivityCancel();
      const { parallel } = options.data;
      // A parallel restore stages the dump in a scratch directory while it verifies the object.
      const scratch = parallel > 1 ? await makeScratchDirectory('restore') : undefined;
      const progress: Progress = { phase: scratch ? 'verifying and staging' : 'verifying', bytesRead: 0, bytesWritten: 0 };
      const stopHeartbeats = startHeartbeats(() => ({ ...progress }));
      try {
        const { maxAllowedPacket, loadData } = await readApplySettings(input);
        // Nothing is applied before the whole object matched its manifest.
        let staged: StagedDump | undefined;
        if (scratch) {
          staged = await withRestoreSecretFiles(input, (files) =>
            stageVerifiedDump({ ...input, parallel, loadData }, files, storage, scratch, controller, progress),
          );
        } else await verifyStoredChecksum(storage, manifest, controller.signal, progress);
        progress.phase = 'keeping replaced databases';
        const replaced = await keepReplacedDatabases(input);
        progress.phase = 'applying';
        progress.bytesRead = 0;
        progress.bytesWritten = 0;
        const applyStartedMs = Date.now();
        const { rawBytes } = await withRestoreSecretFiles(input, (files) =>
          staged
            ? applyStaged({ ...input, parallel, loadData }, staged, files, controller, progress)
            : applySerially(input, files, storage, controller, progress),
        ).catch(async (err: unknown) => rethrowApplyFailure(err, input, maxAllowedPacket, applyStartedMs));
        const gtid = input.gtid ?? { action: 'leave', reason: 'the session did not inspect GTIDs' };
        await adoptGtidPosition(input.target, gtid);
        // Still inside the restore: a replay that fails puts the replaced databases back like a failed apply.
        const replayStartedMs = Date.now();
        const replayed = input.pointInTime
          ? await withRestoreSecretFiles(input, (files) => {
              progress.phase = 'replaying binary log';
              progress.bytesRead = 0;
              return replayArchivedBinlog({
                manifest,
                engine: input.target.spec.engine,
                client: logicalRestoreCommand({ target: input.target.spec, optionFile: files.clientOptions, extraArgs: input.args }),
                keepSourceGtids: gtid.action === 'adopt',
                pointInTime: input.pointInTime!,
                identityFile: files.identity,
                storage,
                controller,
                progress,
                into: input.target.name,
              });
            }).catch(async (err: unknown) => rethrowApplyFailure(err, input, maxAllowedPacket, replayStartedMs))
          : undefined;
        // The restore has succeeded: only now is what it replaced let go.
        await withTargetConnection(input.target, gtid, (connection) => discardKeptDatabases(connection, replaced));
        log.info('snapshot restored', { snapshotId: manifest.snapshotId, target: input.target.name, rawBytes });
        return { storedBytes: manifest.data.storedBytes, rawBytes, gtid: describeGtidPlan(gtid), ...(replayed ? { replayed } : {}) };
      } finally {
        stopHeartbeats();
        if (scratch) await rm(scratch, { recursive: true, force: true });
      }
    },
  };
}
