import { log } from '@temporalio/activity';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { importedSnapshotId, parseExternalDumpName, type ExternalDump } from '../domain/external-dumps';
import { MANIFEST_FILE, configurationPrefix, dataFileName, snapshotKey } from '../domain/repository-layout';
import { serializeManifest, type Manifest } from '../domain/manifest';
import type { Engine, Named, RepositorySpec } from '../domain/resources';
import { decompressCommand } from '../domain/tool-commands';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { ByteMeter } from '../pipeline/byte-meter';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import { runStages } from '../pipeline/stages';
import { startTool } from '../pipeline/tool-process';
import { DBKEEP_VERSION } from './version';

export interface ImportDumpsInput {
  repository: Named<RepositorySpec>;
  configuration: string;
  /** The configuration's target, recorded as the snapshots' origin (the real origin is unknown). */
  target: { name: string; engine: Engine };
}

export interface ImportDumpsResult {
  imported: Array<{ file: string; snapshotId: string; databases: string[] }>;
  skipped: Array<{ file: string; reason: string }>;
}

const USE_LINE = /^USE `((?:[^`]|``)+)`;$/;

/**
 * Reads an external dump once, through its decompressor: SHA-256 and size of the stored bytes,
 * size of the SQL, and the databases its `USE` lines switch to.
 */
async function inspectDump(storage: Storage, key: string, dump: ExternalDump) {
  const controller = abortOnActivityCancel();
  const stored = new ByteMeter({ sha256: true });
  const databases = new Set<string>();
  let rawBytes = 0;
  let partial = '';
  const scanner = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      rawBytes += chunk.length;
      const lines = (partial + chunk.toString('latin1')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const match = USE_LINE.exec(line);
        if (match) databases.add(Buffer.from(match[1]!.replace(/``/g, '`'), 'latin1').toString('utf8'));
      }
      callback();
    },
  });
  const body = await storage.getStream(key, controller.signal);
  const decompress = decompressCommand(dump.compression);
  if (!decompress) {
    await pipeline(body, stored, scanner, { signal: controller.signal });
  } else {
    const tool = startTool(decompress, { signal: controller.signal, stdin: 'pipe', stdout: 'pipe' });
    await runStages(controller, [
      tool.finished,
      pipeline(body, stored, tool.child.stdin!, { signal: controller.signal }),
      pipeline(tool.child.stdout!, scanner, { signal: controller.signal }),
    ]);
  }
  return { sha256: stored.sha256(), storedBytes: stored.bytes, rawBytes, databases: [...databases] };
}

export function createImportActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}) {
  /** Copies one external dump into a snapshot folder and writes its manifest, last. */
  async function importOne(storage: Storage, input: ImportDumpsInput, key: string, dump: ExternalDump, result: ImportDumpsResult) {
    const inspected = await inspectDump(storage, key, dump);
    if (inspected.databases.length === 0) {
      result.skipped.push({ file: dump.fileName, reason: 'no USE statements: make the dump with --databases or --all-databases' });
      return;
    }
    const snapshotId = importedSnapshotId(dump, inspected.sha256);
    const file = dataFileName('logical', dump.compression, false);
    const manifestKey = snapshotKey(input.configuration, snapshotId, MANIFEST_FILE);
    const alreadyImported = await storage.getBytes(manifestKey).then(
      () => true,
      () => false,
    );
    if (!alreadyImported) {
      await storage.putStream(
        snapshotKey(input.configuration, snapshotId, file),
        await storage.getStream(key),
        abortOnActivityCancel().signal,
      );
      const manifest: Manifest = {
        formatVersion: 1,
        snapshotId,
        configuration: input.configuration,
        repository: input.repository.name,
        target: { name: input.target.name, engine: input.target.engine, address: `imported from ${dump.fileName}` },
        server: { version: 'unknown (imported dump)', serverId: 0 },
        method: 'logical',
        startedAt: dump.time.toISOString(),
        completedAt: dump.time.toISOString(),
        databases: inspected.databases,
        compression: { algorithm: dump.compression },
        data: { file, storedBytes: inspected.storedBytes, rawBytes: inspected.rawBytes, sha256: inspected.sha256 },
        tools: { dump: 'external dump' },
        dbkeepVersion: DBKEEP_VERSION,
      };
      await storage.putBytes(manifestKey, Buffer.from(serializeManifest(manifest)));
      log.info('external dump imported', { file: dump.fileName, snapshotId });
    }
    result.imported.push({ file: dump.fileName, snapshotId, databases: inspected.databases });
  }

  return {
    /**
     * Turns every external dump under the configuration's prefix into a snapshot, as a backup
     * would have: data copied into a snapshot folder, manifest written last. Dumps already
     * imported (same time, same content) are left alone, so importing twice is harmless.
     */
    async importExternalDumps(input: ImportDumpsInput): Promise<ImportDumpsResult> {
      const storage = await deps.openStorage(input.repository, deps.secrets);
      const result: ImportDumpsResult = { imported: [], skipped: [] };
      const prefix = configurationPrefix(input.configuration);
      const candidates: Array<{ key: string; dump: ExternalDump }> = [];
      for await (const object of storage.list(prefix)) {
        const name = object.key.slice(prefix.length);
        const dump = name.includes('/') ? undefined : parseExternalDumpName(name);
        if (dump) candidates.push({ key: object.key, dump });
      }
      const stopHeartbeats = startHeartbeats(() => ({
        phase: `importing (${result.imported.length + result.skipped.length} of ${candidates.length} done)`,
        bytesRead: 0,
        bytesWritten: 0,
      }));
      try {
        for (const { key, dump } of candidates) await importOne(storage, input, key, dump, result);
      } finally {
        stopHeartbeats();
      }
      return result;
    },
  };
}
