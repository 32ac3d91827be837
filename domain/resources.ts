import path from 'node:path';
import { z } from 'zod';
import {
  kubernetesNamespaceSchema,
  kubernetesObjectNameSchema,
  kubernetesPortNameSchema,
  kubernetesServiceNameSchema,
} from './kubernetes-names';
import { resourceNameSchema, snapshotIdSchema } from './names';
import { secretRefSchema } from './secret-ref';
import { missingCaProblem, requiresTls, targetTlsSchema } from './target-tls';
import { cronExpressionProblem, isKnownTimeZone } from './cron-expression';
import { durationSchema } from './duration-schema';
import { pointInTimeTargetSchema } from './point-in-time-target';
import { parseDurationMs } from './duration';
import { retentionPolicySchema } from './retention-policy';
import { addToolArgumentIssues, toolArgumentListSchema, toolArgumentsSchema } from './tool-arguments';
import { NOTIFICATION_EVENTS } from './notification-events';
import { backupHooksSchema, restoreHooksSchema } from './hooks';

/**
 * The resources users write, one zod schema each: the single source of their types,
 * defaults and error messages (mariadb-operator's `*_types.go` play the same role).
 * `apiVersion: dbkeep.io/v1alpha1`.
 */
export const API_VERSION = 'dbkeep.io/v1alpha1';

const metadataSchema = z.strictObject({
  name: resourceNameSchema,
  labels: z.record(z.string(), z.string()).optional(),
});

const objectKeyPrefixSchema = z
  .string()
  .max(512)
  .refine((p) => !p.startsWith('/') && !p.endsWith('/'), 'must not start or end with "/"')
  .refine(
    (p) => p.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..'),
    'must be "/"-separated segments, none of them empty, "." or ".."',
  )
  // eslint-disable-next-line no-control-regex
  .refine((p) => !/[\u0000-\u001f\u007f\\]/.test(p), 'must not contain control characters or backslashes');

const s3RepositorySchema = z.strictObject({
  /** Omit for AWS; set for MinIO and other S3-compatible servers. */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name (3-63 lowercase letters, digits, "." and "-")'),
  prefix: objectKeyPrefixSchema.optional(),
  region: z.string().min(1).default('us-east-1'),
  /** MinIO and most self-hosted servers need path-style addressing. */
  forcePathStyle: z.boolean().default(false),
  tls: z
    .strictObject({
      caFile: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
    })
    .optional(),
  /** Omit to use the default AWS credential chain (environment, web identity / IRSA, instance profile). */
  credentials: z
    .strictObject({
      accessKeyId: secretRefSchema,
      secretAccessKey: secretRefSchema,
    })
    .optional(),
  /**
   * Server-side encryption with a customer-provided key (SSE-C): the referenced secret holds
   * 32 bytes, base64-encoded. The server encrypts with it and keeps only its hash, so every
   * read needs the same key. S3 servers accept SSE-C over TLS only.
   */
  sse: z.strictObject({ customerKey: secretRefSchema }).optional(),
});

const filesystemRepositorySchema = z.strictObject({
  path: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
});

export const repositorySpecSchema = z
  .strictObject({
    s3: s3RepositorySchema.optional(),
    filesystem: filesystemRepositorySchema.optional(),
  })
  .refine((spec) => (spec.s3 === undefined) !== (spec.filesystem === undefined), {
    message: 'exactly one of s3 or filesystem must be set',
  });

export type RepositorySpec = z.infer<typeof repositorySpecSchema>;
export type S3RepositorySpec = z.infer<typeof s3RepositorySchema>;

export const ENGINES = ['mariadb', 'mysql', 'percona-xtradb'] as const;
/** Where a restore drill's scratch server runs (spec.verification.scratch). */
export const SCRATCH_PLACEMENTS = ['local', 'kubernetes'] as const;
export type ScratchPlacement = (typeof SCRATCH_PLACEMENTS)[number];
export type Engine = (typeof ENGINES)[number];

const hostSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:_-]+$/, 'must be a host name or IP address');
const portSchema = z.number().int().min(1).max(65535).default(3306);
const absolutePathSchema = z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path');

/**
 * A Galera cluster (MariaDB Galera, Percona XtraDB Cluster). `host` stays the address clients
 * write to (the "primary"); physical backups prefer a synced member other than it.
 */
