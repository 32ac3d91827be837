import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * A pass-through that counts bytes and, optionally, hashes them and shows them to `observe` (a
 * dump's fingerprinter) on their way. `beforeEnd` runs before the
 * stream ends; if it rejects, the stream errors instead of ending, so a consumer (an upload)
 * never commits data whose producer failed.
 */
export class ByteMeter extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;
  private digest: string | undefined;

  constructor(options: { sha256: boolean; beforeEnd?: () => Promise<void>; observe?: (chunk: Buffer) => void }) {
    super();
    this.hash = options.sha256 ? createHash('sha256') : undefined;
    this.beforeEnd = options.beforeEnd;
    this.observe = options.observe;
  }

  private readonly beforeEnd: (() => Promise<void>) | undefined;
  private readonly observe: ((chunk: Buffer) => void) | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    try {
      this.observe?.(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (!this.beforeEnd) return callback();
    this.beforeEnd().then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  sha256(): string {
    if (!this.hash) throw new Error('ByteMeter was created without sha256');
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}
