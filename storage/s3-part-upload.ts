import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { largestObject, partBytes, type PartSizeTier } from './s3-part-sizes';

export interface PartUploadTarget {
  client: S3Client;
  bucket: string;
  /** The object's full key in the bucket. */
  key: string;
  /** SSE-C parameters, sent with every request that carries or creates data. */
  sse: Record<string, string> | undefined;
  /** Each part's size, growing with its number (s3-part-sizes.ts). */
  partSizes: readonly PartSizeTier[];
  partsInFlight: number;
}

/**
 * Streams `body` into one object: a single PutObject when it fits in one part, else a multipart
 * upload with `partsInFlight` parts sent at once. The parts are assembled in `partsInFlight + 1`
 * buffers reused from part to part, so an upload allocates them once per part size (lib-storage
 * allocates every part anew, and its garbage collection was a third of the worker's CPU on a
 * backup to S3). Each part is a copy of the stream's bytes, sent whole, with its length known.
 *
 * A stream longer than the part sizes let through fails with ObjectTooLarge before its last
 * part is sent. Whatever fails (a part, the body, `signal`), the multipart upload is aborted before the
 * returned promise rejects, so no invisible parts stay in the bucket. A failed part destroys the
 * body at once: the stages writing into it then stop too (pipeline/stages.ts).
 */
export async function uploadInParts(target: PartUploadTarget, body: Readable, signal: AbortSignal): Promise<void> {
  const upload = new PartUpload(target, body, signal);
  const onAbort = () => upload.fail(Object.assign(new Error('Upload aborted.'), { name: 'AbortError' }));
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    await upload.run();
  } catch (error) {
    stopReading(body);
    await upload.abandon();
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Stops reading now, as Node does when a reader leaves its loop early: the stages writing into
 * the body fail with this AbortError and stop as well (pipeline/stages.ts).
 */
function stopReading(body: Readable): void {
  if (!body.destroyed) body.destroy(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));
}

class PartUpload {
  private readonly free: Buffer[] = [];
  private readonly sending = new Set<Promise<void>>();
  private readonly completed: CompletedPart[] = [];
  private uploadId: Promise<string> | undefined;
  private partCount = 0;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly target: PartUploadTarget,
    private readonly body: Readable,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Records the first failure and stops reading the body, which ends a read waiting for it. (No
   * promise is raced against the failure instead: every race would keep its chunk reachable
   * from that long-lived promise, the whole stream by the end.)
   */
  fail(error: unknown): void {
    this.failure ??= { error };
    stopReading(this.body);
  }

  async run(): Promise<void> {
    let buffer = this.takeBuffer(this.partSize(1));
    let filled = 0;
    const chunks = this.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (error) {
        throw this.failure?.error ?? error;
      }
      this.throwIfFailed();
      if (next.done) break;
      const chunk = next.value;
      for (let offset = 0; offset < chunk.length;) {
        // A full buffer is sent only once more bytes follow it, so the last part is always known.
        if (filled === buffer.length) {
          // The part after the one being sent: past the last one, nothing more is sent.
          const nextBytes = this.partSize(this.partCount + 2);
          await this.sendPart(buffer, filled);
          buffer = this.takeBuffer(nextBytes);
          filled = 0;
        }
        const copied = chunk.copy(buffer, filled, offset);
        filled += copied;
        offset += copied;
      }
    }
    if (this.partCount === 0) {
      await this.target.client.send(new PutObjectCommand({ ...this.objectParams(), Body: buffer.subarray(0, filled) }), {
        abortSignal: this.signal,
      });
      return;
    }
    await this.sendPart(buffer, filled);
    await Promise.all(this.sending);
    this.throwIfFailed();
    const uploadId = await this.uploadId!;
    this.completed.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await this.target.client.send(
      new CompleteMultipartUploadCommand({ ...this.objectParams(), UploadId: uploadId, MultipartUpload: { Parts: this.completed } }),
      { abortSignal: this.signal },
    );
  }

  /** After a failure: waits for the parts still being sent, then aborts the multipart upload, if one was created. */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.sending);
    const uploadId = await this.uploadId?.catch(() => undefined);
    if (uploadId === undefined) return;
    await this.target.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.key, UploadId: uploadId }))
      .catch(() => undefined);
  }

  /** Starts sending one part, once fewer than partsInFlight are being sent; its buffer is free again when it is sent. */
  private async sendPart(buffer: Buffer, length: number): Promise<void> {
    // The parts in flight always settle (a cancellation aborts their requests), so waiting on them alone is enough.
    while (this.sending.size >= this.target.partsInFlight && !this.failure) await Promise.race(this.sending);
    this.throwIfFailed();
    const partNumber = ++this.partCount;
    this.uploadId ??= this.target.client
      .send(new CreateMultipartUploadCommand(this.objectParams()), { abortSignal: this.signal })
      .then(({ UploadId }) => {
        if (!UploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
        return UploadId;
      });
    const sent = this.uploadId
      .then((uploadId) =>
        this.target.client.send(
          new UploadPartCommand({ ...this.objectParams(), UploadId: uploadId, PartNumber: partNumber, Body: buffer.subarray(0, length) }),
          { abortSignal: this.signal },
        ),
      )
      .then(({ ETag }) => {
        if (!ETag) throw new Error(`part ${partNumber} was answered without an ETag`);
        this.completed.push({ PartNumber: partNumber, ETag });
      })
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.sending.delete(sent);
        this.free.push(buffer);
      });
    this.sending.add(sent);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Part `partNumber`'s size; ObjectTooLarge when the stream needs more parts than S3 takes. */
  private partSize(partNumber: number): number {
    const bytes = partBytes(this.target.partSizes, partNumber);
    if (bytes === undefined) {
      const largest = largestObject(this.target.partSizes);
      throw permanentFailure(
        PermanentFailureType.ObjectTooLarge,
        `${this.target.key}: the stream is longer than the largest object dbkeep uploads to S3 (${largest.bytes / 1024 ** 2} MiB in ${largest.parts} parts); ` +
          'split the databases across configurations (spec.databases), or back up to a filesystem repository',
      );
    }
    return bytes;
  }

  private takeBuffer(bytes: number): Buffer {
    // Never more than partsInFlight + 1 of a size: one being filled, the others being sent. A
    // smaller part size's buffers are let go as their parts are sent.
    for (let free = this.free.pop(); free !== undefined; free = this.free.pop()) if (free.length === bytes) return free;
    return Buffer.allocUnsafeSlow(bytes);
  }

  private objectParams() {
    return { Bucket: this.target.bucket, Key: this.target.key, ...this.target.sse };
  }
}
