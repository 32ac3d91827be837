import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPermanentFailure, PermanentFailureType } from '../../domain/failures';
import type { S3RepositorySpec } from '../../domain/resources';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { createBucket, startMinio, type MinioServer } from '../../stack/minio-server';
import { createLoopbackCertificate } from '../../stack/self-signed-certificate';
import { openS3Storage } from '../../storage/s3-storage';
import type { Storage } from '../../storage/storage';

/**
 * The worker's own S3 requests (uploads, small objects, listings) to a MinIO whose certificate
 * the repository's CA did not sign: refused at once as TlsVerificationFailed, which no retry can
 * fix, not retried as a network error. (Restores read through dbkeep-fetch, whose refusal
 * s3-native-fetch.test.ts covers.)
 */

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('resolved');
    },
    (err: unknown) => err as Error,
  );
}

describe('S3 requests to a server whose certificate does not verify', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-s3-certificate-'));
  const accessKey = `cert-${randomBytes(4).toString('hex')}`;
  const secretKey = randomBytes(24).toString('base64url');
  const secrets = createSecretResolver({ S3_ACCESS_KEY: accessKey, S3_SECRET_KEY: secretKey });
  let minio: MinioServer;
  let certificate: string;
  let otherCertificate: string;

  const open = (caFile: string): Promise<Storage> =>
    openS3Storage(
      {
        bucket: 'certified',
        prefix: 'dbkeep',
        endpoint: minio.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } },
        tls: { caFile },
      } satisfies S3RepositorySpec,
      secrets,
      'repo',
    );

  function expectRefused(err: Error): void {
    expect(isPermanentFailure(err) && err.type).toBe(PermanentFailureType.TlsVerificationFailed);
    expect(err.message).toMatch(
      /^repository s3:\/\/certified\/dbkeep\/: the server's certificate failed verification: .+ \(the repository's spec\.s3\.tls\.caFile, or the system's CAs without it\)$/,
    );
  }

  beforeAll(async () => {
    certificate = (await createLoopbackCertificate(join(scratch, 'certs'))).certificate;
    otherCertificate = (await createLoopbackCertificate(join(scratch, 'other-certs'))).certificate;
    minio = await startMinio({ dir: join(scratch, 'minio'), accessKey, secretKey, certsDir: join(scratch, 'certs') });
    await createBucket(minio.endpoint, accessKey, secretKey, 'certified', readFileSync(certificate));
  });

  afterAll(async () => {
    await minio?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('uploads with the CA that signed the certificate', async () => {
    const storage = await open(certificate);
    await storage.putStream('trusted/stream', Readable.from([Buffer.from('streamed')]), new AbortController().signal);
    expect((await storage.getBytes('trusted/stream')).toString()).toBe('streamed');
  });

  it('refuses an upload for good, naming the repository and its CA setting', async () => {
    const storage = await open(otherCertificate);
    expectRefused(await errorOf(storage.putStream('refused/stream', Readable.from([randomBytes(1024)]), new AbortController().signal)));
    expectRefused(await errorOf(storage.putBytes('refused/manifest.json', Buffer.from('{}'))));
  });

  it('refuses a listing for good', async () => {
    const storage = await open(otherCertificate);
    const listing = (async () => {
      for await (const object of storage.list('')) void object;
    })();
    expectRefused(await errorOf(listing));
  });
});
