import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Agent } from 'node:https';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { findFreePorts } from './free-port';
import { startManagedProcess } from '../pipeline/managed-process';
import { startOnFreePorts, startReady } from './start-on-free-ports';
import { minioPath } from './tool-paths';

export interface MinioOptions {
  /** Holds the data, certs and log; created when missing. */
  dir: string;
  port?: number;
  consolePort?: number;
  accessKey: string;
  secretKey: string;
  detached?: boolean;
  /**
   * MinIO serves TLS when this holds public.crt and private.key, and the endpoint is then https.
   * Defaults to an empty dir/certs, so MinIO serves plain HTTP whatever ~/.minio/certs holds.
   */
  certsDir?: string;
}

export interface MinioServer {
  /** http://127.0.0.1:port, or https:// when certsDir holds a certificate. */
  endpoint: string;
  port: number;
  pid: number;
  logFile: string;
  dataDir: string;
  stop(): Promise<void>;
  kill(): void;
}

const READY_TIMEOUT_MS = 30_000;

export async function startMinio(options: MinioOptions): Promise<MinioServer> {
  const dataDir = join(options.dir, 'data');
  const certsDir = options.certsDir ?? join(options.dir, 'certs');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(certsDir, { recursive: true });
  const certificate = join(certsDir, 'public.crt');
  const ca = existsSync(certificate) ? readFileSync(certificate) : undefined;
  const { server, port, endpoint } = await startOnFreePorts(async () => {
    // Found together, so they differ: found one after another, a port just let go can come back.
    const free = await findFreePorts(2);
    const port = options.port ?? free[0]!;
    const consolePort = options.consolePort ?? free.find((candidate) => candidate !== port)!;
    const endpoint = `${ca === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
    const child = startManagedProcess({
      command: minioPath(),
      // --anonymous keeps the root user out of the startup banner and so out of the log.
      args: [
        'server',
        '--anonymous',
        '--address',
        `127.0.0.1:${port}`,
        '--console-address',
        `127.0.0.1:${consolePort}`,
        '--certs-dir',
        certsDir,
        dataDir,
      ],
      env: {
        ...process.env,
        MINIO_ROOT_USER: options.accessKey,
        MINIO_ROOT_PASSWORD: options.secretKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
      },
      logFile: join(options.dir, 'minio.log'),
      detached: options.detached,
    });
    await startReady(child, () => isLive(endpoint, ca), { timeoutMs: READY_TIMEOUT_MS, what: `MinIO on ${endpoint}` });
    return { server: child, port, endpoint };
  });
  return {
    endpoint,
    port,
    pid: server.pid,
    logFile: server.logFile,
    dataDir,
    stop: () => server.stop(),
    kill: () => server.kill(),
  };
}

/**
 * An S3 client of a MinIO started here, for harnesses that create buckets or look at objects.
 * `ca`: the certificate of a MinIO serving TLS with a self-signed one. The caller destroys it.
 */
export function minioClient(endpoint: string, accessKey: string, secretKey: string, ca?: Buffer): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    ...(ca ? { requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca }) }) } : {}),
  });
}

/** Creates the bucket unless this account already owns it. */
export async function createBucket(endpoint: string, accessKey: string, secretKey: string, bucket: string, ca?: Buffer): Promise<void> {
  const s3 = minioClient(endpoint, accessKey, secretKey, ca);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if (!(error instanceof Error && error.name === 'BucketAlreadyOwnedByYou')) throw error;
  } finally {
    s3.destroy();
  }
}

function isLive(endpoint: string, ca: Buffer | undefined): Promise<boolean> {
  const url = `${endpoint}/minio/health/live`;
  return new Promise((resolve, reject) => {
    const onResponse = (response: { statusCode?: number; resume(): void }) => {
      response.resume();
      resolve(response.statusCode === 200);
    };
    const request = ca === undefined ? httpRequest(url, onResponse) : httpsRequest(url, { ca }, onResponse);
    request.setTimeout(2_000, () => request.destroy(new Error(`no answer from ${url} within 2 s`)));
    request.once('error', reject);
    request.end();
  });
}
