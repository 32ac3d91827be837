import { log } from '@temporalio/activity';
import { pipeline } from 'node:stream/promises';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { serializeManifest, type Manifest } from '../domain/manifest';
import { logicalDumpFileName, MANIFEST_FILE, snapshotKey } from '../domain/repository-layout';
import type { CompressionSpec, Engine, Named, RepositorySpec, TargetSpec } from '../domain/resources';
import {
  compressCommand,
  compressorVersionCommand,
  logicalDumpCommand,
  toolVersionCommand,
} from '../domain/tool-commands';
import type { SecretResolver } from '../secrets/secret-resolver';
import { openStorage } from '../storage/open-storage';
import type { Storage } from '../storage/storage';
import { ByteMeter } from './byte-meter';
import { connectToTarget, listUserDatabases } from './database-connection';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import { withOptionFile } from './option-file';
import { runStages } from './stages';
import { readToolVersion, startTool } from './tool-process';
import { DBKEEP_VERSION } from './version';

export interface BackupActivityDeps {
  secrets: SecretResolver;
  openStorage?: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}

export interface PreflightInput {
  target: Named<TargetSpec>;
  /** The configuration's databases; undefined means every user database. */
  databases?: string[];
}

export interface PreflightResult {
  engine: Engine;
  version: string;
  serverId: number;
  databases: string[];
}

export interface DumpInput {
  configuration: string;
  snapshotId: string;
  target: Named<TargetSpec>;
  repository: Named<RepositorySpec>;
  compression: CompressionSpec;
  databases: string[];
}

export interface DumpResult {
  file: string;
  storedBytes: number;
  rawBytes: number;
  sha256: string;
  startedAt: string;
  completedAt: string;
  tools: { dump: string; compressor?: string };
  dbkeepVersion: string;
}

export interface CommitInput {
  repository: Named<RepositorySpec>;
  manifest: Manifest;
}

export function createBackupActivities(deps: BackupActivityDeps) {
  const open = deps.openStorage ?? openStorage;

  return {
    /** Connects with mysql2 and records what is about to be backed up. Fails fast on auth and reachability. */
    async preflightTarget(input: PreflightInput): Promise<PreflightResult> {
      const connection = await connectToTarget(input.target, deps.secrets);
      try {
        const [[row]] = await connection.query<import('mysql2/promise').RowDataPacket[]>(
          'SELECT VERSION() AS version, @@server_id AS serverId',
        );
        const available = await listUserDatabases(connection);
        const wanted = input.databases ?? available;
        const missing = wanted.filter((db) => !available.includes(db));
        if (missing.length > 0) {
          throw permanentFailure(
            PermanentFailureType.UnknownDatabase,
            `Target "${input.target.name}" has no database ${missing.map((d) => `"${d}"`).join(', ')} (spec.databases of the configuration)`,
          );
        }
        if (wanted.length === 0) {
          throw permanentFailure(
            PermanentFailureType.UnknownDatabase,
            `Target "${input.target.name}" has no user databases to back up`,
          );
        }
        return {
          engine: input.target.spec.engine,
          version: String(row?.version ?? ''),
          serverId: Number(row?.serverId ?? 0),
          databases: wanted,
        };
      } finally {
        await connection.end().catch(() => undefined);
      }
    },

    /**
     * dump tool → compressor → repository, streamed: no staging file, memory bounded by the
     * upload's part buffers. The data object only commits if every stage exited cleanly.
     */
    async dumpToRepository(input: DumpInput): Promise<DumpResult> {
      const storage = await open(input.repository, deps.secrets);
      const password = input.target.spec.password
        ? await deps.secrets.resolve(input.target.spec.password, `Target "${input.target.name}" password`)
        : undefined;
      const file = logicalDumpFileName(input.compression.algorithm);
      const key = snapshotKey(input.configuration, input.snapshotId, file);
      const tools = {
        dump: await readToolVersion(toolVersionCommand(input.target.spec.engine, 'dump')),
        compressor: await versionOf(compressorVersionCommand(input.compression.algorithm)),
      };

      return withOptionFile(password, async (optionFile) => {
        const controller = abortOnActivityCancel();
        const { signal } = controller;
        const startedAt = new Date().toISOString();
        const dump = startTool(logicalDumpCommand({ target: input.target.spec, optionFile, databases: input.databases }), {
          signal,
          stdin: 'ignore',
          stdout: 'pipe',
        });
        const compressorCommand = compressCommand(input.compression);
        const compressor = compressorCommand ? startTool(compressorCommand, { signal, stdin: 'pipe', stdout: 'pipe' }) : undefined;
        const producers = Promise.all([dump.finished, compressor?.finished]);
        const raw = new ByteMeter({ sha256: false });
        // The upload's body only ends once every tool exited 0; otherwise it errors and the upload aborts.
        const stored = new ByteMeter({ sha256: true, beforeEnd: () => producers.then(() => undefined) });
        const streams = compressor
          ? [
              pipeline(dump.child.stdout!, raw, compressor.child.stdin!, { signal }),
              pipeline(compressor.child.stdout!, stored, { signal }),
            ]
          : [pipeline(dump.child.stdout!, raw, stored, { signal })];

        const stopHeartbeats = startHeartbeats(() => ({ phase: 'dumping', bytesRead: raw.bytes, bytesWritten: stored.bytes }));
        try {
          await runStages(controller, [dump.finished, compressor?.finished, ...streams, storage.putStream(key, stored, signal)]);
        } finally {
          stopHeartbeats();
        }
        const result: DumpResult = {
          file,
          storedBytes: stored.bytes,
          rawBytes: raw.bytes,
          sha256: stored.sha256(),
          startedAt,
          completedAt: new Date().toISOString(),
          tools,
          dbkeepVersion: DBKEEP_VERSION,
        };
        log.info('dump uploaded', { key, storedBytes: result.storedBytes, rawBytes: result.rawBytes });
        return result;
      });
    },

    /**
     * Writes the manifest, last, after checking the data object is there with the size the
     * dump reported. Only from this moment is the snapshot listed and restorable.
     */
    async commitSnapshot(input: CommitInput): Promise<void> {
      const storage = await open(input.repository, deps.secrets);
      const { manifest } = input;
      const dataKey = snapshotKey(manifest.configuration, manifest.snapshotId, manifest.data.file);
      let found: number | undefined;
      for await (const object of storage.list(dataKey)) {
        if (object.key === dataKey) found = object.size;
      }
      if (found !== manifest.data.storedBytes) {
        throw new Error(
          `data object ${storage.location}${dataKey} has ${found ?? 'no'} bytes, expected ${manifest.data.storedBytes}; not committing`,
        );
      }
      await storage.putBytes(
        snapshotKey(manifest.configuration, manifest.snapshotId, MANIFEST_FILE),
        Buffer.from(serializeManifest(manifest)),
      );
      log.info('snapshot committed', { snapshotId: manifest.snapshotId, location: storage.location });
    },
  };
}

async function versionOf(command: ReturnType<typeof compressorVersionCommand>): Promise<string | undefined> {
  return command ? readToolVersion(command) : undefined;
}
