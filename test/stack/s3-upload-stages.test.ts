import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortMultipartUploadCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runStages } from '../../pipeline/stages';
import { ToolFailedError } from '../../pipeline/tool-process';
import { createBucket, startMinio, type MinioServer } from '../../stack/minio-server';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { openS3Storage } from '../../storage/s3-storage';
import { uploadInParts } from '../../storage/s3-part-upload';
import { isPermanentFailure, PermanentFailureType } from '../../domain/failures';
import { ObjectNotFoundError, type Storage } from '../../storage/storage';
import { listIncompleteUploads, objectSha256, waitForUploadedParts } from '../reliability/fault-harness';
import { startS3ThatFailsOnePart, type S3ThatFailsOnePart } from '../support/s3-that-fails-one-part';

/**
 * runStages around S3Storage.putStream, as the backup activities run it: a dump stream piped
 * into the body the upload reads. Against a real MinIO for everything it can serve; the one
 * fault it cannot produce on demand, an S3 error answer to one part, comes from
 * S3ThatFailsOnePart.
 */

/** S3Storage's part size. */
const PART_BYTES = 8 * 1024 * 1024;

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('resolved');
    },
    (err: unknown) => err,
  );
}

/** A dump that never ends on its own, 1 MiB at a time, as long as it is read. */
const endlessDump = () =>
  new Readable({
    read() {
      this.push(Buffer.alloc(1024 * 1024, 'x'));
    },
  });

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

