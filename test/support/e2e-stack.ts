import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import { createConnection, type Connection as MysqlConnection, type RowDataPacket } from 'mysql2/promise';
import { stringify } from 'yaml';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { parseResourceSet, resolveBackupConfiguration, resolveTarget, type ResourceSet } from '../../domain/resource-set';
import { API_VERSION } from '../../domain/resources';
import { fingerprintDatabase, type DatabaseFingerprint } from '../../stack/database-fingerprint';
import { startMariaDbInstance, type MariaDbInstance, type MariaDbInstanceOptions } from '../../stack/mariadb-instance';
import { createBucket, minioClient, startMinio, type MinioServer } from '../../stack/minio-server';
import { startPushgateway, type PushgatewayServer } from '../../stack/pushgateway';
import { createLoopbackCertificate } from '../../stack/self-signed-certificate';
import { startTemporalDevServer, type TemporalDevServer } from '../../stack/temporal-dev-server';
import { createActivities, type ActivityDeps } from '../../activities';
import { createDbkeepWorker, workflowsPath } from '../../workers/dbkeep-worker';
import { localReplicaWorkers } from '../../workers/run-worker';

/**
 * The real stack an end-to-end test file runs against: a Temporal dev server, a MinIO with
 * a bucket, a Pushgateway, an in-process dbkeep worker on the bundled workflows, and MariaDB instances on
 * demand. Secrets are references: the S3 access key and database passwords in 0600 files,
 * the S3 secret key in an environment variable of this (the worker's) process.
 */
export interface E2eStack {
  dir: string;
  temporal: TemporalDevServer;
  minio: MinioServer;
  /** Where the worker pushes session metrics. */
  pushgateway: PushgatewayServer;
  bucket: string;
  s3: S3Client;
  s3SecretKey: string;
  client: DbkeepClient;
  taskQueue: string;
  /** Every password a MariaDB instance of this stack was given, for leak checks. */
  passwords: string[];
  /** A new MariaDB 10.11 instance; extraArgs go to mariadbd (e.g. ['--log-bin=binlog']). */
  startMariaDb(options?: Pick<MariaDbInstanceOptions, 'extraArgs'>): Promise<MariaDbInstance>;
  /** A new instance of any release (MySQL 9.7, MariaDB 11.8, …); the worker runs whatever tools PATH gives it. */
  startDatabase(options?: Pick<MariaDbInstanceOptions, 'extraArgs' | 'release' | 'gtid' | 'tls'>): Promise<MariaDbInstance>;
  /** Repository "repo" on the bucket, plus the given extra YAML documents, parsed as one set. */
  resources(...documents: object[]): ResourceSet;
  /** The same documents as multi-document YAML text, as a user would write them. */
  resourcesYaml(...documents: object[]): string;
  targetDocument(name: string, instance: MariaDbInstance, password?: string): object;
  /** Another Repository on the same bucket, with extra s3 fields (e.g. sse). */
  repositoryDocument(name: string, s3Extra: Record<string, unknown>): object;
  listKeys(prefix?: string): Promise<string[]>;
  listIncompleteUploads(): Promise<number>;
  stop(): Promise<void>;
}

const S3_SECRET_ENV = 'DBKEEP_E2E_S3_SECRET_KEY';

/**
 * Restores a snapshot of `configuration` into the Target `target` describes (a document from
 * targetDocument, changed as a test needs), not overwriting, and returns the session's result.
 */
export async function restoreSnapshotInto(stack: E2eStack, configuration: string, snapshotId: string, target: object): Promise<unknown> {
  const name = (target as { metadata: { name: string } }).metadata.name;
  const resources = stack.resources(target, configurationDocument(configuration, { target: name }));
  const handle = await stack.client.restore({
    repository: resolveBackupConfiguration(resources, configuration).repository,
    configuration,
    target: resolveTarget(resources, name),
    selector: { snapshotId },
    overwrite: false,
  });
  return handle.result();
}

export function configurationDocument(name: string, spec: Record<string, unknown>): object {
  return { apiVersion: API_VERSION, kind: 'BackupConfiguration', metadata: { name }, spec: { repository: 'repo', ...spec } };
}

export async function rootConnection(instance: MariaDbInstance): Promise<MysqlConnection> {
  return createConnection({ socketPath: instance.socket, user: 'root', password: instance.rootPassword, multipleStatements: true });
}

