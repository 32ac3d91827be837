import type { Manifest } from './manifest';
import type { BackupConfigurationSpec, Engine, RepositorySpec } from './resources';
import type { ReplicationPosition } from './replication-position';
import type { ServerFlavor } from './server-flavor';
import type { BinaryLogState } from './tool-commands';

/**
 * What a backup session's activities hand back to the workflow, and the snapshot's manifest the
 * workflow builds from them (`buildManifest`). They cross Temporal as JSON and stay in
 * histories: a field may be added, optional, but not renamed or removed. Types only are
 * imported here: the workflow bundle takes this module, and the resource schemas import
 * node:path, which the bundle refuses.
 */

/** The server a session backs up from: the Target itself, or the Galera node chosen as donor. */
export interface BackupSource {
  host?: string;
  port: number;
  socket?: string;
  /** For physical backups: the data directory of this node as the worker sees it. */
  datadir?: string;
  address: string;
}

/** What preflightTarget read of the server before the backup tool starts. */
export interface PreflightResult {
  /** The configuration and repository specs as the resource schemas read them, defaults applied: what the session runs with. */
  configuration: BackupConfigurationSpec;
  repository: RepositorySpec;
  engine: Engine;
  flavor: ServerFlavor;
  version: string;
  serverId: number;
  /** The source's binary log, which decides whether the dump records a replication position. */
  binaryLog: BinaryLogState;
  databases: string[];
  source: BackupSource;
  /** The donor and its position read here, before the backup tool starts: the manifest's lower bound. */
  galera?: { node: string; clusterStateUuid: string; lastCommitted: number; reason: string };
}

/** A Galera node's position in its cluster's history. */
export interface GaleraPosition {
  clusterStateUuid: string;
  lastCommitted: number;
}

/** What dumpToRepository stored: the data object, and what the manifest records of the dump. */
export interface DumpResult {
  file: string;
  storedBytes: number;
  rawBytes: number;
  sha256: string;
  startedAt: string;
  completedAt: string;
  tools: { dump: string; compressor?: string };
  dbkeepVersion: string;
  encryption?: { method: 'age'; recipients: string[] };
  /** For a Galera target: the source node's position right after the backup tool exited, when it could be read. */
  galera?: GaleraPosition;
  /** Where the logical snapshot stands in the source's binary log, as the dump's header says. */
  replication?: ReplicationPosition;
  /** The stored fingerprint of the dump, when one was recorded. */
  fingerprint?: { file: string; sha256: string };
}

/**
 * A backup's manifest (domain/manifest.ts), from what its preflight read and its dump stored: a
 * pure function of them that the backup workflow calls, whose times are the dump's own, never a
 * clock's. The method and compression are the configuration's as the preflight parsed it.
 */
export function buildManifest(params: {
  snapshotId: string;
  configuration: string;
  repository: string;
  target: { name: string; engine: Engine };
  preflight: PreflightResult;
  dump: DumpResult;
}): Manifest {
  const { preflight, dump } = params;
  return {
    formatVersion: 1,
    snapshotId: params.snapshotId,
    configuration: params.configuration,
    repository: params.repository,
    target: { name: params.target.name, engine: params.target.engine, address: preflight.source.address },
    server: { flavor: preflight.flavor, version: preflight.version, serverId: preflight.serverId },
    ...(dump.replication ? { replication: dump.replication } : {}),
    method: preflight.configuration.method,
    startedAt: dump.startedAt,
    completedAt: dump.completedAt,
    databases: preflight.databases,
    compression: preflight.configuration.compression,
    data: { file: dump.file, storedBytes: dump.storedBytes, rawBytes: dump.rawBytes, sha256: dump.sha256 },
    tools: dump.tools,
    dbkeepVersion: dump.dbkeepVersion,
    ...(dump.encryption ? { encryption: dump.encryption } : {}),
    ...(dump.fingerprint ? { fingerprint: dump.fingerprint } : {}),
    ...(preflight.galera
      ? {
          galera: {
            node: preflight.galera.node,
            clusterStateUuid: preflight.galera.clusterStateUuid,
            lastCommitted: preflight.galera.lastCommitted,
            // A position in another cluster history bounds nothing.
            ...(dump.galera?.clusterStateUuid === preflight.galera.clusterStateUuid
              ? { lastCommittedAtEnd: dump.galera.lastCommitted }
              : {}),
          },
        }
      : {}),
  };
}
