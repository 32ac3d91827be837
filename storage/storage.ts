import type { Readable } from 'node:stream';
import type { HttpExchange } from './http-exchange';

export interface StoredObject {
  key: string;
  size: number;
  /** When the object was last written (S3 LastModified, file mtime). */
  lastModified: Date;
}

/**
 * A repository's backend: keys are relative to the repository's root (its S3 prefix or
 * directory). Implementations are small and boring; everything above them is backend-agnostic.
 *
 * Commit semantics: `putStream` and `putBytes` make an object visible under its key only
 * once it is complete. A failed or aborted put leaves nothing behind (S3: the multipart
 * upload is aborted; filesystem: the temporary file is removed).
 */
export interface Storage {
  /** Where the repository lives, for messages: `s3://bucket/prefix` or a directory. */
  readonly location: string;
  putStream(key: string, body: Readable, signal: AbortSignal): Promise<void>;
  /**
   * A repository in a directory only: `write` has another process create and fill the file at
   * the path it is given (which does not exist yet), and the object commits once `write`
   * resolves, as putStream's; when it rejects, the file is removed.
   */
  putWrittenFile?(key: string, write: (file: string) => Promise<void>): Promise<void>;
  putBytes(key: string, bytes: Buffer): Promise<void>;
  /** Rejects with ObjectNotFoundError when the key does not exist. */
  getStream(key: string, signal?: AbortSignal): Promise<Readable>;
  /**
   * An S3 repository only: the object's GET is signed here and sent by `exchange` (another
   * process, which writes the body where the reader needs it). Resolves once the response was
   * 2xx; rejects as getStream would (ObjectNotFoundError, a permanent failure for a refused key).
   */
  getThrough?(key: string, exchange: HttpExchange, signal?: AbortSignal): Promise<void>;
  getBytes(key: string): Promise<Buffer>;
  list(prefix: string): AsyncIterable<StoredObject>;
  delete(key: string): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  override readonly name = 'ObjectNotFoundError';
  constructor(
    readonly location: string,
    readonly key: string,
  ) {
    super(`${location}: object ${key} does not exist`);
  }
}
