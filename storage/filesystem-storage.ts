import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { ObjectNotFoundError, type Storage, type StoredObject } from './storage';

/** Temporary files carry this marker so listing never shows a half-written object. */
const PARTIAL_MARKER = '.partial-';

/**
 * What putStream gathers before each write. A stream written as it arrives costs one write per
 * chunk: zstd's output comes in about 49 KiB, and `fs.WriteStream` took 0.49-0.57 s of CPU for
 * 253 MB of it, against 0.39-0.46 s for 1 MiB writes (bench/README.md).
 */
const WRITE_BYTES = 1024 * 1024;

/**
 * A repository in a directory (in Kubernetes: a mounted PVC or any volume). Same layout as
 * S3; commit is write to a temporary name, fsync, rename, fsync the directory.
 */
export class FilesystemStorage implements Storage {
  /** The directory with a trailing `/`, as S3's `s3://bucket/prefix/`: messages append keys to it. */
  readonly location: string;

  constructor(private readonly root: string) {
    this.location = root.endsWith('/') ? root : `${root}/`;
  }

  async putStream(key: string, body: Readable, signal: AbortSignal): Promise<void> {
    await this.commit(key, async (tmp) => {
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await writeGathered(addAbortSignal(signal, body), handle);
      } finally {
        await handle.close();
      }
    });
  }

  async putWrittenFile(key: string, write: (file: string) => Promise<void>): Promise<void> {
    await this.commit(key, write);
  }

  async putBytes(key: string, bytes: Buffer): Promise<void> {
    await this.commit(key, async (tmp) => {
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
    });
  }

  async getStream(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    await this.mustExist(key, file);
    return createReadStream(file);
  }

  async getBytes(key: string): Promise<Buffer> {
    const file = this.pathOf(key);
    await this.mustExist(key, file);
    return readFile(file);
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const keys = entries
      .filter((e) => e.isFile() && !e.name.includes(PARTIAL_MARKER))
      .map((e) => path.relative(this.root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .filter((key) => key.startsWith(prefix))
      .sort();
    for (const key of keys) {
      const info = await stat(this.pathOf(key)).catch(() => undefined);
      if (info) yield { key, size: info.size, lastModified: info.mtime };
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  private async commit(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    await mkdir(dir, { recursive: true });
    const tmp = `${file}${PARTIAL_MARKER}${randomBytes(6).toString('hex')}`;
    try {
      await write(tmp);
      await fsync(tmp);
      await rename(tmp, file);
      await fsync(dir);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  private async mustExist(key: string, file: string): Promise<void> {
    try {
      await stat(file);
    } catch {
      throw new ObjectNotFoundError(this.location, key);
    }
  }

  private pathOf(key: string): string {
    const file = path.resolve(this.root, ...key.split('/'));
    if (!file.startsWith(path.resolve(this.root) + path.sep)) {
      throw new Error(`key ${JSON.stringify(key)} escapes repository ${this.root}`);
    }
    return file;
  }
}

/**
 * Writes `body` to `handle` in WRITE_BYTES writes from two reused buffers: one is written while
 * the other fills, and reading waits while both are taken. The body's failure or abort rejects
 * with its error, and a write's failure stops the reading.
 */
async function writeGathered(body: Readable, handle: FileHandle): Promise<void> {
  const buffers = [Buffer.allocUnsafe(WRITE_BYTES), Buffer.allocUnsafe(WRITE_BYTES)];
  let current = 0;
  let filled = 0;
  let writing: Promise<void> = Promise.resolve();
  const flush = async () => {
    await writing;
    writing = writeAll(handle, buffers[current]!, filled);
    // Handled when awaited, at the next flush or at the end; until then a failure must not count as unhandled.
    writing.catch(() => undefined);
    current = 1 - current;
    filled = 0;
  };
  for await (const chunk of body) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array | string);
    for (let at = 0; at < bytes.length;) {
      const taken = bytes.copy(buffers[current]!, filled, at);
      filled += taken;
      at += taken;
      if (filled === WRITE_BYTES) await flush();
    }
  }
  if (filled > 0) await flush();
  await writing;
}

/** A write can take fewer bytes than it was given; the rest is written after them. */
async function writeAll(handle: FileHandle, buffer: Buffer, length: number): Promise<void> {
  for (let at = 0; at < length;) {
    const { bytesWritten } = await handle.write(buffer, at, length - at);
    if (bytesWritten === 0) throw new Error(`writing ${length - at} bytes wrote none`);
    at += bytesWritten;
  }
}

async function fsync(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
