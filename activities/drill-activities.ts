import { Context, log } from '@temporalio/activity';
import mysql from 'mysql2/promise';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { DumpFingerprinter, dumpFingerprintSchema, fingerprintDifferences, type DumpFingerprint } from '../domain/dump-fingerprint';
import { isPermanentFailure, permanentFailure, PermanentFailureType } from '../domain/failures';
import { completedDrillOutcome, failedDrillOutcome, type DrillOutcome } from '../domain/drill-outcome';
import type { Manifest } from '../domain/manifest';
import { CHECKED_TABLE_TYPES, checkTableFailure, physicalDrillDifferences } from '../domain/physical-drill';
import type { Progress } from '../domain/progress';
import { drillOutcomeKey, snapshotKey } from '../domain/repository-layout';
import type { Named, RepositorySpec, ScratchPlacement, TargetSpec } from '../domain/resources';
import type { SecretRef } from '../domain/secret-ref';
import { SYSTEM_SCHEMAS } from '../domain/system-schemas';
import {
  logicalDumpCommand,
  optionFileContents,
  restoreFilters,
  rootClientCommand,
  scratchServerOptionLines,
} from '../domain/tool-commands';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { readSnapshotCatalog } from './snapshot-catalog';
import { startLocalServer, type LocalServer } from '../pipeline/local-server';
import { withSecretFiles } from '../pipeline/option-file';
import { restorePhysicalSnapshot, storedObjectMatchesManifest } from '../pipeline/physical-restore';
import { makeScratchDirectory } from '../pipeline/scratch-directory';
import { runStages, withOwnController } from '../pipeline/stages';
import { streamRepositoryToSink, streamRepositoryToTool } from '../pipeline/stream-pipelines';
import { startTool, ToolFailedError } from '../pipeline/tool-process';
import {
  LocalScratchServers,
  scratchServerLauncher,
  scratchServerOwner,
  type ScratchServerAddress,
  type ScratchServerLaunchers,
} from './scratch-servers';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import { resolveSnapshotIdentity } from './snapshot-decryption';

export interface RestoreDrillInput {
  repository: Named<RepositorySpec>;
  manifest: Manifest;
  /** The configuration's age identity, for encrypted snapshots. */
  identity?: SecretRef;
  /** Where a logical drill's scratch server runs; absent: `local`. */
  scratch?: ScratchPlacement;
}

export type { DrillOutcome };