const galeraSchema = z.strictObject({
  /** Every node a backup may be taken from, the primary included or not. */
  members: z
    .array(
      z.strictObject({
        host: hostSchema,
        port: portSchema,
        /** This node's data directory as the worker sees it, for physical backups taken from it. */
        datadir: absolutePathSchema.optional(),
      }),
    )
    .max(32)
    .default([]),
  /**
   * Leave mysql.global_priv out of logical dumps (mariadb-operator's default): restoring it
   * into a running cluster would overwrite the users of the cluster it lands in.
   */
  ignoreGlobalPriv: z.boolean().default(true),
});

/**
 * A Kubernetes Service in front of the database. The worker connects to its ready endpoints
 * (EndpointSlices), not to its cluster DNS name: see activities/target-endpoint.ts.
 */
const targetServiceSchema = z.strictObject({
  name: kubernetesServiceNameSchema,
  /** The worker's own namespace when absent, as for secretKeyRef. */
  namespace: kubernetesNamespaceSchema.optional(),
  /** The Service's port, by number or name; may be omitted when the Service has one port. */
  port: z
    .union([z.number().int().min(1).max(65535), kubernetesPortNameSchema], { error: 'must be a port number or a port name' })
    .optional(),
});

/** Stash's and KubeDB's AppBinding (appcatalog.appscode.com/v1alpha1): address and credentials Secret. */
const appBindingReferenceSchema = z.strictObject({
  name: kubernetesObjectNameSchema,
  /** The worker's own namespace when absent. */
  namespace: kubernetesNamespaceSchema.optional(),
});

export const DEFAULT_TARGET_USER = 'root';
const TARGET_ADDRESS_FIELDS = ['host', 'socket', 'service', 'appBinding'] as const;

export const targetSpecSchema = z
  .strictObject({
    engine: z.enum(ENGINES),
    host: hostSchema.optional(),
    /** The port of `host`; a Service's or AppBinding's port comes from the Service. */
    port: portSchema,
    socket: absolutePathSchema.optional(),
    service: targetServiceSchema.optional(),
    appBinding: appBindingReferenceSchema.optional(),
    /** Default root, or with appBinding the `username` of its Secret: an explicit user wins over it. */
    user: z
      .string()
      .min(1)
      .max(80)
      // eslint-disable-next-line no-control-regex
      .refine((u) => !/[\u0000-\u001f\u007f]/.test(u), 'must not contain control characters')
      .optional(),
    /** With appBinding, default the `password` of its Secret: an explicit password wins over it. */
    password: secretRefSchema.optional(),
    /** TLS to the server, for dbkeep's connections and its tools': domain/target-tls.ts, docs/security.md. */
    tls: targetTlsSchema.optional(),
    /**
     * The server's data directory as the worker sees it. Physical backups read it directly
     * (mariadb-backup copies files), so they need a worker beside the database with this
     * directory mounted; logical backups never use it.
     */
    datadir: absolutePathSchema.optional(),
    galera: galeraSchema.optional(),
    /** Populate this target from a snapshot before it is used (`dbkeep bootstrap`), as mariadb-operator's bootstrapFrom. */
    bootstrapFrom: z
      .strictObject({
        configuration: resourceNameSchema,
        snapshotId: snapshotIdSchema.optional(),
        targetRecoveryTime: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time such as 2026-11-21T16:00:00Z' }).optional(),
        /**
         * Recover to a point from the configuration's binary log archive: the newest snapshot
         * before it, then the archived transactions up to it (docs/point-in-time-recovery.md).
         */
        pointInTime: pointInTimeTargetSchema.optional(),
      })
      .refine(
        (b) => [b.snapshotId, b.targetRecoveryTime, b.pointInTime].filter((choice) => choice !== undefined).length <= 1,
        'set at most one of snapshotId, targetRecoveryTime and pointInTime',
      )
      .optional(),
    /** Run before and after every restore into this Target, on it (domain/hooks.ts, docs/hooks.md). */
    hooks: restoreHooksSchema.optional(),
  })
  .refine((spec) => TARGET_ADDRESS_FIELDS.filter((field) => spec[field] !== undefined).length === 1, {
    message: 'exactly one of host, socket, service or appBinding must be set',
  })
  // Without a CA of its own, a Target naming an AppBinding takes the AppBinding's caBundle (activities/target-endpoint.ts).
  .superRefine((spec, ctx) => {
    const problem = spec.tls && spec.appBinding === undefined ? missingCaProblem(spec.tls) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', path: ['tls', 'ca'], message: problem });
  })
  // The servers never speak TLS over their socket, which they count as secure already.
  .refine((spec) => spec.socket === undefined || spec.tls === undefined || !requiresTls(spec.tls.mode), {
    path: ['tls', 'mode'],
    message: 'TLS does not apply to a socket: connect by host, or leave tls out',
  })
  // The default user is applied here, except with an AppBinding, whose Secret's username is the default.
  .transform((spec) => (spec.user === undefined && spec.appBinding === undefined ? { ...spec, user: DEFAULT_TARGET_USER } : spec));

