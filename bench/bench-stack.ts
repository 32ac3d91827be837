import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { stringify } from 'yaml';
import type { DbkeepClient } from '../clients/dbkeep-client';
import { parseResourceSet, type ResourceSet } from '../domain/resource-set';
import { API_VERSION } from '../domain/resources';
import { workerIsPolling } from '../workers/worker-processes';
import { startDatabaseInstance, type DatabaseInstance, type DatabaseRelease } from '../stack/database-instance';
import { startManagedProcess, type ManagedProcess } from '../pipeline/managed-process';
import { createBucket, startMinio, type MinioServer } from '../stack/minio-server';
import { projectRoot } from '../pipeline/project-root';
import { createLoopbackCertificate } from '../stack/self-signed-certificate';
import { startTemporalDevServer, type TemporalDevServer } from '../stack/temporal-dev-server';
import type { CleanupStack } from './cleanup-stack';
import { generateSyntheticDatabase, type SyntheticDatabasePlan } from './synthetic-database';
import { WORKER_NODE_FLAGS } from '../domain/worker-node-flags';

/**
 * The benchmark's own stack, all on 127.0.0.1 under one temp dir and nothing detached: an
 * in-memory Temporal dev server, a MinIO with one bucket served over TLS (as S3 is), a database
 * server (MariaDB 10.11 unless told otherwise), a directory for a filesystem repository, and the
 * dbkeep worker as a separate process, so its /proc entry holds the worker's memory and nothing
 * else.
 */
export const BENCH_BUCKET = 'dbkeep-bench';
/** The Repository resources every benchmark's resource set holds. */
export const BENCH_REPOSITORIES = { minio: 'bench-minio', filesystem: 'bench-filesystem' } as const;
export const BENCH_TARGET = 'bench-db';
// The first start bundles the workflow code with webpack, which takes a while on 2 cores.
const WORKER_READY_TIMEOUT_MS = 120_000;
// The worker's shutdown grace time is 20 s; past that it is killed anyway.
const WORKER_STOP_TIMEOUT_MS = 30_000;

export interface BenchServices {
  temporal: TemporalDevServer;
  minio: MinioServer;
  /** The self-signed certificate MinIO serves, which the S3 Repository names as its CA. */
  minioCertificate: string;
  database: DatabaseInstance;
  /** The directory of the filesystem repository (Repository `filesystem: { path }`). */
  filesystemRepository: string;
  /** 0600 files the resources reference, as a user's would: values never enter Temporal. */
  secretFiles: { accessKey: string; secretKey: string; databasePassword: string };
}

/** A random secret written to a 0600 file; returns the value for the server that needs it at start. */
function writeSecretFile(file: string, value: string): string {
  writeFileSync(file, value, { mode: 0o600 });
  return value;
}

export async function startBenchServices(
  dir: string,
  cleanup: CleanupStack,
  serverArgs: string[] = [],
  release: DatabaseRelease = 'mariadb-10.11',
): Promise<BenchServices> {
  const temporal = await startTemporalDevServer({ dir: path.join(dir, 'temporal') });
  cleanup.defer('stop Temporal dev server', () => temporal.stop());

  const secretFiles = {
    accessKey: path.join(dir, 'minio-access-key'),
    secretKey: path.join(dir, 'minio-secret-key'),
    databasePassword: path.join(dir, 'database-password'),
  };
  const accessKey = writeSecretFile(secretFiles.accessKey, `bench-${randomBytes(4).toString('hex')}`);
  const secretKey = writeSecretFile(secretFiles.secretKey, randomBytes(24).toString('base64url'));
  // TLS as every S3 endpoint in production has it; dbkeep then sends unsigned payloads
  // (storage/s3-storage.ts), which it does not over plain HTTP.
  const certsDir = path.join(dir, 'minio-certs');
  const { certificate: minioCertificate } = await createLoopbackCertificate(certsDir);
  const minio = await startMinio({ dir: path.join(dir, 'minio'), accessKey, secretKey, certsDir });
  cleanup.defer('stop MinIO', () => minio.stop());
  await createBucket(minio.endpoint, accessKey, secretKey, BENCH_BUCKET, readFileSync(minioCertificate));

  const database = await startBenchDatabase(path.join(dir, 'database'), secretFiles.databasePassword, cleanup, serverArgs, release);

  const filesystemRepository = path.join(dir, 'repository');
  mkdirSync(filesystemRepository);

  return { temporal, minio, minioCertificate, database, filesystemRepository, secretFiles };
}

/**
 * The benchmark's database server in dir (MariaDB 10.11 unless `release` says otherwise; default
 * settings, plus `extraArgs`), root's random password in a 0600 file as a Target references it.
 */
export async function startBenchDatabase(
  dir: string,
  passwordFile: string,
  cleanup: CleanupStack,
  extraArgs: string[] = [],
  release: DatabaseRelease = 'mariadb-10.11',
): Promise<DatabaseInstance> {
  const rootPassword = writeSecretFile(passwordFile, randomBytes(12).toString('base64url'));
  const database = await startDatabaseInstance({ dir, rootPassword, extraArgs, release });
  cleanup.defer(`stop ${release}`, () => database.stop());
  return database;
}