export function createDrillActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
  /** Where logical drills restore, by spec.verification.scratch; default: the worker's own server only. */
  scratchServers?: ScratchServerLaunchers;
}) {
  const scratchServers = deps.scratchServers ?? { local: new LocalScratchServers() };
  return {
    /**
     * Whether a new snapshot is due for a drill (spec.verification.everyN): it and the snapshots
     * before it without a drill outcome, newest first up to the first one with one, are N or more.
     */
    async isDrillDue(input: {
      repository: Named<RepositorySpec>;
      configuration: string;
      snapshotId: string;
      everyN: number;
    }): Promise<boolean> {
      const storage = await deps.openStorage(input.repository, deps.secrets);
      const { snapshots, drilled } = await readSnapshotCatalog(storage, input.configuration);
      const upTo = snapshots.findIndex((manifest) => manifest.snapshotId === input.snapshotId);
      let undrilled = 0;
      for (let index = upTo; index >= 0 && undrilled < input.everyN && !drilled.has(snapshots[index]!.snapshotId); index--) {
        undrilled += 1;
      }
      return upTo >= 0 && undrilled >= input.everyN;
    },

    /**
     * A restore drill (docs/restore-drills.md), in a scratch directory of its own. A logical
     * snapshot: an empty scratch server (the worker's own, or a Kubernetes Job's), the snapshot
     * restored into it (its SHA-256 checked), the restored databases dumped again with the
     * backup's options and fingerprinted, compared with the fingerprint recorded at backup time.
     * A physical snapshot: extracted and prepared as a replica volume is, the worker's server
     * started on it, every table checked and every row read. The outcome is stored beside the
     * snapshot; the scratch server and its directory are removed whatever happens.
     */
    async runRestoreDrill(input: RestoreDrillInput): Promise<DrillOutcome> {
      const { manifest } = input;
      if (manifest.method === 'logical' && !manifest.fingerprint) {
        throw permanentFailure(
          PermanentFailureType.InvalidInput,
          `snapshot ${manifest.snapshotId} has no fingerprint to compare with: only logical snapshots taken with spec.verification set record one`,
        );
      }
      const storage = await deps.openStorage(input.repository, deps.secrets);
      const progress: Progress = { phase: 'starting', bytesRead: 0, bytesWritten: 0 };
      const stopHeartbeats = startHeartbeats(() => ({ ...progress }));
      const controller = abortOnActivityCancel();
      const scratch = await makeScratchDirectory('drill');
      try {
        const identity = await resolveSnapshotIdentity(manifest, input.identity, deps.secrets);
        return await withSecretFiles(
          { 'client.cnf': optionFileContents(undefined), ...(identity ? { identity } : {}) },
          async (files: Record<string, string>) => {
            const drill: Drill = {
              manifest,
              storage,
              optionFile: files['client.cnf']!,
              identityFile: files.identity,
              scratch,
              scratchServers,
              placement: input.scratch ?? 'local',
              drillId: Context.current().info.workflowExecution?.workflowId ?? `${manifest.configuration}/${manifest.snapshotId}`,
              controller,
              progress,
            };
            const startedMs = Date.now();
            const record = (stored: DrillOutcome) =>
              storage.putBytes(drillOutcomeKey(manifest.configuration, manifest.snapshotId), Buffer.from(JSON.stringify(stored)));
            const { outcome, restoredFingerprint }: { outcome: DrillOutcome; restoredFingerprint?: DumpFingerprint } = await (
              manifest.method === 'physical' ? drillPhysicalSnapshot(drill) : drillLogicalSnapshot(drill).then((outcome) => ({ outcome }))
            ).catch(async (error: unknown) => {
              // The object does not match its manifest: a finding about the snapshot, recorded, and the drill fails with it.
              if (isPermanentFailure(error, PermanentFailureType.ChecksumMismatch)) {
                await record(
                  failedDrillOutcome({
                    snapshotId: manifest.snapshotId,
                    proof: manifest.method === 'physical' ? 'physical-integrity' : 'fingerprint',
                    finding: error.message,
                    startedMs,
                    nowMs: Date.now(),
                  }),
                );
              }
              throw error;
            });
            await record({ ...outcome, ...(restoredFingerprint ? { restoredFingerprint } : {}) });
            log.info('restore drill done', { ...outcome, differences: outcome.differences.length });
            return outcome;
          },
        );
      } finally {
        stopHeartbeats();
        await rm(scratch, { recursive: true, force: true });
      }
    },
  };
}

/** One drill's snapshot, repository, secret files, scratch directory (empty), scratch servers, cancellation and progress. */
interface Drill {
  manifest: Manifest;
  storage: Storage;
  /** The client's option file for the worker's own server: no password, as its root has none over its socket. */
  optionFile: string;
  identityFile: string | undefined;
  scratch: string;
  scratchServers: ScratchServerLaunchers;
  /** Where a logical drill's scratch server runs; a physical one's is always the worker's own. */
  placement: ScratchPlacement;
  /** The drill's workflow id. */
  drillId: string;
  controller: AbortController;
  progress: Progress;
}

/**
 * A logical snapshot restored into an empty scratch server of its engine, dumped again with the
 * backup's options and compared with the fingerprint recorded at backup time.
 */
