import { log } from '@temporalio/activity';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type mysql from 'mysql2/promise';
import { permanentFailure, PermanentFailureType, transientFailure, TransientFailureType } from '../domain/failures';
import type { BackupSource, DumpResult, GaleraPosition, PreflightResult } from '../domain/backup-results';
import { chooseGaleraDonor, type GaleraNodeState } from '../domain/galera-donor';
import { parseManifest, serializeManifest, type Manifest } from '../domain/manifest';
import { dataFileName, fingerprintFileName, MANIFEST_FILE, snapshotKey } from '../domain/repository-layout';
import { DumpFingerprinter, type DumpFingerprint } from '../domain/dump-fingerprint';
import { parseBackupSessionInput } from '../domain/session-inputs';
import { USERS_AND_GRANTS_SCHEMA } from '../domain/system-schemas';
import type { BackupConfigurationSpec, BackupMethod, CompressionSpec, Named, RepositorySpec, TargetSpec } from '../domain/resources';
import type { SecretRef } from '../domain/secret-ref';
import { holds, missingBackupPrivileges, missingPhysicalBackupPrivileges } from '../domain/database-privileges';
import {
  clientFamily,
  compressorVersionCommand,
  dumpOutputArgs,
  isGaleraTarget,
  logicalDumpCommand,
  type BinaryLogState,
  physicalBackupCommand,
  sessionTools,
  storageFilters,
  toolVersionCommand,
} from '../domain/tool-commands';
import type { SecretResolver } from '../secrets/secret-resolver';
import { openStorage } from '../storage/open-storage';
import type { Storage } from '../storage/storage';
import { connectToTarget, describeTargetAddress, listUserDatabases } from './database-connection';
import { parseArrivedSessionInput } from './session-input';
import { readSessionUserPrivileges, requirePrivileges, type SessionUserPrivileges } from './granted-privileges';
import { abortOnActivityCancel, startHeartbeats } from './heartbeat';
import { targetCredentialFiles, withSecretFiles, type SecretFileContents } from '../pipeline/option-file';
import { resolveTargetCredentials } from '../secrets/target-credentials';
import { decodeCapturedHead, streamReadableToRepository, streamToolToRepository, type CapturedHead } from '../pipeline/stream-pipelines';
import { Readable } from 'node:stream';
import { parsePhysicalBackupPosition, parseReplicationPosition, type ReplicationPosition } from '../domain/replication-position';
import { engineMismatch, flavorOfEngine, serverIdentity, type ServerFlavor } from '../domain/server-flavor';
import { readToolVersion, requireToolsOnPath, ToolFailedError } from '../pipeline/tool-process';
import { classifyToolFailure } from '../domain/server-errors';
import { DBKEEP_VERSION } from './version';

export interface BackupActivityDeps {
  secrets: SecretResolver;
  openStorage?: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}

export interface PreflightInput {
  /** With host or socket: createActivities resolves a Service or AppBinding first (activities/target-endpoint.ts). */
  target: Named<TargetSpec>;
  /** Checked here, as the repository is: the session's input may have been written by hand. */
  configuration: Named<BackupConfigurationSpec>;
  repository: Named<RepositorySpec>;
}

export interface DumpInput {
  configuration: string;
  snapshotId: string;
  target: Named<TargetSpec>;
  source: BackupSource;
  repository: Named<RepositorySpec>;
  compression: CompressionSpec;
  databases: string[];
  method: BackupMethod;
  /** The configuration's age recipients (a secret reference), when it encrypts. */
  encryptTo?: SecretRef;
  args: string[];
  /** As the preflight read it; absent in inputs of earlier versions (no position recorded). */
  binaryLog?: BinaryLogState;
  /** Record the dump's fingerprint for restore drills (spec.verification); logical backups only. */
  fingerprint?: boolean;
}

export interface CommitInput {
  repository: Named<RepositorySpec>;
  manifest: Manifest;
}

const WSREP_STATUS_SQL =
  "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state', 'wsrep_ready', 'wsrep_cluster_status', 'wsrep_cluster_state_uuid', 'wsrep_last_committed')";

/** The Target with the source's address in place of its own, as the tools connect to it. */
function targetAt(target: TargetSpec, source: BackupSource): TargetSpec {
  return { ...target, host: source.host, port: source.port, socket: source.socket };
}