/** One statement's rows, run as root over the instance's socket. */
export async function rootQuery(instance: MariaDbInstance, sql: string): Promise<RowDataPacket[]> {
  const connection = await rootConnection(instance);
  try {
    const [rows] = await connection.query<RowDataPacket[]>(sql);
    return rows;
  } finally {
    await connection.end();
  }
}

/** Each database's fingerprint on the instance (tables' checksums and definitions), over one root connection. */
export async function fingerprintDatabases(
  instance: MariaDbInstance,
  databases: readonly string[],
): Promise<Record<string, DatabaseFingerprint>> {
  const connection = await rootConnection(instance);
  try {
    const result: Record<string, DatabaseFingerprint> = {};
    for (const database of databases) result[database] = await fingerprintDatabase(connection, database);
    return result;
  } finally {
    await connection.end();
  }
}

let runtimeInstalled = false;

export async function startE2eStack(
  options: { payloadCodec?: PayloadCodec; tls?: boolean; openStorage?: ActivityDeps['openStorage'] } = {},
): Promise<E2eStack> {
  if (!runtimeInstalled) {
    // The worker's own info logs would drown the test output; warnings and errors still show.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-e2e-'));
  const stopping: Array<() => Promise<void>> = [];
  let histories: Client | undefined;
  const stop = async () => {
    // Read before the servers stop: every session the file ran completed without a failed workflow task.
    const failed = histories
      ? await failedWorkflowTasks(histories).catch((error: unknown) => [`(histories not read: ${String(error)})`])
      : [];
    for (const step of stopping.reverse()) await step().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (failed.length > 0) throw new Error(`workflow tasks failed in ${failed.length} histories:\n${failed.join('\n')}`);
  };
  try {
    const temporal = await startTemporalDevServer({ dir: path.join(dir, 'temporal') });
    stopping.push(() => temporal.stop());

    const accessKey = `e2e-${randomBytes(4).toString('hex')}`;
    const s3SecretKey = randomBytes(24).toString('base64url');
    const certsDir = path.join(dir, 'minio-certs');
    const tls = options.tls ? await createLoopbackCertificate(certsDir) : undefined;
    const ca = tls ? readFileSync(tls.certificate) : undefined;
    const minio = await startMinio({ dir: path.join(dir, 'minio'), accessKey, secretKey: s3SecretKey, ...(tls ? { certsDir } : {}) });
    stopping.push(() => minio.stop());
    const bucket = 'backups';
    await createBucket(minio.endpoint, accessKey, s3SecretKey, bucket, ca);
    const s3 = minioClient(minio.endpoint, accessKey, s3SecretKey, ca);
    stopping.push(async () => s3.destroy());
    const accessKeyFile = path.join(dir, 's3-access-key');
    writeFileSync(accessKeyFile, accessKey, { mode: 0o600 });
    process.env[S3_SECRET_ENV] = s3SecretKey;

    const pushgateway = await startPushgateway({ dir: path.join(dir, 'pushgateway') });
    stopping.push(() => pushgateway.stop());

    const taskQueue = `e2e-${randomBytes(4).toString('hex')}`;
    const connection = await NativeConnection.connect({ address: temporal.address });
    stopping.push(() => connection.close());
    const worker: Worker = await createDbkeepWorker({
      connection,
      namespace: temporal.namespace,
      taskQueue,
      activities: createActivities({
        ...(options.openStorage ? { openStorage: options.openStorage } : {}),
        pushgatewayUrl: pushgateway.url,
        replicaWorkers: localReplicaWorkers({ address: temporal.address, namespace: temporal.namespace, taskQueue }),
      }),
      payloadCodec: options.payloadCodec,
      workflowBundle: await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') }),
    });
    const running = worker.run();
    stopping.push(async () => {
      worker.shutdown();
      await running;
    });

    histories = new Client({
      connection: await Connection.connect({ address: temporal.address }),
      namespace: temporal.namespace,
      dataConverter: options.payloadCodec ? { payloadCodecs: [options.payloadCodec] } : undefined,
    });
    const historyConnection = histories.connection;
    stopping.push(() => historyConnection.close());
    const client = new DbkeepClient(
      new Client({
        connection: await Connection.connect({ address: temporal.address }),
        namespace: temporal.namespace,
        dataConverter: options.payloadCodec ? { payloadCodecs: [options.payloadCodec] } : undefined,
      }),
      taskQueue,
    );
    stopping.push(() => client.close());

    const passwords: string[] = [];
    const startDatabase = async (options: Pick<MariaDbInstanceOptions, 'extraArgs' | 'release' | 'gtid' | 'tls'> = {}) => {
      const rootPassword = `pw-${randomBytes(9).toString('base64url')}`;
      passwords.push(rootPassword);
      const instance = await startMariaDbInstance({ dir: mkdtempSync(path.join(dir, 'mdb-')), rootPassword, ...options });
      stopping.push(() => instance.stop());
      return instance;
    };
    const repository = {
      apiVersion: API_VERSION,
      kind: 'Repository',
      metadata: { name: 'repo' },
      spec: {
        s3: {
          endpoint: minio.endpoint,
          bucket,
          prefix: 'dbkeep',
          forcePathStyle: true,
          ...(tls ? { tls: { caFile: tls.certificate } } : {}),
          credentials: { accessKeyId: { file: accessKeyFile }, secretAccessKey: { env: S3_SECRET_ENV } },
        },
      },
    };
    const resourcesYaml = (documents: object[]) => [repository, ...documents].map((d) => stringify(d)).join('---\n');

    return {
      dir,
      temporal,
      minio,
      pushgateway,
      bucket,
      s3,
      s3SecretKey,
      client,
      taskQueue,
      passwords,
      startMariaDb: (options = {}) => startDatabase(options),
      startDatabase,
      resources(...documents) {
        return parseResourceSet([{ file: 'e2e.yaml', text: resourcesYaml(documents) }]);
      },
      resourcesYaml(...documents) {
        return resourcesYaml(documents);
      },
      repositoryDocument(name, s3Extra) {
        return { ...repository, metadata: { name }, spec: { s3: { ...repository.spec.s3, ...s3Extra } } };
      },
      targetDocument(name, instance, password = instance.rootPassword) {
        const passwordFile = path.join(dir, `${name}-${randomBytes(3).toString('hex')}.password`);
        writeFileSync(passwordFile, password, { mode: 0o600 });
        return {
          apiVersion: API_VERSION,
          kind: 'Target',
          metadata: { name },
          spec: { engine: instance.engine, host: instance.host, port: instance.port, user: 'root', password: { file: passwordFile } },
        };
      },
      async listKeys(prefix = '') {
        const keys: string[] = [];
        let token: string | undefined;
        do {
          const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `dbkeep/${prefix}`, ContinuationToken: token }));
          keys.push(...(page.Contents ?? []).map((o) => o.Key!.slice('dbkeep/'.length)));
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return keys.sort();
      },
      async listIncompleteUploads() {
        // MinIO answers ListMultipartUploads with a prefix only for an exact key: list the whole bucket.
        const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
        return (uploads.Uploads ?? []).length;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The sessions users start, whose histories must stay clean. */
/**
 * `workflowId: cause` for every workflow task that failed in any history the file's server holds:
 * sessions, their backup locks, drills, notifications, archives and repository queries. A
 * workflow task of dbkeep's never fails: a failed one is a nondeterminism, an unhandled command
 * or a bug in workflow code, even when a retry of the task got the workflow through. A failed
 * task is reported with the event types around it: what arrived while it completed.
 */
async function failedWorkflowTasks(client: Client): Promise<string[]> {
  const failed: string[] = [];
  for await (const execution of client.workflow.list()) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const events = history.events ?? [];
    events.forEach((event, index) => {
      const attributes = event.workflowTaskFailedEventAttributes;
      if (attributes) {
        const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[attributes.cause ?? 0] ?? String(attributes.cause);
        // The events around it say which one arrived while the task completed.
        const around = events
          .slice(Math.max(0, index - 8), index + 5)
          .map((e) => `${e.eventId}:${temporal.api.enums.v1.EventType[e.eventType ?? 0]}`)
          .join(' ');
        failed.push(`${execution.workflowId}: ${cause} ${attributes.failure?.message ?? ''} [${around}]`.trim());
      }
    });
  }
  return failed;
}

/**
 * Every event of every workflow the namespace holds, as one JSON string (for leak checks).
 * Payload bytes are decoded to UTF-8 text: serialized as they come, they are base64, in
 * which no secret could ever be found.
 */
export async function allHistoriesJson(stack: E2eStack): Promise<{ workflows: number; json: string }> {
  const histories: unknown[] = [];
  for await (const execution of stack.client.temporal.workflow.list()) {
    const history = await stack.client.temporal.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    histories.push(history);
  }
  const decoded: string[] = [];
  const raw = JSON.stringify(histories, (key, value: unknown) => {
    if (key === 'data' && typeof value === 'string') decoded.push(Buffer.from(value, 'base64').toString('utf8'));
    return value;
  });
  return { workflows: histories.length, json: `${raw}\n${decoded.join('\n')}` };
}
