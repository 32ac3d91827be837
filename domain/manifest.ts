import { z } from 'zod';
import { formatZodIssues } from './resource-set';
import { BACKUP_METHODS, COMPRESSION_ALGORITHMS, ENGINES } from './resources';
import { snapshotIdSchema } from './names';
import { replicationPositionSchema } from './replication-position';

/**
 * The manifest is the commit record of a snapshot: written only after its data object is
 * complete, it is what listing and restore read. Its JSON is meant to stay readable by
 * people and tools without dbkeep (see "Restore without dbkeep" in the README). A backup
 * session builds it with buildManifest (domain/backup-results.ts).
 */
export const MANIFEST_FORMAT_VERSION = 1;

export const manifestSchema = z.object({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  snapshotId: snapshotIdSchema,
  configuration: z.string().min(1),
  repository: z.string().min(1),
  target: z.object({
    name: z.string().min(1),
    engine: z.enum(ENGINES),
    /** host:port or socket path, for people reading the manifest; restore never uses it. */
    address: z.string(),
  }),
  server: z.object({
    /** Absent in manifests of earlier versions: serverIdentity(version) tells it from the version. */
    flavor: z.enum(['mariadb', 'mysql']).optional(),
    version: z.string(),
    serverId: z.number().int().nonnegative(),
  }),
  /** Logical snapshots of a server with a binary log: where the snapshot stands in its history. */
  replication: replicationPositionSchema.optional(),
  /** A restore checks it: a logical restore of a physical snapshot (or the reverse) is refused. */
  method: z.enum(BACKUP_METHODS),
  /** When the dump started: the consistent point of a --single-transaction dump. */
  startedAt: z.iso.datetime(),
  completedAt: z.iso.datetime(),
  databases: z.array(z.string()).min(1),
  compression: z.object({
    algorithm: z.enum(COMPRESSION_ALGORITHMS),
    level: z.number().int().optional(),
  }),
  data: z.object({
    /** File name inside the snapshot's folder. */
    file: z.string().regex(/^[A-Za-z0-9._-]+$/),
    /** Bytes as stored (after compression). */
    storedBytes: z.number().int().nonnegative(),
    /** Bytes of SQL the dump tool wrote (before compression). */
    rawBytes: z.number().int().nonnegative(),
    /** SHA-256 of the stored bytes, lowercase hex. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  tools: z.object({
    /** `--version` of the tool that produced the data: mariadb-dump, mysqldump, mariadb-backup or xtrabackup. */
    dump: z.string(),
    compressor: z.string().optional(),
  }),
  /** Present when the stored object is age-encrypted: restores need the identity of one of these recipients. */
  encryption: z.object({ method: z.literal('age'), recipients: z.array(z.string()).min(1) }).optional(),
  /**
   * For a Galera cluster: the node the backup was taken from and its position in the cluster's
   * history. The backup tool's consistent point cannot be asked for from outside its own session
   * (a --single-transaction snapshot is taken on mariadb-dump's connection, and
   * wsrep_last_committed is not part of any snapshot), so dbkeep records two bounds of it, read
   * on the same node: every transaction up to `lastCommitted` is in the snapshot, none after
   * `lastCommittedAtEnd`. For a physical backup the exact position is in the stream itself:
   * mariadb-backup --galera-info writes `xtrabackup_galera_info` (`uuid:seqno`) while commits are
   * blocked, and that file is the authoritative one.
   */
  galera: z
    .object({
      node: z.string(),
      /** wsrep_cluster_state_uuid: which history the positions count in. */
      clusterStateUuid: z.string(),
      /** wsrep_last_committed read just before the backup tool started: a lower bound. */
      lastCommitted: z.number().int(),
      /**
       * wsrep_last_committed read right after the backup tool exited: an upper bound. Absent in
       * manifests of earlier versions, and when the node could not be asked then or had moved to
       * another cluster state UUID.
       */
      lastCommittedAtEnd: z.number().int().optional(),
    })
    .optional(),
  /**
   * A logical snapshot of a configuration with spec.verification: the dump's fingerprint
   * (domain/dump-fingerprint.ts), stored beside the data (age-encrypted when the data is), which
   * a restore drill compares the restored copy with.
   */
  fingerprint: z
    .object({
      file: z.string().regex(/^[A-Za-z0-9._-]+$/),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    })
    .optional(),
  dbkeepVersion: z.string(),
});

export type Manifest = z.infer<typeof manifestSchema>;

export type ManifestParseResult = { ok: true; manifest: Manifest } | { ok: false; reason: string };

/** Never throws: a damaged manifest is reported by listing, not fatal to it. */
export function parseManifest(text: string): ManifestParseResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `manifest is not JSON: ${(err as Error).message}` };
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: `manifest is invalid: ${formatZodIssues(parsed.error.issues)}` };
  return { ok: true, manifest: parsed.data };
}

export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}