export function createBackupActivities(deps: BackupActivityDeps) {
  const open = deps.openStorage ?? openStorage;

  async function wsrepStatus(target: Named<TargetSpec>, spec: TargetSpec): Promise<Record<string, string>> {
    const connection = await connectToTarget({ name: target.name, spec }, deps.secrets);
    try {
      const [rows] = await connection.query<mysql.RowDataPacket[]>(WSREP_STATUS_SQL);
      return Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
    } finally {
      await connection.end().catch(() => undefined);
    }
  }

  /**
   * The source's position right after the backup tool exited: an upper bound of the snapshot's
   * (domain/manifest.ts). The backup is complete by then, so a node that cannot be asked only
   * leaves the bound out of the manifest; it does not fail the backup.
   */
  async function galeraPositionAtEnd(target: Named<TargetSpec>, source: BackupSource): Promise<GaleraPosition | undefined> {
    try {
      const status = await wsrepStatus(target, targetAt(target.spec, source));
      const lastCommitted = Number(status.wsrep_last_committed);
      if (!status.wsrep_cluster_state_uuid || !Number.isInteger(lastCommitted)) throw new Error('no wsrep status');
      return { clusterStateUuid: status.wsrep_cluster_state_uuid, lastCommitted };
    } catch (error) {
      log.warn('galera position after the backup not read', { target: target.name, node: source.address, error: (error as Error).message });
      return undefined;
    }
  }

  /**
   * The snapshot's position from the dump's header; on MariaDB its GTID position is that of the
   * header's binlog coordinates, asked of the source. The backup is complete by then: a source
   * that cannot be asked only leaves the GTID position out.
   */
  async function replicationPosition(
    target: Named<TargetSpec>,
    source: BackupSource,
    head: CapturedHead,
  ): Promise<ReplicationPosition | undefined> {
    const flavor = flavorOfEngine(target.spec.engine);
    const position: ReplicationPosition | undefined = parseReplicationPosition(await decodeCapturedHead(head), flavor);
    if (flavor !== 'mariadb' || position?.binlogFile === undefined) return position;
    try {
      const connection = await connectToTarget({ name: target.name, spec: targetAt(target.spec, source) }, deps.secrets);
      try {
        const [[row]] = await connection.query<mysql.RowDataPacket[]>('SELECT BINLOG_GTID_POS(?, ?) AS pos', [
          position.binlogFile,
          position.binlogPosition,
        ]);
        if (typeof row?.pos === 'string' && row.pos !== '') position.gtidBinlogPos = row.pos;
      } finally {
        await connection.end().catch(() => undefined);
      }
    } catch (error) {
      log.warn('GTID position of the snapshot not read', { target: target.name, node: source.address, error: (error as Error).message });
    }
    return position;
  }

  /** Asks every node of a Galera target for its state and picks the donor (domain/galera-donor.ts). */
  async function chooseSource(target: Named<TargetSpec>): Promise<{ source: BackupSource; galera?: PreflightResult['galera'] }> {
    const own: BackupSource = {
      host: target.spec.host,
      port: target.spec.port,
      socket: target.spec.socket,
      datadir: target.spec.datadir,
      address: describeTargetAddress(target.spec),
    };
    if (!isGaleraTarget(target.spec)) return { source: own };
    const candidates: Array<BackupSource & { isPrimary: boolean }> = [
      { ...own, isPrimary: true },
      ...(target.spec.galera?.members ?? [])
        .map((m) => ({ host: m.host, port: m.port, datadir: m.datadir, address: `${m.host}:${m.port}`, isPrimary: false }))
        .filter((m) => m.address !== own.address),
    ];
    type PolledNode = GaleraNodeState & { candidate: (typeof candidates)[number]; status?: Record<string, string>; failureType?: string };
    const states = await Promise.all(
      candidates.map(async (candidate): Promise<PolledNode> => {
        try {
          const status = await wsrepStatus(target, targetAt(target.spec, candidate));
          const localState = status.wsrep_local_state === undefined ? undefined : Number(status.wsrep_local_state);
          return {
            address: candidate.address,
            isPrimary: candidate.isPrimary,
            localState,
            ready: status.wsrep_ready === 'ON',
            clusterStatus: status.wsrep_cluster_status,
            candidate,
            status,
          };
        } catch (error) {
          const failureType = (error as { type?: string }).type;
          if (failureType === PermanentFailureType.AuthenticationFailed) throw error;
          return {
            address: candidate.address,
            isPrimary: candidate.isPrimary,
            unreachable: (error as Error).message,
            failureType,
            candidate,
          };
        }
      }),
    );
    const choice = chooseGaleraDonor(states);
    if ('problem' in choice) {
      // As for a single server: no node accepting connections is a configuration to fix, not a state to wait out.
      if (states.every((state) => state.failureType === PermanentFailureType.TargetUnreachable)) {
        throw permanentFailure(PermanentFailureType.TargetUnreachable, `Target "${target.name}": ${choice.problem}`);
      }
      // A state the cluster leaves by itself (or when an operator ends a desync): retried with backoff.
      throw transientFailure(
        TransientFailureType.NoSyncedClusterNode,
        `Target "${target.name}": ${choice.problem} (retried: a node joining or donating becomes Synced on its own, one desynced with wsrep_desync once it is set OFF)`,
      );
    }
    const { candidate, status } = choice.donor;
    log.info('galera donor chosen', { target: target.name, donor: candidate.address, reason: choice.reason });
    return {
      source: {
        host: candidate.host,
        port: candidate.port,
        socket: candidate.socket,
        datadir: candidate.datadir,
        address: candidate.address,
      },
      galera: {
        node: candidate.address,
        clusterStateUuid: status?.wsrep_cluster_state_uuid ?? '',
        lastCommitted: Number(status?.wsrep_last_committed ?? -1),
        reason: choice.reason,
      },
    };
  }

  return {
    /**
     * Connects with mysql2 and records what is about to be backed up; for a Galera target,
     * chooses the node to back up from. Fails fast on authentication and reachability.
     */
    async preflightTarget(input: PreflightInput): Promise<PreflightResult> {
      // Before the database is reached: the backup session's first activity.
      const checked = parseArrivedSessionInput(parseBackupSessionInput, input);
      const { method, databases } = checked.configuration.spec;
      const { source, galera } = await chooseSource(input.target);
      if (method === 'physical' && !source.datadir) {
        throw permanentFailure(
          PermanentFailureType.InvalidInput,
          `Target "${input.target.name}": a physical backup of ${source.address} needs its data directory (spec.datadir, or datadir on the Galera member)`,
        );
      }
      const connection = await connectToTarget({ name: input.target.name, spec: targetAt(input.target.spec, source) }, deps.secrets);
      try {
        const [[row]] = await connection.query<mysql.RowDataPacket[]>(
          'SELECT VERSION() AS version, @@server_id AS serverId, @@log_bin AS logBin',
        );
        const server = serverIdentity(String(row?.version ?? ''));
        const mismatch = engineMismatch(input.target.name, input.target.spec.engine, server);
        if (mismatch) throw permanentFailure(PermanentFailureType.EngineMismatch, mismatch);
        await requireToolsOnPath(
          sessionTools({
            engine: input.target.spec.engine,
            tool: method === 'physical' ? 'physical' : 'dump',
            compression: checked.configuration.spec.compression.algorithm,
            encrypted: checked.configuration.spec.encryption !== undefined,
            fingerprinted: checked.configuration.spec.verification !== undefined,
            intoDirectory: checked.repository.spec.filesystem !== undefined,
          }),
        );
        const privileges = await readSessionUserPrivileges(connection);
        const binaryLog = await readBinaryLogState(connection, server.flavor, Number(row?.logBin) === 1, privileges);
        if (binaryLog.enabled && !binaryLog.positionReadable) {
          log.warn('the snapshot records no replication position: the backup user lacks the privileges to read it', {
            target: input.target.name,
          });
        }
        // A physical user sees the databases' names only with a privilege it is checked for here.
        if (method === 'physical' && clientFamily(input.target.spec.engine) === 'mysql') {
          log.info("backup privileges not checked: xtrabackup's are not measured here (docs/security.md)", { target: input.target.name });
        } else if (method === 'physical') {
          requirePrivileges(privileges, input.target, 'a physical backup', (granted) =>
            missingPhysicalBackupPrivileges(granted, binaryLog.enabled && !binaryLog.positionReadable),
          );
        }
        const available = await listUserDatabases(connection);
        // A physical backup copies the whole data directory: every database, whatever the list says.
        const wanted = method === 'physical' ? available : (databases ?? available);
        // Galera targets leave mysql.global_priv out of a listed `mysql` unless ignoreGlobalPriv is false.
        const missing = wanted.filter((db) => !available.includes(db) && db !== USERS_AND_GRANTS_SCHEMA);
        if (missing.length > 0) {
          throw permanentFailure(
            PermanentFailureType.UnknownDatabase,
            `Target "${input.target.name}" has no database ${missing.map((d) => `"${d}"`).join(', ')} (spec.databases of the configuration)`,
          );
        }
        if (wanted.length === 0) {
          throw permanentFailure(
            PermanentFailureType.UnknownDatabase,
            `Target "${input.target.name}" has no user databases to back up${method === 'physical' ? ' (its data directory holds system tables only)' : ''}`,
          );
        }
        if (method === 'logical') {
          requirePrivileges(privileges, input.target, 'a logical backup', (granted) =>
            missingBackupPrivileges(clientFamily(input.target.spec.engine), granted, wanted),
          );
        }
        return {
          configuration: checked.configuration.spec,
          repository: checked.repository.spec,
          engine: input.target.spec.engine,
          flavor: server.flavor,
          version: server.version,
          serverId: Number(row?.serverId ?? 0),
          binaryLog,
          databases: wanted,
          source,
          galera,
        };
      } finally {
        await connection.end().catch(() => undefined);
      }
    },

    /**
     * The backup tool (mariadb-dump, or mariadb-backup for physical) → compressor → repository,
     * streamed. The data object only commits if every stage exited cleanly.
     */
    async dumpToRepository(input: DumpInput): Promise<DumpResult> {
      const storage = await open(input.repository, deps.secrets);
      const credentials = await resolveTargetCredentials(input.target, deps.secrets);
      const physical = input.method === 'physical';
      const recipients = input.encryptTo
        ? await deps.secrets.resolve(input.encryptTo, `BackupConfiguration "${input.configuration}" spec.encryption.age.recipients`)
        : undefined;
      const file = dataFileName(input.method, input.compression.algorithm, recipients !== undefined);
      const key = snapshotKey(input.configuration, input.snapshotId, file);
      // Read while the dump runs, off its path; awaited after it, and never left unhandled before.
      const toolVersions = Promise.all([
        readToolVersion(toolVersionCommand(input.target.spec.engine, physical ? 'physical' : 'dump')),
        versionOf(compressorVersionCommand(input.compression.algorithm)),
      ]);
      toolVersions.catch(() => undefined);
      const target = targetAt(input.target.spec, input.source);
      // mariadb-backup keeps its own scratch files in --target-dir; a private one, removed after.
      const scratchDir = physical ? await mkdtemp(path.join(os.tmpdir(), 'dbkeep-backup-')) : undefined;
      const secretFiles: Record<string, SecretFileContents<string>> = targetCredentialFiles(input.target.spec.engine, credentials);
      if (recipients) secretFiles['recipients.txt'] = `${recipients}\n`;
      try {
        return await withSecretFiles(secretFiles, async (files) => {
          const startedAt = new Date().toISOString();
          const optionFile = files['client.cnf']!;
          const producer = physical
            ? physicalBackupCommand({ target, optionFile, datadir: input.source.datadir!, scratchDir: scratchDir!, extraArgs: input.args })
            : logicalDumpCommand({ target, optionFile, databases: input.databases, extraArgs: input.args, binaryLog: input.binaryLog });
          const recipientsFile = files['recipients.txt'];
          const controller = abortOnActivityCancel();
          const fingerprinter = input.fingerprint && !physical ? await DumpFingerprinter.create() : undefined;
          const streamed = await streamToolToRepository({
            producer,
            filters: storageFilters({ compression: input.compression, recipientsFile }),
            storage,
            key,
            controller,
            phase: physical ? 'copying data directory' : 'dumping',
            reportProgress: startHeartbeats,
            ...(fingerprinter ? { fingerprinter } : {}),
          }).catch((err: unknown) => {
            const failure = err instanceof ToolFailedError && err.exitedOnItsOwn ? classifyToolFailure(err.message) : undefined;
            if (!failure?.permanent || !(err instanceof Error)) throw err;
            throw permanentFailure(
              PermanentFailureType.BackupToolRefused,
              `Target "${input.target.name}" (${input.source.address}) refused the backup (${failure.reason}), which no retry changes: ${err.message}`,
            );
          });
          const [dumpVersion, compressorVersion] = await toolVersions;
          log.info('backup uploaded', { key, method: input.method, storedBytes: streamed.storedBytes, rawBytes: streamed.rawBytes });
          // Stored before the manifest, as the data is: a snapshot is listed only once both are there.
          const fingerprint = fingerprinter
            ? await storeFingerprint({
                storage,
                configuration: input.configuration,
                snapshotId: input.snapshotId,
                recipientsFile,
                controller,
                fingerprint: fingerprinter.result(dumpOutputArgs(target, input.args)),
              })
            : undefined;
          const galera = isGaleraTarget(input.target.spec) ? await galeraPositionAtEnd(input.target, input.source) : undefined;
          const replication = physical
            ? parsePhysicalBackupPosition(streamed.producerStderrTail)
            : await replicationPosition(input.target, input.source, streamed.head);
          return {
            file,
            rawBytes: streamed.rawBytes,
            storedBytes: streamed.storedBytes,
            sha256: streamed.sha256,
            startedAt,
            completedAt: new Date().toISOString(),
            tools: { dump: dumpVersion, compressor: compressorVersion },
            dbkeepVersion: DBKEEP_VERSION,
            ...(recipients ? { encryption: { method: 'age' as const, recipients: ageRecipients(recipients) } } : {}),
            ...(galera ? { galera } : {}),
            ...(replication ? { replication } : {}),
            ...(fingerprint ? { fingerprint } : {}),
          };
        });
      } finally {
        if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
      }
    },

    /**
     * Writes the manifest, last, after checking the data object is there with the size the
     * dump reported. Only from this moment is the snapshot listed and restorable.
     */
    async commitSnapshot(input: CommitInput): Promise<void> {
      const storage = await open(input.repository, deps.secrets);
      const { manifest } = input;
      // The catalog refuses what its schema refuses: such a manifest would list a snapshot nobody can restore.
      const serialized = serializeManifest(manifest);
      const checked = parseManifest(serialized);
      if (!checked.ok)
        throw permanentFailure(PermanentFailureType.InvalidInput, `snapshot ${manifest.snapshotId} not committed: ${checked.reason}`);
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
      await storage.putBytes(snapshotKey(manifest.configuration, manifest.snapshotId, MANIFEST_FILE), Buffer.from(serialized));
      log.info('snapshot committed', { snapshotId: manifest.snapshotId, location: storage.location });
    },
  };
}