async function drillLogicalSnapshot(drill: Drill): Promise<DrillOutcome> {
  const { manifest, storage, controller, progress } = drill;
  const engine = manifest.target.engine;
  progress.phase = 'reading the fingerprint';
  const recorded = await readFingerprint(storage, manifest, drill.identityFile, controller);
  progress.phase = 'starting the scratch server';
  const started = Date.now();
  const server = await scratchServerLauncher(drill.scratchServers, drill.placement).start({
    engine,
    serverVersion: manifest.server.version,
    dataBytes: manifest.data.rawBytes,
    drillId: drill.drillId,
    directory: drill.scratch,
    signal: controller.signal,
  });
  try {
    const optionFile = optionFileContents(server.rootPassword, scratchServerOptionLines(engine, server.address));
    return await withSecretFiles({ 'scratch.cnf': optionFile }, async (files) => {
      progress.phase = 'restoring';
      const restoreStarted = Date.now();
      const restored = await withOwnController(controller.signal, (restoring) =>
        streamRepositoryToTool({
          storage,
          key: snapshotKey(manifest.configuration, manifest.snapshotId, manifest.data.file),
          filters: restoreFilters({ algorithm: manifest.compression.algorithm, identityFile: drill.identityFile }),
          consumer: rootClientCommand(engine, files['scratch.cnf'], server.address),
          controller: restoring,
          progress,
        }),
      ).catch(async (error: unknown) => {
        // A damaged object may not even decompress: that is a checksum failure, not a tool
        // failing (which would be retried). Only then is the object read a second time.
        if (
          error instanceof ToolFailedError &&
          !controller.signal.aborted &&
          !(await storedObjectMatchesManifest({ storage, manifest, signal: controller.signal, progress }))
        ) {
          throw permanentFailure(
            PermanentFailureType.ChecksumMismatch,
            `snapshot ${manifest.snapshotId}: data object does not match its manifest (sha256); the drill failed in its restore`,
          );
        }
        throw error;
      });
      const restoreSeconds = (Date.now() - restoreStarted) / 1000;
      if (restored.sha256 !== manifest.data.sha256) {
        throw permanentFailure(
          PermanentFailureType.ChecksumMismatch,
          `snapshot ${manifest.snapshotId}: data object does not match its manifest (sha256); the drill failed before comparing`,
        );
      }
      progress.phase = 'fingerprinting the restored copy';
      const dumped = await fingerprintDump({
        drill,
        optionFile: files['scratch.cnf'],
        address: server.address,
        databases: manifest.databases,
        recorded,
      });
      return completedDrillOutcome({
        snapshotId: manifest.snapshotId,
        proof: 'fingerprint',
        differences: fingerprintDifferences(recorded, dumped),
        startedMs: started,
        nowMs: Date.now(),
        restoreSeconds,
        restoredBytes: restored.rawBytes,
        tables: Object.keys(recorded.tables).length,
      });
    });
  } finally {
    await server
      .stop()
      .catch((error: unknown) => log.warn('scratch server did not stop cleanly', { server: server.description, error: String(error) }));
  }
}

/**
 * A physical snapshot extracted and prepared in the scratch data directory as a replica volume
 * is (pipeline/physical-restore.ts), the worker's server started on it without grant tables (the
 * copy's users and passwords are the source's), then: CHECK TABLE on every base table of every
 * database that is not the server's own, the set of databases against the manifest's, and every
 * row read by dumping those databases with the backup's dump tool (which also yields each
 * table's row count and each object's definition hash, kept in the stored outcome).
 */
async function drillPhysicalSnapshot(drill: Drill): Promise<{ outcome: DrillOutcome; restoredFingerprint?: DumpFingerprint }> {
  const { manifest, controller, progress } = drill;
  const started = Date.now();
  const datadir = path.join(drill.scratch, 'data');
  await mkdir(datadir);
  const restored = await restorePhysicalSnapshot({
    storage: drill.storage,
    manifest,
    identityFile: drill.identityFile,
    directory: datadir,
    signal: controller.signal,
    progress,
    onChecksumMismatch: { consequence: 'the drill failed before preparing it' },
  });
  progress.phase = 'starting the scratch server';
  let server: LocalServer;
  try {
    server = await startLocalServer({
      engine: manifest.target.engine,
      datadir,
      owner: scratchServerOwner(),
      grantTables: 'skip',
      signal: controller.signal,
    });
  } catch (error) {
    // The worker's server starts on a fresh data directory (logical drills prove it), so one
    // that does not start on the prepared copy is the copy's failure: the drill's finding.
    if (!isPermanentFailure(error, PermanentFailureType.LocalServerFailed)) throw error;
    const finding = `the server did not start on the prepared copy: ${error.message}`;
    return {
      outcome: failedDrillOutcome({
        snapshotId: manifest.snapshotId,
        proof: 'physical-integrity',
        finding,
        startedMs: started,
        nowMs: Date.now(),
      }),
    };
  }
  const restoreSeconds = (Date.now() - started) / 1000;
  try {
    progress.phase = 'checking tables';
    const { databases, tables, failedChecks } = await checkRestoredTables(server.socket);
    progress.phase = 'reading every row';
    let restoredFingerprint: DumpFingerprint | undefined;
    let dumpFailure: string | undefined;
    if (databases.length > 0) {
      restoredFingerprint = await fingerprintDump({
        drill,
        optionFile: drill.optionFile,
        address: { socket: server.socket },
        databases,
      }).catch((error: unknown) => {
        // The dump exiting with an error is the finding (a row the server cannot read); a killed one is not.
        if (!(error instanceof ToolFailedError && error.exitedOnItsOwn) || controller.signal.aborted) throw error;
        dumpFailure = error.message;
        return undefined;
      });
    }
    const differences = physicalDrillDifferences({
      failedChecks,
      restoredDatabases: databases,
      snapshotDatabases: manifest.databases,
      dumpFailure,
    });
    const outcome = completedDrillOutcome({
      snapshotId: manifest.snapshotId,
      proof: 'physical-integrity',
      differences,
      startedMs: started,
      nowMs: Date.now(),
      restoreSeconds,
      restoredBytes: restored.rawBytes,
      tables,
    });
    return { outcome, ...(restoredFingerprint ? { restoredFingerprint } : {}) };
  } finally {
    await server.stop().catch((error: unknown) => log.warn('scratch server did not stop cleanly', { error: String(error) }));
  }
}