export type TargetSpec = z.infer<typeof targetSpecSchema>;

export const OVERLAP_POLICIES = ['Skip', 'BufferOne'] as const;

export const BACKUP_METHODS = ['logical', 'physical'] as const;
export type BackupMethod = (typeof BACKUP_METHODS)[number];

export const COMPRESSION_ALGORITHMS = ['zstd', 'gzip', 'bzip2', 'none'] as const;
export type CompressionAlgorithm = (typeof COMPRESSION_ALGORITHMS)[number];

const compressionObjectSchema = z.strictObject({
  algorithm: z.enum(COMPRESSION_ALGORITHMS).default('zstd'),
  /** zstd 1-19, gzip and bzip2 1-9; the tool's own default when omitted. */
  level: z.number().int().min(1).max(19).optional(),
});

/** `compression: gzip` (mariadb-operator's form) or `compression: { algorithm, level }`. */
export const compressionSchema = z
  .union([z.enum(COMPRESSION_ALGORITHMS).transform((algorithm) => ({ algorithm })), compressionObjectSchema], {
    error: `must be one of ${COMPRESSION_ALGORITHMS.join(', ')} or { algorithm, level }`,
  })
  .transform((c): { algorithm: CompressionAlgorithm; level?: number } => c)
  .refine((c) => c.algorithm === 'zstd' || c.level === undefined || c.level <= 9, {
    message: 'level above 9 is only valid for zstd',
    path: ['level'],
  });

export type CompressionSpec = z.infer<typeof compressionSchema>;

export const databaseNameSchema = z
  .string()
  .min(1)
  .max(64)
  // eslint-disable-next-line no-control-regex
  .refine((n) => !/[\u0000-\u001f\u007f/\\.]/.test(n), 'must not contain control characters, "/", "\\" or "."');

/**
 * How often the file the source is still writing is uploaded by default. 2 s keeps the archive
 * lag's p99 at 1,000 transactions/s under 5 s (`npm run bench:pitr`: 5 s gave a p99 of 5.2 s)
 * for one piece per 2 s of writes.
 */
export const DEFAULT_PITR_UPLOAD_INTERVAL = '2s';

const pointInTimeRecoverySchema = z.strictObject({
  enabled: z.boolean(),
  /**
   * Who the archiver connects as, when not the Target's user: it needs REPLICATION SLAVE (MySQL:
   * REPLICATION REPLICA) and REPLICATION CLIENT (MariaDB: BINLOG MONITOR).
   */
  replicationUser: z
    .strictObject({
      user: z
        .string()
        .min(1)
        .max(80)
        // eslint-disable-next-line no-control-regex
        .refine((u) => !/[\u0000-\u001f\u007f]/.test(u), 'must not contain control characters'),
      password: secretRefSchema,
    })
    .optional(),
  /**
   * How often the file the source is still writing is uploaded, when it has new transactions:
   * the recovery point trails the source by about this much. Finished files are uploaded at once.
   */
  uploadInterval: durationSchema
    .default(DEFAULT_PITR_UPLOAD_INTERVAL)
    .refine((text) => (parseDurationMs(text) ?? 0) >= 1000 && (parseDurationMs(text) ?? 0) <= 3_600_000, 'must be between 1s and 1h'),
});