/** The source's binary log as the dump options need it (domain/tool-commands.ts: replicationPositionArgs). */
async function readBinaryLogState(
  connection: mysql.Connection,
  flavor: ServerFlavor,
  enabled: boolean,
  { granted }: SessionUserPrivileges,
): Promise<BinaryLogState> {
  if (flavor === 'mariadb') {
    const positionReadable =
      enabled &&
      (await connection.query('SHOW MASTER STATUS').then(
        () => true,
        () => false,
      ));
    return { enabled, positionReadable };
  }
  const [[gtid]] = await connection.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.gtid_mode AS gtidMode');
  // The session user's own (and its active roles'): a user with global SELECT sees every account's
  // rows. Without them the dump records no position rather than fail on the lock.
  const has = (privilege: string) => holds(granted.global, privilege);
  return {
    enabled,
    gtidMode: String(gtid?.gtidMode),
    positionReadable: (has('RELOAD') || has('FLUSH_TABLES')) && (has('REPLICATION CLIENT') || has('SUPER')),
  };
}

/** The public keys of an age recipients file (comments and blank lines skipped), for the manifest. */
export function ageRecipients(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

async function versionOf(command: ReturnType<typeof compressorVersionCommand>): Promise<string | undefined> {
  return command ? readToolVersion(command) : undefined;
}

/** The dump's fingerprint as a small JSON object beside the data, encrypted to the same recipients when the data is. */
async function storeFingerprint(params: {
  storage: Storage;
  configuration: string;
  snapshotId: string;
  recipientsFile: string | undefined;
  controller: AbortController;
  fingerprint: DumpFingerprint;
}): Promise<{ file: string; sha256: string }> {
  const file = fingerprintFileName(params.recipientsFile !== undefined);
  const stored = await streamReadableToRepository({
    source: Readable.from([Buffer.from(JSON.stringify(params.fingerprint))]),
    filters: storageFilters({ compression: { algorithm: 'none' }, recipientsFile: params.recipientsFile }),
    storage: params.storage,
    key: snapshotKey(params.configuration, params.snapshotId, file),
    controller: params.controller,
  });
  return { file, sha256: stored.sha256 };
}