/** The restored copy's databases that are not the server's own, and CHECK TABLE on each of their base tables. */
async function checkRestoredTables(
  socket: string,
): Promise<{ databases: string[]; tables: number; failedChecks: Array<{ database: string; table: string; failure: string }> }> {
  const connection = await mysql.createConnection({ socketPath: socket, user: 'root', charset: 'utf8mb4_general_ci' });
  try {
    const [schemata] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (?) ORDER BY SCHEMA_NAME',
      [SYSTEM_SCHEMAS],
    );
    const [baseTables] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN (?) AND TABLE_TYPE IN (?) ORDER BY TABLE_SCHEMA, TABLE_NAME',
      [SYSTEM_SCHEMAS, CHECKED_TABLE_TYPES],
    );
    const failedChecks: Array<{ database: string; table: string; failure: string }> = [];
    for (const row of baseTables) {
      const [database, table] = [String(row.db), String(row.name)];
      const [result] = await connection.query<mysql.RowDataPacket[]>(
        `CHECK TABLE ${mysql.escapeId(database, true)}.${mysql.escapeId(table, true)}`,
      );
      const failure = checkTableFailure(result.map((r) => ({ msgType: String(r.Msg_type), msgText: String(r.Msg_text) })));
      if (failure !== undefined) failedChecks.push({ database, table, failure });
    }
    return { databases: schemata.map((row) => String(row.name)), tables: baseTables.length, failedChecks };
  } finally {
    await connection.end();
  }
}

/**
 * The databases of a scratch server dumped with the backup's dump tool and read as a fingerprint
 * (domain/dump-fingerprint.ts): with a logical drill's recorded fingerprint, in its format and with
 * its dump options, so both dumps read alike.
 */
async function fingerprintDump(params: {
  drill: Drill;
  optionFile: string;
  address: ScratchServerAddress;
  databases: readonly string[];
  recorded?: DumpFingerprint;
}): Promise<DumpFingerprint> {
  const { drill, recorded } = params;
  const where = 'socket' in params.address ? { socket: params.address.socket, port: 3306 } : params.address;
  const target: TargetSpec = { engine: drill.manifest.target.engine, ...where, user: 'root' };
  const command = logicalDumpCommand({
    target,
    optionFile: params.optionFile,
    databases: params.databases,
    extraArgs: recorded?.dumpArgs ?? [],
  });
  const reader = await DumpFingerprinter.create(recorded?.formatVersion);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      reader.push(chunk);
      drill.progress.bytesWritten += chunk.length;
      callback();
    },
  });
  // Its own controller: a dump that fails leaves the scratch server to its clean shutdown.
  await withOwnController(drill.controller.signal, async (dumping) => {
    const dump = startTool(command, { signal: dumping.signal, stdin: 'ignore', stdout: 'pipe' });
    await runStages(dumping, [dump.finished, pipeline(dump.child.stdout!, sink, { signal: dumping.signal })]);
  });
  return reader.result(recorded?.dumpArgs ?? []);
}

/** The fingerprint recorded at backup time, checked against the SHA-256 its manifest gives. */
async function readFingerprint(
  storage: Storage,
  manifest: Manifest,
  identityFile: string | undefined,
  controller: AbortController,
): Promise<DumpFingerprint> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  const stored = await streamRepositoryToSink({
    storage,
    key: snapshotKey(manifest.configuration, manifest.snapshotId, manifest.fingerprint!.file),
    filters: restoreFilters({ algorithm: 'none', identityFile: manifest.fingerprint!.file.endsWith('.age') ? identityFile : undefined }),
    sink,
    controller,
    progress: { phase: 'reading the fingerprint', bytesRead: 0, bytesWritten: 0 },
  });
  if (stored.sha256 !== manifest.fingerprint!.sha256) {
    throw permanentFailure(
      PermanentFailureType.ChecksumMismatch,
      `snapshot ${manifest.snapshotId}: its fingerprint object does not match the manifest (sha256)`,
    );
  }
  return dumpFingerprintSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
}
