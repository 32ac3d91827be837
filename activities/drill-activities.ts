import { log } from '@temporalio/activity';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { DumpFingerprinter, dumpFingerprintSchema, fingerprintDifferences, type DumpFingerprint } from '../domain/dump-fingerprint';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { DrillOutcome } from '../domain/drill-outcome';
import type { Manifest } from '../domain/manifest';
import type { Progress } from '../domain/progress';
import { drillOutcomeKey, snapshotKey } from '../domain/repository-layout';
import type { Named, RepositorySpec, TargetSpec } from '../domain/resources';
import type { SecretRef } from '../domain/secret-ref';
import {
  initializeDataDirectoryCommand,
  localServerClientCommand,
  logicalDumpCommand,
  optionFileContents,
  restoreFilters,
} from '../domain/tool-commands';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { readSnapshotCatalog } from './snapshot-catalog';
import { startLocalServer } from '../pipeline/local-server';
import { withSecretFiles } from '../pipeline/option-file';
import { makeScratchDirectory } from '../pipeline/scratch-directory';
import { runStages } from '../pipeline/stages';
import { streamRepositoryToSink, streamRepositoryToTool } from '../pipeline/stream-pipelines';
import { startTool, ToolFailedError } from '../pipeline/tool-process';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import { resolveSnapshotIdentity } from './snapshot-decryption';

export interface RestoreDrillInput {
  repository: Named<RepositorySpec>;
  manifest: Manifest;
  /** The configuration's age identity, for encrypted snapshots. */
  identity?: SecretRef;
}

export type { DrillOutcome };

const MAX_DIFFERENCES = 50;

export function createDrillActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}) {
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
     * A restore drill of a logical snapshot (docs/restore-drills.md): a scratch server of the
     * worker's own on an empty data directory, the snapshot restored into it (its SHA-256
     * checked), the restored databases dumped again with the backup's options and fingerprinted,
     * compared with the fingerprint recorded at backup time, the outcome stored beside the
     * snapshot; the scratch server and its directory are removed whatever happens.
     */
    async runRestoreDrill(input: RestoreDrillInput): Promise<DrillOutcome> {
      const { manifest } = input;
      if (manifest.method !== 'logical' || !manifest.fingerprint) {
        throw permanentFailure(
          PermanentFailureType.InvalidInput,
          `snapshot ${manifest.snapshotId} has no fingerprint to compare with: only logical snapshots taken with spec.verification set record one`,
        );
      }
      const engine = manifest.target.engine;
      const storage = await deps.openStorage(input.repository, deps.secrets);
      const progress: Progress = { phase: 'reading the fingerprint', bytesRead: 0, bytesWritten: 0 };
      const stopHeartbeats = startHeartbeats(() => ({ ...progress }));
      const controller = abortOnActivityCancel();
      const scratch = await makeScratchDirectory('drill');
      try {
        const identity = await resolveSnapshotIdentity(manifest, input.identity, deps.secrets);
        return await withSecretFiles(
          { 'client.cnf': optionFileContents(undefined), ...(identity ? { identity } : {}) },
          async (files: Record<string, string>) => {
            const recorded = await readFingerprint(storage, manifest, files.identity, controller);
            progress.phase = 'starting the scratch server';
            const started = Date.now();
            const datadir = path.join(scratch, 'data');
            await mkdir(datadir);
            const owner = process.getuid?.() === 0 ? { uid: 0, gid: 0 } : undefined;
            await startTool(initializeDataDirectoryCommand(engine, datadir, owner ? { user: String(owner.uid) } : {}), {
              signal: controller.signal,
              stdin: 'ignore',
              stdout: 'ignore',
            }).finished;
            const server = await startLocalServer({ engine, datadir, owner, grantTables: 'use', signal: controller.signal });
            try {
              progress.phase = 'restoring';
              const restoreStarted = Date.now();
              const restored = await streamRepositoryToTool({
                storage,
                key: snapshotKey(manifest.configuration, manifest.snapshotId, manifest.data.file),
                filters: restoreFilters({ algorithm: manifest.compression.algorithm, identityFile: files.identity }),
                consumer: localServerClientCommand(engine, files['client.cnf']!, server.socket),
                controller,
                progress,
              }).catch(async (error: unknown) => {
                // A damaged object may not even decompress: that is a checksum failure, not a tool
                // failing (which would be retried). Only then is the object read a second time.
                if (error instanceof ToolFailedError) await checkStoredObject(storage, manifest, progress);
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
              const target: TargetSpec = { engine, socket: server.socket, port: 3306, user: 'root' };
              const dump = startTool(
                logicalDumpCommand({
                  target,
                  optionFile: files['client.cnf']!,
                  databases: manifest.databases,
                  extraArgs: recorded.dumpArgs,
                }),
                { signal: controller.signal, stdin: 'ignore', stdout: 'pipe' },
              );
              const reader = new DumpFingerprinter(recorded.formatVersion);
              const sink = new Writable({
                write(chunk: Buffer, _encoding, callback) {
                  reader.push(chunk);
                  progress.bytesWritten += chunk.length;
                  callback();
                },
              });
              await runStages(controller, [dump.finished, pipeline(dump.child.stdout!, sink, { signal: controller.signal })]);
              const differences = fingerprintDifferences(recorded, reader.result(recorded.dumpArgs));
              const outcome: DrillOutcome = {
                snapshotId: manifest.snapshotId,
                passed: differences.length === 0,
                verifiedAt: new Date().toISOString(),
                durationSeconds: (Date.now() - started) / 1000,
                restoreSeconds,
                restoredBytes: restored.rawBytes,
                restoreBytesPerSecond: restoreSeconds > 0 ? Math.round(restored.rawBytes / restoreSeconds) : 0,
                tables: Object.keys(recorded.tables).length,
                differences: differences.slice(0, MAX_DIFFERENCES),
              };
              await storage.putBytes(drillOutcomeKey(manifest.configuration, manifest.snapshotId), Buffer.from(JSON.stringify(outcome)));
              log.info('restore drill done', { ...outcome, differences: outcome.differences.length });
              return outcome;
            } finally {
              await server.stop().catch((error: unknown) => log.warn('scratch server did not stop cleanly', { error: String(error) }));
            }
          },
        );
      } finally {
        stopHeartbeats();
        await rm(scratch, { recursive: true, force: true });
      }
    },
  };
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

/** Reads the snapshot's data object and compares its SHA-256 with the manifest's: after a restore whose tools failed. */
async function checkStoredObject(storage: Storage, manifest: Manifest, progress: Progress): Promise<void> {
  progress.phase = 'checking the stored object';
  const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const stored = await streamRepositoryToSink({
    storage,
    key: snapshotKey(manifest.configuration, manifest.snapshotId, manifest.data.file),
    filters: [],
    sink: discard,
    // Its own: the restore's controller was aborted by the failure.
    controller: abortOnActivityCancel(),
    progress,
  });
  if (stored.sha256 !== manifest.data.sha256) {
    throw permanentFailure(
      PermanentFailureType.ChecksumMismatch,
      `snapshot ${manifest.snapshotId}: data object does not match its manifest (sha256); the drill failed in its restore`,
    );
  }
}
