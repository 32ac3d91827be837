import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { BuildMiddleware, MetadataBearer } from '@smithy/types';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { isCertificateRefusal, s3CertificateRefused } from '../domain/tls-failures';
import type { S3RepositorySpec } from '../domain/resources';
import type { SecretRef } from '../domain/secret-ref';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { HttpExchange } from './http-exchange';
import { exchangeRequestHandler } from './s3-exchange-handler';
import { ObjectNotFoundError, type Storage, type StoredObject } from './storage';
import { uploadInParts } from './s3-part-upload';
import { S3_PART_SIZES } from './s3-part-sizes';

/**
 * 2 parts in flight, of the sizes in s3-part-sizes.ts (8 MiB, growing past 19.5 GiB). The upload
 * holds three part buffers (two being sent, one being filled) and copies each byte once into
 * them: a bounded amount per upload whatever the dump's size (bench/backup-memory.ts measures
 * it). Two in flight keep a link busy for the stream a single mariadb-dump | zstd produces.
 */
const PARTS_IN_FLIGHT = 2;

/** Errors no retry can fix: the user has to change credentials, bucket or policy. */
const PERMANENT_S3_ERRORS = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'NoSuchBucket',
  'InvalidBucketName',
  'AllAccessDisabled',
]);

export async function openS3Storage(spec: S3RepositorySpec, secrets: SecretResolver, repositoryName: string): Promise<Storage> {
  const credentials = spec.credentials
    ? {
        accessKeyId: await secrets.resolve(spec.credentials.accessKeyId, `Repository "${repositoryName}" accessKeyId`),
        secretAccessKey: await secrets.resolve(spec.credentials.secretAccessKey, `Repository "${repositoryName}" secretAccessKey`),
      }
    : undefined; // the SDK's default chain: environment, web identity (IRSA), instance profile
  const ca = spec.tls?.caFile ? await readFile(spec.tls.caFile) : undefined;
  const config = {
    region: spec.region,
    endpoint: spec.endpoint,
    forcePathStyle: spec.forcePathStyle,
    // Integrity is checked end to end with the manifest's SHA-256; extra CRCs cost CPU and
    // are not supported by every S3-compatible server.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  } satisfies S3ClientConfig;
  const client = new S3Client({
    ...config,
    credentials,
    requestHandler: new NodeHttpHandler({ ...connectionPool(ca), connectionTimeout: 10_000 }),
  });
  if (sendsOverTls(spec.endpoint)) client.middlewareStack.add(unsignedDataPayloads, { step: 'build', name: 'dbkeepUnsignedDataPayloads' });
  return new S3Storage(
    client,
    { ...config, caFile: spec.tls?.caFile },
    spec.bucket,
    spec.prefix,
    spec.sse ? await customerKey(spec.sse.customerKey, secrets, repositoryName) : undefined,
  );
}

/**
 * The worker's keep-alive connections to S3, one pool per CA: every activity opens its own client,
 * and with a pool of its own each left its idle connections open after it ended, until the server
 * closed them. Over TLS each such connection holds OpenSSL's buffers, several MiB after an upload:
 * the worker grew by 10-15 MiB per backup session (bench/README.md, twelfth session). Shared, the
 * next activity reuses them. A connection carries no credentials (each request is signed), so
 * repositories with different ones share it safely.
 */
const connectionPools = new Map<string, { httpAgent: http.Agent; httpsAgent: https.Agent }>();

function connectionPool(ca: Buffer | undefined): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  const key = ca ? createHash('sha256').update(ca).digest('hex') : '';
  let pool = connectionPools.get(key);
  if (!pool) {
    pool = { httpAgent: new http.Agent({ keepAlive: true }), httpsAgent: new https.Agent({ keepAlive: true, ca }) };
    connectionPools.set(key, pool);
  }
  return pool;
}

/** AWS itself (no endpoint) is reached over HTTPS. */
function sendsOverTls(endpoint: string | undefined): boolean {
  return endpoint === undefined || new URL(endpoint).protocol === 'https:';
}