const webhookSchema = z.strictObject({
  /** The URL, which carries a token, as a secret reference: it never travels in a workflow. */
  url: secretRefSchema,
  /** `json`: dbkeep's own body (docs/operations.md); `slack`: `{ "text": ... }`, which Slack, Mattermost and Teams' incoming webhooks take. */
  format: z.enum(['json', 'slack']).default('json'),
  events: z
    .array(z.enum(NOTIFICATION_EVENTS))
    .min(1)
    .refine((events) => new Set(events).size === events.length, 'must not list an event twice')
    .default([...NOTIFICATION_EVENTS]),
});

const notificationsSchema = z.strictObject({
  webhooks: z.array(webhookSchema).min(1).max(10),
  /**
   * How long after the last successful backup the webhooks that asked for `stale` are told, once
   * (domain/stale-watch.ts). Default: 1.5 times the schedule's longest gap between slots, as the
   * DbkeepBackupStale alert; a configuration without a schedule is watched only when it is set.
   */
  staleAfter: durationSchema.optional().refine((text) => text === undefined || (parseDurationMs(text) ?? 0) >= 1000, 'must be at least 1s'),
});

/** A five-field cron expression (domain/cron-expression.ts). */
const cronSchema = z.string().superRefine((cron, ctx) => {
  const problem = cronExpressionProblem(cron);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const timeZoneSchema = z.string().default('UTC').refine(isKnownTimeZone, 'must be an IANA time zone such as UTC or Europe/Berlin');

export const backupConfigurationSpecSchema = z
  .strictObject({
    target: resourceNameSchema,
    repository: resourceNameSchema,
    /**
     * logical: mariadb-dump/mysqldump, SQL. physical: mariadb-backup (MariaDB) or xtrabackup
     * (MySQL, Percona) streaming the data directory as xbstream; needs the target's `datadir`.
     */
    method: z.enum(BACKUP_METHODS).default('logical'),
    compression: compressionSchema.prefault({ algorithm: 'zstd' }),
    /** Omitted: every user database the server has when the session starts. */
    databases: z
      .array(databaseNameSchema)
      .min(1, 'must list at least one database, or be omitted for all of them')
      .refine((dbs) => new Set(dbs).size === dbs.length, 'must not list a database twice')
      .optional(),
    schedule: z
      .strictObject({
        cron: cronSchema,
        /** IANA name; the schedule fires at the cron's times in this zone (daylight saving included). */
        timezone: timeZoneSchema,
        /** Create the schedule paused (Stash's `paused`); `dbkeep resume` starts it. */
        suspend: z.boolean().default(false),
        /**
         * What a slot does while the previous session still runs. Skip (default): nothing, so two
         * sessions of one configuration never run at once. BufferOne: run right after it.
         */
        overlapPolicy: z.enum(OVERLAP_POLICIES).default('Skip'),
        /** How late a missed slot (server or worker down) may still run; older ones are dropped. */
        catchupWindow: durationSchema.default('10m'),
      })
      .optional(),
    /**
     * How long the dump may take, every retry included (Stash's `timeOut`). Past it the session
     * fails and says so, instead of retrying against a repository that stays unreachable.
     */
    timeout: durationSchema.default('6h'),
    /**
     * Client-side encryption with age: the stored object is `age --encrypt` to these recipients
     * (public keys, one per line, in the referenced secret), so a stolen bucket reveals nothing.
     * `identity` (the private key) is needed to restore; keep it elsewhere than the bucket.
     */
    encryption: z
      .strictObject({
        age: z.strictObject({ recipients: secretRefSchema, identity: secretRefSchema.optional() }),
      })
      .optional(),
    /** Extra options for mariadb-dump (logical) or mariadb-backup (physical), mariadb-operator's `args`. */
    args: toolArgumentListSchema.default([]),
    /** Applied after every successful backup and by `dbkeep prune`; none keeps every snapshot. */
    retention: retentionPolicySchema.optional(),
    /**
     * Continuous archiving of the Target's binary log (docs/point-in-time-recovery.md): restores
     * to any second after the oldest snapshot the archive continues. Pieces are compressed and
     * encrypted as the snapshots are.
     */
    pointInTimeRecovery: pointInTimeRecoverySchema.optional(),
    /**
     * Webhooks told of a failed backup session and of the first success after a failure
     * (docs/operations.md#notifications). Delivered by a workflow of their own, with retries:
     * a receiver that is down never fails or delays a backup.
     */
    notifications: notificationsSchema.optional(),
    /** Run on the configuration's Target before and after every backup session (domain/hooks.ts, docs/hooks.md). */
    hooks: backupHooksSchema.optional(),
    /**
     * Restore drills (docs/restore-drills.md): every logical snapshot records its dump's
     * fingerprint, and `dbkeep verify` restores one into a scratch server and compares; a
     * physical snapshot records none, and its drill starts a server on the prepared copy, checks
     * every table and reads every row.
     */
    verification: z
      .strictObject({
        /**
         * Where a logical drill's scratch server runs: `local`, a server the worker starts from its
         * own binaries; `kubernetes`, a Job of the engine's image at the snapshot's release
         * (activities/kubernetes-scratch-servers.ts, configured by the worker's DBKEEP_SCRATCH_*).
         */
        scratch: z.enum(SCRATCH_PLACEMENTS).default('local'),
        /**
         * Drill every Nth snapshot by itself: a backup session whose snapshot is the Nth in a row
         * without a drill starts one (KubeStash's BackupVerification every N sessions).
         */
        everyN: z.number().int().min(1).max(1000).optional(),
        /**
         * Drill the newest snapshot at these times too, whatever the backups do: a Temporal
         * Schedule of its own (`dbkeep-verify/<configuration>`), made by `dbkeep apply`.
         */
        schedule: z.strictObject({ cron: cronSchema, timezone: timeZoneSchema }).optional(),
      })
      .optional(),
  })
  .superRefine((spec, ctx) => {
    // Which options are refused depends on the tool, so on the method (domain/tool-arguments.ts).
    addToolArgumentIssues(ctx, spec.args, spec.method === 'physical' ? 'physical' : 'dump', ['args']);
  });

export type BackupConfigurationSpec = z.infer<typeof backupConfigurationSpecSchema>;

/** What a restore may narrow or add, mariadb-operator's Restore `database` and `args`. */
export const restoreOptionsSchema = z.strictObject({
  /** One database out of the snapshot (the client's --one-database). */
  database: databaseNameSchema.optional(),
  /** Extra options for the mariadb client. */
  args: toolArgumentsSchema('client').optional(),
  /**
   * Client sessions applying tables at the same time. 1 (default): the dump is applied as
   * `mariadb < dump` would, in one session. Above 1 the dump is first staged, cut into tables,
   * in the worker's TMPDIR (about a quarter of its uncompressed size), then the tables are
   * applied side by side; routines, events and views after them, in order (bench/README.md
   * has the gain). dbkeep's own dumps and mariadb-dump/mysqldump `--databases` dumps with
   * their comments split; any other dump is applied in one session whatever this says.
   */
  parallel: z.number().int().min(1).max(32).default(1),
});
export type ScheduleSpec = NonNullable<BackupConfigurationSpec['schedule']>;

function resourceSchema<K extends string, S extends z.ZodType>(kind: K, spec: S) {
  return z.strictObject({
    apiVersion: z.literal(API_VERSION, { error: `must be ${API_VERSION}` }),
    kind: z.literal(kind),
    metadata: metadataSchema,
    spec,
  });
}

export const repositoryResourceSchema = resourceSchema('Repository', repositorySpecSchema);
export const targetResourceSchema = resourceSchema('Target', targetSpecSchema);
export const backupConfigurationResourceSchema = resourceSchema('BackupConfiguration', backupConfigurationSpecSchema);

export type RepositoryResource = z.infer<typeof repositoryResourceSchema>;
export type TargetResource = z.infer<typeof targetResourceSchema>;
export type BackupConfigurationResource = z.infer<typeof backupConfigurationResourceSchema>;

export const resourceSchemasByKind = {
  Repository: repositoryResourceSchema,
  Target: targetResourceSchema,
  BackupConfiguration: backupConfigurationResourceSchema,
} as const;

export type ResourceKind = keyof typeof resourceSchemasByKind;
export const RESOURCE_KINDS = Object.keys(resourceSchemasByKind) as ResourceKind[];

/** What a workflow needs to know of a resource: its name and validated spec (secret references only). */
export interface Named<S> {
  name: string;
  spec: S;
}
