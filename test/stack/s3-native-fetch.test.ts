import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPermanentFailure, PermanentFailureType } from '../../domain/failures';
import type { S3RepositorySpec } from '../../domain/resources';
import { fetchStoredObject } from '../../pipeline/native-fetch';
import { hashStoredObject } from '../../pipeline/stream-pipelines';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { createBucket, startMinio, type MinioServer } from '../../stack/minio-server';
import { createLoopbackCertificate } from '../../stack/self-signed-certificate';
import { openS3Storage } from '../../storage/s3-storage';
import { ObjectNotFoundError, type Storage } from '../../storage/storage';

/**
 * dbkeep-fetch (pipeline/native/dbkeep-fetch.c) reading objects of a real MinIO, over TLS with
 * the loopback certificate and over plain HTTP, with requests the AWS SDK signed
 * (Storage.getThrough): the bytes, their hash, and the errors a user sees.
 */

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('resolved');
    },
    (err: unknown) => err as Error,
  );
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('dbkeep-fetch against MinIO', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-native-fetch-'));
  const accessKey = `fetch-${randomBytes(4).toString('hex')}`;
  const secretKey = randomBytes(24).toString('base64url');
  const secrets = createSecretResolver({
    S3_ACCESS_KEY: accessKey,
    S3_SECRET_KEY: secretKey,
    SSE_KEY: randomBytes(32).toString('base64'),
    OTHER_SSE_KEY: randomBytes(32).toString('base64'),
  });
  const credentials = { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } };
  // Several MiB, so the body takes many TLS records and more than one of dbkeep-fetch's blocks.
  const object = randomBytes(5 * 1024 * 1024 + 12_345);
  let tlsMinio: MinioServer;
  let plainMinio: MinioServer;
  let certificate: string;
  let otherCertificate: string;

  const open = (minio: MinioServer, spec: Partial<S3RepositorySpec> = {}): Promise<Storage> =>
    openS3Storage(
      { bucket: 'fetched', prefix: 'dbkeep', endpoint: minio.endpoint, region: 'us-east-1', forcePathStyle: true, credentials, ...spec },
      secrets,
      'repo',
    );
  const openTls = (spec: Partial<S3RepositorySpec> = {}) => open(tlsMinio, { tls: { caFile: certificate }, ...spec });

  async function putObject(storage: Storage, key: string, bytes: Buffer): Promise<void> {
    await storage.putBytes(key, bytes);
  }

  /** The whole body through a pipe, as the next tool would read it, and the tool's own count and hash. */
  async function fetchThroughPipe(storage: Storage, key: string) {
    const fetched = await fetchStoredObject(storage, key, 'pipe', new AbortController().signal);
    if (!fetched) throw new Error('S3 storage has getThrough');
    const [bytes, reported] = await Promise.all([buffer(fetched.tool.child.stdout as Readable), fetched.body]);
    return { bytes, reported };
  }

  beforeAll(async () => {
    const certs = await createLoopbackCertificate(join(scratch, 'certs'));
    certificate = certs.certificate;
    otherCertificate = (await createLoopbackCertificate(join(scratch, 'other-certs'))).certificate;
    tlsMinio = await startMinio({ dir: join(scratch, 'tls-minio'), accessKey, secretKey, certsDir: join(scratch, 'certs') });
    plainMinio = await startMinio({ dir: join(scratch, 'plain-minio'), accessKey, secretKey });
    await createBucket(tlsMinio.endpoint, accessKey, secretKey, 'fetched', readFileSync(certificate));
    await createBucket(plainMinio.endpoint, accessKey, secretKey, 'fetched');
  });
  afterAll(async () => {
    await tlsMinio?.stop();
    await plainMinio?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('reads an object over TLS byte for byte, with its length and SHA-256', async () => {
    const storage = await openTls();
    await putObject(storage, 'tls/object', object);
    const { bytes, reported } = await fetchThroughPipe(storage, 'tls/object');
    expect(sha256(bytes)).toBe(sha256(object));
    expect(reported).toEqual({ storedBytes: object.length, sha256: sha256(object) });
  });

  it('reads an object whose key needs escaping in the request line', async () => {
    const storage = await openTls();
    const key = 'tls/a key with spaces/ünïcödé+plus=equals&amp;%25 (1).sql.zst';
    await putObject(storage, key, object.subarray(0, 1000));
    const { bytes } = await fetchThroughPipe(storage, key);
    expect(bytes.equals(object.subarray(0, 1000))).toBe(true);
  });

  it('reads an object over plain HTTP, and an empty one', async () => {
    const storage = await open(plainMinio);
    await putObject(storage, 'plain/object', object);
    await putObject(storage, 'plain/empty', Buffer.alloc(0));
    const { bytes } = await fetchThroughPipe(storage, 'plain/object');
    expect(bytes.equals(object)).toBe(true);
    const empty = await fetchThroughPipe(storage, 'plain/empty');
    expect(empty.bytes.length).toBe(0);
    expect(empty.reported).toEqual({ storedBytes: 0, sha256: sha256(Buffer.alloc(0)) });
  });

  it("hashes an object without its bytes passing through the worker (a restore's checksum pass), reporting progress", async () => {
    const storage = await openTls();
    await putObject(storage, 'tls/hashed', object);
    const progress = { phase: 'verifying', bytesRead: 0, bytesWritten: 0 };
    const hashed = await hashStoredObject({ storage, key: 'tls/hashed', signal: new AbortController().signal, progress });
    expect(hashed).toEqual({ storedBytes: object.length, sha256: sha256(object) });
    expect(progress.bytesRead).toBe(object.length);
  });

  it('fails a missing object with ObjectNotFoundError, as getStream does', async () => {
    const storage = await openTls();
    const err = await errorOf(fetchStoredObject(storage, 'tls/missing', 'pipe', new AbortController().signal));
    expect(err).toBeInstanceOf(ObjectNotFoundError);
    expect(err.message).toBe(`s3://fetched/dbkeep/: object tls/missing does not exist`);
  });

  it('reads an SSE-C object with its key, and fails for good with another key', async () => {
    const encrypted = await openTls({ sse: { customerKey: { env: 'SSE_KEY' } } });
    await putObject(encrypted, 'tls/encrypted', object);
    const { bytes } = await fetchThroughPipe(encrypted, 'tls/encrypted');
    expect(bytes.equals(object)).toBe(true);

    const wrongKey = await openTls({ sse: { customerKey: { env: 'OTHER_SSE_KEY' } } });
    const err = await errorOf(fetchStoredObject(wrongKey, 'tls/encrypted', 'pipe', new AbortController().signal));
    expect(isPermanentFailure(err) && err.type).toBe(PermanentFailureType.RepositoryAccessDenied);
    expect(err.message).toContain('cannot be read with the configured SSE-C key (wrong key)');
  });

  it('refuses a server whose certificate does not chain to the configured CA, for good', async () => {
    const storage = await openTls();
    await putObject(storage, 'tls/trusted', Buffer.from('x'));
    const untrusting = await openTls({ tls: { caFile: otherCertificate } });
    const err = await errorOf(fetchStoredObject(untrusting, 'tls/trusted', 'pipe', new AbortController().signal));
    expect(isPermanentFailure(err) && err.type).toBe(PermanentFailureType.TlsVerificationFailed);
    expect(err.message).toMatch(/^the certificate of 127\.0\.0\.1 was refused: .*\(the repository's spec\.s3\.tls\.caFile/);
  });

  it("trusts the system's CAs and NODE_EXTRA_CA_CERTS, as the worker's own TLS does, when the repository names no CA", async () => {
    await putObject(await openTls(), 'tls/extra-ca', Buffer.from('trusted'));
    const withoutCa = await open(tlsMinio);
    const saved = process.env.NODE_EXTRA_CA_CERTS;
    try {
      process.env.NODE_EXTRA_CA_CERTS = certificate;
      expect((await fetchThroughPipe(withoutCa, 'tls/extra-ca')).bytes.toString()).toBe('trusted');
      delete process.env.NODE_EXTRA_CA_CERTS;
      const err = await errorOf(fetchStoredObject(withoutCa, 'tls/extra-ca', 'pipe', new AbortController().signal));
      expect(isPermanentFailure(err) && err.type).toBe(PermanentFailureType.TlsVerificationFailed);
    } finally {
      if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = saved;
    }
  });

  it('stops reading when cancelled: the tool is killed and the body fails', async () => {
    const storage = await openTls();
    await putObject(storage, 'tls/cancelled', object);
    const controller = new AbortController();
    const fetched = await fetchStoredObject(storage, 'tls/cancelled', 'pipe', controller.signal);
    // Nobody reads the pipe: the tool waits in a write, as behind a stalled decompressor.
    controller.abort(new Error('cancelled'));
    const err = await errorOf(fetched!.body);
    expect(err.message).toMatch(/dbkeep-fetch was killed by SIGKILL$/);
    fetched!.tool.child.stdout!.destroy();
  });

  it('fails a body cut short by the server (MinIO killed mid-read) as a transient error that says how far it got', async () => {
    const storage = await openTls();
    // More than the loopback connection and the pipe hold, so that the server is still sending when it dies.
    const big = randomBytes(64 * 1024 * 1024);
    await putObject(storage, 'tls/cut', big);
    const fetched = await fetchStoredObject(storage, 'tls/cut', 'pipe', new AbortController().signal);
    tlsMinio.kill();
    const [read, err] = await Promise.all([buffer(fetched!.tool.child.stdout as Readable), errorOf(fetched!.body)]);
    expect(read.length).toBeLessThan(big.length);
    expect(isPermanentFailure(err)).toBe(false);
    const cut = new RegExp(
      `dbkeep-fetch exited with code 3: dbkeep-fetch: (?:the server closed the connection|reading the body) after (\\d+) of ${big.length} bytes`,
    );
    expect(err.message).toMatch(cut);
    // What it received; the block it was filling when the connection broke was not written on.
    const received = Number(cut.exec(err.message)![1]);
    expect(received).toBeGreaterThanOrEqual(read.length);
    expect(received).toBeLessThan(big.length);
  });

  it('fails a refused connection as a transient error that names the address', async () => {
    const port = plainMinio.port;
    await plainMinio.stop();
    const storage = await open(plainMinio, { endpoint: `http://127.0.0.1:${port}` });
    const err = await errorOf(fetchStoredObject(storage, 'plain/object', 'pipe', new AbortController().signal));
    expect(isPermanentFailure(err)).toBe(false);
    expect(err.message).toBe(`connecting to 127.0.0.1:${port}: Connection refused`);
  });
});