/**
 * Sends data as UNSIGNED-PAYLOAD, as the AWS CLI does over HTTPS: the SDK would otherwise hash
 * every part for its signature (and the server once more to check it), a second and third pass
 * over bytes that TLS already protects on the way and the manifest's SHA-256 checks end to end.
 * Measured on 270 MB to MinIO: 0.27 s less of the worker's CPU and 0.16 s less of the server's.
 * Plain HTTP keeps signed payloads: there nothing else protects the bytes in transit.
 */
const unsignedDataPayloads: BuildMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
  const request = args.request as { headers?: Record<string, string> };
  if ((context.commandName === 'UploadPartCommand' || context.commandName === 'PutObjectCommand') && request.headers) {
    request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  }
  return next(args);
};

/** SSE-C parameters of every object read and write; the SDK adds the key's MD5. */
interface CustomerKeyParams {
  SSECustomerAlgorithm: 'AES256';
  /** base64 of the 32 key bytes: the SDK recognizes the form and sends it with its MD5. */
  SSECustomerKey: string;
}

async function customerKey(ref: SecretRef, secrets: SecretResolver, repositoryName: string): Promise<CustomerKeyParams> {
  const purpose = `Repository "${repositoryName}" spec.s3.sse.customerKey`;
  const encoded = (await secrets.resolve(ref, purpose)).trim();
  const length = Buffer.from(encoded, 'base64').length;
  if (length !== 32) {
    throw permanentFailure(
      PermanentFailureType.SecretUnavailable,
      `${purpose}: must hold 32 bytes, base64-encoded (it decodes to ${length})`,
    );
  }
  return { SSECustomerAlgorithm: 'AES256', SSECustomerKey: encoded };
}

/**
 * An object written with SSE-C read without the key (400, the message says so), or read with
 * another key (403 AccessDenied on AWS and MinIO, which listing with the same credentials
 * did not get): no retry can fix either.
 */
function isCustomerKeyError(err: S3ServiceException, keyGiven: boolean, reading: boolean): boolean {
  if (/customer|encryption key|SSE|encrypted/i.test(`${err.name} ${err.message}`)) return true;
  // MinIO answers a plain GET of an SSE-C object with a bare InvalidRequest.
  if (reading && !keyGiven && err.name === 'InvalidRequest') return true;
  return keyGiven && reading && (err.$metadata.httpStatusCode === 403 || err.name === 'AccessDenied');
}

class S3Storage implements Storage {
  readonly location: string;
  private readonly root: string;

  constructor(
    private readonly client: S3Client,
    /** What a client of its own for one GET needs besides the credentials (getThrough). */
    private readonly config: S3ClientConfig & { caFile: string | undefined },
    private readonly bucket: string,
    prefix: string | undefined,
    private readonly sse: CustomerKeyParams | undefined,
  ) {
    this.root = prefix ? `${prefix}/` : '';
    this.location = `s3://${bucket}/${this.root}`;
  }

  async putStream(key: string, body: Readable, signal: AbortSignal): Promise<void> {
    try {
      await this.abortStaleUploads(key);
      await this.uploadMultipart(key, body, signal);
    } catch (err) {
      throw this.uploadFailure(key, err, body);
    }
  }

  private async uploadMultipart(key: string, body: Readable, signal: AbortSignal): Promise<void> {
    const target = {
      client: this.client,
      bucket: this.bucket,
      key: this.root + key,
      sse: this.sse ? { ...this.sse } : undefined,
      partSizes: S3_PART_SIZES,
      partsInFlight: PARTS_IN_FLIGHT,
    };
    await this.classify(key, () => uploadInParts(target, body, signal));
  }