/** Generates the data over the socket as root; returns how long it took and the server version for the report. */
export async function generateBenchDatabase(
  { database }: Pick<BenchServices, 'database'>,
  plan: SyntheticDatabasePlan,
): Promise<{ seconds: number; server: string }> {
  const connection = await createConnection({ socketPath: database.socket, user: 'root', password: database.rootPassword });
  try {
    const started = performance.now();
    await generateSyntheticDatabase(connection, plan);
    const seconds = (performance.now() - started) / 1000;
    const [[row]] = await connection.query<RowDataPacket[]>('SELECT VERSION() AS version');
    return { seconds, server: `${database.engine === 'mysql' ? 'MySQL' : 'MariaDB'} ${String(row?.version)}` };
  } finally {
    await connection.end();
  }
}

/** A BackupConfiguration of one database of the bench MariaDB into one of the bench repositories. */
export type BenchConfiguration =
  | {
      name: string;
      repository: keyof typeof BENCH_REPOSITORIES;
      database: string;
      method?: 'logical';
      /** spec.verification: the backup records a restore drill's fingerprint. */
      verification?: boolean;
    }
  /** The whole data directory (the target's datadir), with mariadb-backup. */
  | { name: string; repository: keyof typeof BENCH_REPOSITORIES; method: 'physical' };

/** The Target a user would write for the bench server: root over TCP, the password by reference. */
export function benchTargetSpec(database: DatabaseInstance, passwordFile: string) {
  return {
    engine: database.engine,
    host: database.host,
    port: database.port,
    user: 'root',
    password: { file: passwordFile },
    datadir: database.datadir,
  } as const;
}

/** A Target document for a bench server: root over TCP, its password by reference. */
export function benchTargetDocument(name: string, instance: DatabaseInstance, passwordFile: string): object {
  return { apiVersion: API_VERSION, kind: 'Target', metadata: { name }, spec: benchTargetSpec(instance, passwordFile) };
}

/** The two Repository documents (MinIO and filesystem) every benchmark's resource set holds. */
export function benchRepositoryDocuments(
  services: Pick<BenchServices, 'minio' | 'minioCertificate' | 'filesystemRepository' | 'secretFiles'>,
): object[] {
  return [
    {
      apiVersion: API_VERSION,
      kind: 'Repository',
      metadata: { name: BENCH_REPOSITORIES.minio },
      spec: {
        s3: {
          endpoint: services.minio.endpoint,
          bucket: BENCH_BUCKET,
          forcePathStyle: true,
          tls: { caFile: services.minioCertificate },
          credentials: {
            accessKeyId: { file: services.secretFiles.accessKey },
            secretAccessKey: { file: services.secretFiles.secretKey },
          },
        },
      },
    },
    {
      apiVersion: API_VERSION,
      kind: 'Repository',
      metadata: { name: BENCH_REPOSITORIES.filesystem },
      spec: { filesystem: { path: services.filesystemRepository } },
    },
  ];
}

/** Documents as a user's -f files hold them, parsed by the same code as the CLI's. */
export function parseBenchDocuments(documents: readonly object[]): ResourceSet {
  const text = documents.map((document) => stringify(document)).join('---\n');
  return parseResourceSet([{ file: '<bench resources>', text }]);
}

/**
 * The resources a user would write for these backups (both repositories, the target, one
 * BackupConfiguration each), parsed by the same code as the CLI's -f files.
 */
export function benchResources(services: BenchServices, configurations: readonly BenchConfiguration[]): ResourceSet {
  return parseBenchDocuments([
    ...benchRepositoryDocuments(services),
    benchTargetDocument(BENCH_TARGET, services.database, services.secretFiles.databasePassword),
    ...configurations.map((configuration) => ({
      apiVersion: API_VERSION,
      kind: 'BackupConfiguration',
      metadata: { name: configuration.name },
      spec: {
        target: BENCH_TARGET,
        repository: BENCH_REPOSITORIES[configuration.repository],
        ...(configuration.method === 'physical'
          ? { method: 'physical' }
          : { databases: [configuration.database], ...(configuration.verification ? { verification: {} } : {}) }),
      },
    })),
  ]);
}

/**
 * `node bin/dbkeep.js worker`, the built CLI as users run it. Its cwd is the temp dir so a
 * `dbkeep dev up` stack in the project cannot be picked up; the flags name everything anyway.
 */
export async function startWorkerProcess(
  dir: string,
  temporal: TemporalDevServer,
  client: DbkeepClient,
  cleanup: CleanupStack,
): Promise<ManagedProcess> {
  const worker = startManagedProcess({
    command: process.execPath,
    args: [
      ...WORKER_NODE_FLAGS,
      // More of Node's own flags for the worker, e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it (not allowed in NODE_OPTIONS).
      ...(process.env.DBKEEP_BENCH_WORKER_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
      path.join(projectRoot(), 'bin', 'dbkeep.js'),
      'worker',
      '--address',
      temporal.address,
      '--namespace',
      temporal.namespace,
      '--task-queue',
      client.taskQueue,
    ],
    logFile: path.join(dir, 'worker.log'),
    cwd: dir,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  cleanup.defer('stop dbkeep worker', () => worker.stop('SIGTERM', WORKER_STOP_TIMEOUT_MS));
  await worker.waitUntil(() => workerIsPolling(temporal.address, temporal.namespace, client.taskQueue, worker.pid), {
    timeoutMs: WORKER_READY_TIMEOUT_MS,
    what: `dbkeep worker polling ${client.taskQueue} on ${temporal.address}`,
    intervalMs: 500,
  });
  return worker;
}
