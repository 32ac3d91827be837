import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemStorage } from '../../storage/filesystem-storage';
import { ObjectNotFoundError, type StoredObject } from '../../storage/storage';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-fs-storage-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let root: string;
let storage: FilesystemStorage;
let n = 0;
beforeEach(() => {
  root = join(scratch, `repo-${n++}`);
  storage = new FilesystemStorage(root);
});

/** Keys and sizes listed; the write times are checked on their own. */
async function listAll(prefix = ''): Promise<Array<Omit<StoredObject, 'lastModified'>>> {
  const out: Array<Omit<StoredObject, 'lastModified'>> = [];
  for await (const { key, size, lastModified } of storage.list(prefix)) {
    expect(Math.abs(Date.now() - lastModified.getTime())).toBeLessThan(60_000);
    out.push({ key, size });
  }
  return out;
}

/** Every file under root, temporary ones included, as /-separated relative paths. */
function filesOnDisk(): string[] {
  try {
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
      .sort();
  } catch {
    return [];
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A stream that yields `chunks` and then fails. */
function failingStream(chunks: Buffer[], error: Error): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) {
        yield chunk;
        await new Promise((resolve) => setImmediate(resolve));
      }
      throw error;
    })(),
  );
}

describe('FilesystemStorage', () => {
  it('reports its directory as its location, ending in / so that a key appended to it is a path', () => {
    expect(storage.location).toBe(`${root}/`);
  });

  it('stores bytes under a nested key and reads them back', async () => {
    await storage.putBytes('nightly/20261121T161704123Z-3f9a1c/manifest.json', Buffer.from('{"a":1}'));
    expect((await storage.getBytes('nightly/20261121T161704123Z-3f9a1c/manifest.json')).toString()).toBe('{"a":1}');
    expect(filesOnDisk()).toEqual(['nightly/20261121T161704123Z-3f9a1c/manifest.json']);
  });

  it('stores a stream and reads it back as a stream', async () => {
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000, i));
    await storage.putStream('c/s/dump.sql', Readable.from(chunks), new AbortController().signal);
    const expected = Buffer.concat(chunks);
    expect((await readAll(await storage.getStream('c/s/dump.sql'))).equals(expected)).toBe(true);
    expect(await listAll()).toEqual([{ key: 'c/s/dump.sql', size: 500_000 }]);
  });

  it('stores a stream of several MiB in chunks of uneven sizes, gathered into 1 MiB writes, byte for byte', async () => {
    const random = randomBytes(3 * 1024 * 1024 + 12_345);
    const chunks: Buffer[] = [];
    // Sizes that straddle the 1 MiB buffers: some chunks fill one and start the next.
    for (let at = 0, size = 1; at < random.length; at += size, size = (size * 7 + 50_177) % 700_001) {
      chunks.push(random.subarray(at, Math.min(random.length, at + size)));
    }
    await storage.putStream('c/s/big.sql', Readable.from(chunks), new AbortController().signal);
    expect((await storage.getBytes('c/s/big.sql')).equals(random)).toBe(true);
    expect(filesOnDisk()).toEqual(['c/s/big.sql']);
  });

  it('replaces an existing object', async () => {
    await storage.putBytes('k/v', Buffer.from('old, longer value'));
    await storage.putBytes('k/v', Buffer.from('new'));
    expect((await storage.getBytes('k/v')).toString()).toBe('new');
    await storage.putStream('k/v', Readable.from([Buffer.from('streamed')]), new AbortController().signal);
    expect((await storage.getBytes('k/v')).toString()).toBe('streamed');
    expect(filesOnDisk()).toEqual(['k/v']);
  });

  it('lists keys under a prefix, sorted, with sizes', async () => {
    await storage.putBytes('nightly/b/manifest.json', Buffer.from('12345'));
    await storage.putBytes('nightly/a/dump.sql', Buffer.from('1'));
    await storage.putBytes('nightly-2/a/dump.sql', Buffer.from('12'));
    await storage.putBytes('hourly/a/dump.sql', Buffer.from('123'));
    expect(await listAll('nightly/')).toEqual([
      { key: 'nightly/a/dump.sql', size: 1 },
      { key: 'nightly/b/manifest.json', size: 5 },
    ]);
    expect((await listAll()).map((o) => o.key)).toEqual([
      'hourly/a/dump.sql',
      'nightly-2/a/dump.sql',
      'nightly/a/dump.sql',
      'nightly/b/manifest.json',
    ]);
    expect(await listAll('weekly/')).toEqual([]);
  });

  it('lists nothing when the directory does not exist yet', async () => {
    expect(await listAll()).toEqual([]);
  });

  it('hides temporary .partial- files from listing', async () => {
    await storage.putBytes('c/s/dump.sql', Buffer.from('done'));
    writeFileSync(join(root, 'c', 's', 'manifest.json.partial-0123456789ab'), 'half');
    expect(await listAll('c/')).toEqual([{ key: 'c/s/dump.sql', size: 4 }]);
  });

  it('deletes an object, and deleting a missing one is not an error', async () => {
    await storage.putBytes('c/s/dump.sql', Buffer.from('x'));
    await storage.delete('c/s/dump.sql');
    expect(await listAll()).toEqual([]);
    await expect(storage.delete('c/s/dump.sql')).resolves.toBeUndefined();
    await expect(storage.delete('never/was/here')).resolves.toBeUndefined();
  });

  it('rejects reads of a missing key with ObjectNotFoundError', async () => {
    await mkdir(root, { recursive: true });
    const streamErr = await storage.getStream('c/s/missing').catch((e: unknown) => e);
    expect(streamErr).toBeInstanceOf(ObjectNotFoundError);
    expect(streamErr).toMatchObject({ key: 'c/s/missing', location: `${root}/`, message: `${root}/: object c/s/missing does not exist` });
    await expect(storage.getBytes('c/s/missing')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('leaves no object and no temporary file when the stream fails midway', async () => {
    const failure = new Error('dump tool died');
    await expect(
      storage.putStream(
        'c/s/dump.sql',
        failingStream([Buffer.alloc(64 * 1024, 1), Buffer.alloc(64 * 1024, 2)], failure),
        new AbortController().signal,
      ),
    ).rejects.toBe(failure);
    expect(filesOnDisk()).toEqual([]);
    expect(await listAll()).toEqual([]);
    await expect(storage.getBytes('c/s/dump.sql')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('leaves no temporary file when the stream fails before its first byte', async () => {
    await expect(storage.putStream('c/s/dump.sql', failingStream([], new Error('early')), new AbortController().signal)).rejects.toThrow(
      'early',
    );
    expect(filesOnDisk()).toEqual([]);
  });

  it('keeps the previous object when replacing it fails', async () => {
    await storage.putBytes('c/s/dump.sql', Buffer.from('previous'));
    await expect(
      storage.putStream('c/s/dump.sql', failingStream([Buffer.from('partial')], new Error('boom')), new AbortController().signal),
    ).rejects.toThrow('boom');
    expect((await storage.getBytes('c/s/dump.sql')).toString()).toBe('previous');
    expect(filesOnDisk()).toEqual(['c/s/dump.sql']);
  });

  it('leaves nothing behind when the put is aborted', async () => {
    const controller = new AbortController();
    const endless = new Readable({
      read() {
        setTimeout(() => this.push(Buffer.alloc(1024)), 1);
      },
    });
    const put = storage.putStream('c/s/dump.sql', endless, controller.signal);
    setTimeout(() => controller.abort(), 30);
    await expect(put).rejects.toMatchObject({ name: 'AbortError' });
    expect(filesOnDisk()).toEqual([]);
  });

  it('commits a file another process wrote at the path it was given, hidden from listing until then', async () => {
    await storage.putWrittenFile('c/s/data.xb.zst', async (file) => {
      expect(file.startsWith(join(root, 'c', 's', 'data.xb.zst.partial-'))).toBe(true);
      writeFileSync(file, 'written elsewhere', { flag: 'wx' });
      expect(await listAll()).toEqual([]);
    });
    expect((await storage.getBytes('c/s/data.xb.zst')).toString()).toBe('written elsewhere');
    expect(filesOnDisk()).toEqual(['c/s/data.xb.zst']);
  });

  it('removes the written file and keeps the previous object when the writing fails', async () => {
    await storage.putBytes('c/s/data.xb.zst', Buffer.from('previous'));
    const failure = new Error('zstd failed');
    await expect(
      storage.putWrittenFile('c/s/data.xb.zst', async (file) => {
        writeFileSync(file, 'half');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await storage.getBytes('c/s/data.xb.zst')).toString()).toBe('previous');
    expect(filesOnDisk()).toEqual(['c/s/data.xb.zst']);
  });

  it.each(['../escape', '../../etc/passwd', 'a/../../escape', '..', '', 'a/..'])(
    'refuses the key %j that does not name a file inside the root',
    async (key) => {
      const message = `key ${JSON.stringify(key)} escapes repository ${root}`;
      await expect(storage.putBytes(key, Buffer.from('x'))).rejects.toThrow(message);
      await expect(storage.getBytes(key)).rejects.toThrow(message);
      await expect(storage.getStream(key)).rejects.toThrow(message);
      await expect(storage.delete(key)).rejects.toThrow(message);
      expect(readdirSync(scratch).filter((f) => !f.startsWith('repo-'))).toEqual([]);
    },
  );

  it('keeps a key with an absolute-looking path inside the root', async () => {
    await storage.putBytes('/abs/key', Buffer.from('x'));
    expect(filesOnDisk()).toEqual(['abs/key']);
  });
});