  async putBytes(key: string, bytes: Buffer): Promise<void> {
    await this.classify(key, () =>
      this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.root + key, Body: bytes, ContentType: 'application/json', ...this.sse }),
      ),
    ).catch((err: unknown) => {
      throw this.uploadFailure(key, err);
    });
  }

  /**
   * A transient S3 or network error (`connect ECONNREFUSED …`, a 5xx) named after the object
   * it failed to write. Permanent failures already name the repository; the body's own error
   * and an abort are the failures of other stages, which report them.
   */
  private uploadFailure(key: string, err: unknown, body?: Readable): unknown {
    if (!(err instanceof Error) || err.name === 'AbortError' || err === body?.errored) return err;
    if ((err as { nonRetryable?: boolean }).nonRetryable || err instanceof ObjectNotFoundError) return err;
    const detail = err instanceof S3ServiceException ? `${err.name}: ${err.message}` : err.message;
    // No `cause`: a session's status reports the deepest cause, which would drop the object's name.
    return new Error(`uploading ${this.location}${key}: ${detail}`);
  }

  async getStream(key: string, signal?: AbortSignal): Promise<Readable> {
    const response = await this.classify(key, 'read', () =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.root + key, ...this.sse }), { abortSignal: signal }),
    );
    if (!(response.Body instanceof Readable)) throw new Error(`${this.location}${key}: response has no body stream`);
    return response.Body;
  }

  /**
   * A client of its own, whose request handler is `exchange`, with the storage's credentials
   * provider (credentials the default chain fetched are not fetched again).
   */
  async getThrough(key: string, exchange: HttpExchange, signal?: AbortSignal): Promise<void> {
    const { caFile, ...config } = this.config;
    const client = new S3Client({
      ...config,
      credentials: this.client.config.credentials,
      requestHandler: exchangeRequestHandler(exchange, caFile),
    });
    try {
      await this.classify(key, 'read', () =>
        client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.root + key, ...this.sse }), { abortSignal: signal }),
      );
    } finally {
      client.destroy();
    }
  }

  async getBytes(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.getStream(key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      const page = await this.classify(prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.root + prefix, ContinuationToken: token })),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        // S3 and MinIO always send LastModified; the epoch only if one did not (never "recent").
        yield { key: object.Key.slice(this.root.length), size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    await this.classify(key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.root + key })));
  }

  /**
   * A worker killed mid-upload cannot abort its multipart upload; the retry, writing the same
   * key, does it, so invisible parts never pile up in the bucket. (MinIO lists uploads only for
   * an exact key, which is what this asks for.)
   */
  private async abortStaleUploads(key: string): Promise<void> {
    const fullKey = this.root + key;
    const listed = await this.classify(key, () =>
      this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: fullKey })),
    );
    for (const upload of listed.Uploads ?? []) {
      if (upload.Key !== fullKey || !upload.UploadId) continue;
      await this.classify(key, () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, UploadId: upload.UploadId })),
      );
    }
  }

  private async classify<T>(key: string, ...args: [operation: () => Promise<T>] | [kind: 'read', operation: () => Promise<T>]): Promise<T> {
    const operation = args.length === 1 ? args[0] : args[1];
    const reading = args.length === 2;
    try {
      return await operation();
    } catch (err) {
      if (err instanceof S3ServiceException) {
        // NoSuchUpload is a 404 too, but of a multipart upload that was aborted under a running
        // upload (by a newer attempt's abortStaleUploads): the upload failed, no object is missing.
        if (
          err.name === 'NoSuchKey' ||
          (err.$metadata.httpStatusCode === 404 && err.name !== 'NoSuchBucket' && err.name !== 'NoSuchUpload')
        ) {
          throw new ObjectNotFoundError(this.location, key);
        }
        if (isCustomerKeyError(err, this.sse !== undefined, reading)) {
          throw permanentFailure(
            PermanentFailureType.RepositoryAccessDenied,
            `repository ${this.location}: object ${key} cannot be read with the configured SSE-C key ` +
              `(${this.sse ? 'wrong key' : 'it is encrypted with a customer key and spec.s3.sse.customerKey is not set'}): ${err.name}: ${err.message}`,
          );
        }
        if (PERMANENT_S3_ERRORS.has(err.name)) {
          throw permanentFailure(
            PermanentFailureType.RepositoryAccessDenied,
            `repository ${this.location}: ${err.name}: ${err.message} (check the bucket, the credentials and their policy)`,
          );
        }
      }
      if (isCertificateRefusal(err)) {
        throw s3CertificateRefused(`repository ${this.location}: the server's certificate failed verification: ${(err as Error).message}`);
      }
      throw err;
    }
  }
}
