import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectNotFoundError, type Storage, type StoredObject } from './storage';

/** Temporary files carry this marker so listing never shows a half-written object. */
const PARTIAL_MARKER = '.partial-';

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
      const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
      try {
        await pipeline(body, out, { signal });
      } catch (error) {
        // The file may still be opening when the source fails; removing it before it is
        // closed would leave it behind, created after the removal.
        if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
        throw error;
      }
    });
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

async function fsync(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