describe('runStages with an S3 upload to MinIO (S3Storage.putStream)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-s3-upload-stages-'));
  const accessKey = `stages-${randomBytes(4).toString('hex')}`;
  const secretKey = randomBytes(24).toString('base64url');
  let minio: MinioServer;
  let s3: S3Client;
  /** A bucket of its own for each test, so what a test finds in it is what that test left. */
  let bucket: string;
  let storage: Storage;
  let bucketCount = 0;

  beforeAll(async () => {
    minio = await startMinio({ dir: join(scratch, 'minio'), accessKey, secretKey });
    s3 = new S3Client({
      endpoint: minio.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    });
  });
  afterAll(async () => {
    s3?.destroy();
    await minio?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });
  beforeEach(async () => {
    bucket = `stages-${++bucketCount}`;
    await createBucket(minio.endpoint, accessKey, secretKey, bucket);
    storage = await openS3Storage(
      {
        bucket,
        prefix: 'dbkeep',
        endpoint: minio.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } },
      },
      createSecretResolver({ S3_ACCESS_KEY: accessKey, S3_SECRET_KEY: secretKey }),
      'repo',
    );
  });

  async function listedKeys(): Promise<string[]> {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (listed.Contents ?? []).map((object) => object.Key!);
  }

  for (const [what, bytes] of [
    ['smaller than one part (a single PutObject)', 100_000],
    ['of several parts, the last one short (a multipart upload)', 2 * PART_BYTES + 1_234_567],
    ['of exactly one part (a single PutObject)', PART_BYTES],
    ['of exactly three parts', 3 * PART_BYTES],
    ['of no bytes', 0],
  ] as const) {
    it(`stores a dump ${what} byte for byte, and leaves no incomplete upload`, async () => {
      const dump = randomBytes(bytes);
      const controller = new AbortController();
      const body = new PassThrough();
      await runStages(controller, [
        pipeline(Readable.from([dump.subarray(0, bytes / 2), dump.subarray(bytes / 2)]), body, { signal: controller.signal }),
        storage.putStream('ledger/dump.sql.zst', body, controller.signal),
      ]);
      expect(controller.signal.aborted).toBe(false);
      expect(await objectSha256(s3, bucket, 'dbkeep/ledger/dump.sql.zst')).toEqual({
        sha256: createHash('sha256').update(dump).digest('hex'),
        bytes,
      });
      expect(await listIncompleteUploads(s3, bucket)).toEqual([]);
    });
  }

  describe('parts that grow (storage/s3-part-sizes.ts), in tiers small enough to fill here', () => {
    const MiB = 1024 * 1024;
    // MinIO, as S3, takes parts of 5 MiB at least, the last one aside.
    const partSizes = [
      { parts: 2, bytes: 5 * MiB },
      { parts: 1, bytes: 6 * MiB },
    ];
    const upload = (key: string, dump: Buffer) => {
      const chunks = Array.from({ length: Math.ceil(dump.length / MiB) }, (_, index) => dump.subarray(index * MiB, (index + 1) * MiB));
      return uploadInParts(
        { client: s3, bucket, key, sse: undefined, partSizes, partsInFlight: 2 },
        Readable.from(chunks),
        new AbortController().signal,
      );
    };

    it('sends each part at its tier’s size, up to an object that fills the last part', async () => {
      const dump = randomBytes(16 * MiB);
      await upload('grown.zst', dump);
      expect(await objectSha256(s3, bucket, 'grown.zst')).toEqual({
        sha256: createHash('sha256').update(dump).digest('hex'),
        bytes: dump.length,
      });
      const partLengths = await Promise.all(
        [1, 2, 3].map(
          async (PartNumber) => (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'grown.zst', PartNumber }))).ContentLength,
        ),
      );
      expect(partLengths).toEqual([5 * MiB, 5 * MiB, 6 * MiB]);
    });

    it('fails with ObjectTooLarge before its last part when the stream is longer, and leaves nothing in the bucket', async () => {
      const error = await errorOf(upload('too-big.zst', randomBytes(16 * MiB + 1)));
      expect(isPermanentFailure(error, PermanentFailureType.ObjectTooLarge)).toBe(true);
      expect((error as Error).message).toBe(
        'too-big.zst: the stream is longer than the largest object dbkeep uploads to S3 (16 MiB in 3 parts); ' +
          'split the databases across configurations (spec.databases), or back up to a filesystem repository',
      );
      expect(await listIncompleteUploads(s3, bucket)).toEqual([]);
      expect(await listedKeys()).toEqual([]);
    });
  });

  it('holds a bounded amount of the stream, whatever its size: 256 MiB never pile up in memory', async () => {
    const total = 256 * 1024 * 1024;
    let produced = 0;
    // 64 KiB chunks, each a new buffer, as a pipe from zstd delivers them.
    const dump = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        this.push(Buffer.alloc(64 * 1024, produced / (64 * 1024)));
        produced += 64 * 1024;
      },
    });
    let peakArrayBuffers = 0;
    const sampler = setInterval(() => {
      peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
    }, 20);
    try {
      const controller = new AbortController();
      const body = new PassThrough();
      await runStages(controller, [
        pipeline(dump, body, { signal: controller.signal }),
        storage.putStream('ledger/big.zst', body, controller.signal),
      ]);
    } finally {
      clearInterval(sampler);
    }
    expect((await listIncompleteUploads(s3, bucket)).length).toBe(0);
    // Three 8 MiB part buffers, the stream's own buffers and garbage not yet collected: far
    // below the 256 MiB an upload keeping its chunks reachable reaches.
    expect(peakArrayBuffers).toBeLessThan(160 * 1024 * 1024);
  });

  it('aborts the upload at once when the stages are cancelled while it is sound: no incomplete upload, no object', async () => {
    const controller = new AbortController();
    const body = new PassThrough();
    const upload = storage.putStream('ledger/dump.sql.zst', body, controller.signal);
    // Watched from the start, as below: an upload failing while the test waits fails the test, not the run.
    const stopped = errorOf(runStages(controller, [pipeline(endlessDump(), body, { signal: controller.signal }), upload]));
    await waitForUploadedParts(s3, bucket, 'dbkeep/ledger/dump.sql.zst', 1, 10_000);
    expect(await listIncompleteUploads(s3, bucket)).toHaveLength(1);

    const cancelledAt = Date.now();
    controller.abort(new Error('activity cancelled'));
    await stopped;
    expect(await errorOf(upload)).toMatchObject({ name: 'AbortError' });
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
    // The abort is sent as the upload gives up; MinIO has dropped the parts soon after.
    await eventually(async () => (await listIncompleteUploads(s3, bucket)).length === 0, 'MinIO lists no incomplete upload');
    expect(await listedKeys()).toEqual([]);
  });

  it('reports a multipart upload aborted under it (as a newer attempt does) as a failed upload, not a missing object', async () => {
    const controller = new AbortController();
    const body = new PassThrough();
    const upload = storage.putStream('ledger/dump.sql.zst', body, controller.signal);
    // Watched from the start: the stages may reject while the abort's own response is still on its way.
    const failed = errorOf(runStages(controller, [pipeline(endlessDump(), body, { signal: controller.signal }), upload]));
    await waitForUploadedParts(s3, bucket, 'dbkeep/ledger/dump.sql.zst', 1, 10_000);
    const [stale] = await listIncompleteUploads(s3, bucket);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'dbkeep/ledger/dump.sql.zst', UploadId: stale!.uploadId }));

    const failure = (await failed) as Error;
    expect(failure.message).toMatch(new RegExp(`^uploading s3://${bucket}/dbkeep/ledger/dump\\.sql\\.zst: NoSuchUpload: `));
    expect(failure).not.toBeInstanceOf(ObjectNotFoundError);
    expect(await listedKeys()).toEqual([]);
  });

  it("reports a tool's exit over the upload it aborted, and the aborted upload leaves nothing in the bucket", async () => {
    const controller = new AbortController();
    const body = new PassThrough();
    const exited = new ToolFailedError('mariadb-dump exited with code 2: Lost connection to server during query', true);
    // The tool fails once the upload is demonstrably under way, as a dump losing its server would.
    const dumpTool = waitForUploadedParts(s3, bucket, 'dbkeep/ledger/dump.sql.zst', 1, 10_000).then(() => {
      throw exited;
    });
    const err = await errorOf(
      runStages(controller, [
        dumpTool,
        pipeline(endlessDump(), body, { signal: controller.signal }),
        storage.putStream('ledger/dump.sql.zst', body, controller.signal),
      ]),
    );
    expect(err).toBe(exited);
    expect(controller.signal.reason).toBe(exited);
    await eventually(async () => (await listIncompleteUploads(s3, bucket)).length === 0, 'MinIO lists no incomplete upload');
    expect(await listedKeys()).toEqual([]);
  });
});

describe('runStages with an S3 upload whose part the server refuses (S3ThatFailsOnePart)', () => {
  let server: S3ThatFailsOnePart | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("reports the failed part's S3 error, naming the object, and aborts the multipart upload", async () => {
    server = await startS3ThatFailsOnePart({
      partNumber: 2,
      status: 503,
      code: 'SlowDownWrite',
      message: 'Resource requested is unwritable, please reduce your request rate',
    });
    const controller = new AbortController();
    const body = new PassThrough();
    const err = await errorOf(
      runStages(controller, [
        pipeline(endlessDump(), body, { signal: controller.signal }),
        server.storage.putStream('dump', body, controller.signal),
      ]),
    );
    expect(String(err)).toMatch(/^Error: uploading s3:\/\/bucket\/dbkeep\/dump: SlowDownWrite: Resource requested is unwritable/);
    expect((err as Error).name).not.toBe('AbortError');
    expect(server.requests).toContain('UploadPart 2');
    expect(server.requests).toContain('AbortMultipartUpload upload-1');
    expect(
      server.requests.filter((r) => !/^(ListMultipartUploads|CreateMultipartUpload|UploadPart \d+|AbortMultipartUpload upload-1)$/.test(r)),
    ).toEqual([]);
  });
});
