import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DumpFingerprinter } from '../../domain/dump-fingerprint';
import { compressCommand } from '../../domain/tool-commands';
import { streamToolToRepository } from '../../pipeline/stream-pipelines';
import { startTool, ToolFailedError } from '../../pipeline/tool-process';
import { FilesystemStorage } from '../../storage/filesystem-storage';
import { pollUntil } from '../support/poll';

/** A directory repository that fails any put through Node: what it stores came through dbkeep-sink. */
class SinkOnlyStorage extends FilesystemStorage {
  override putStream(key: string, _body: Readable, _signal: AbortSignal): Promise<void> {
    return Promise.reject(new Error(`${key} was streamed through Node`));
  }
}

/**
 * A backup into a directory repository, compressed with zstd and not encrypted: producer →
 * dbkeep-relay → zstd → dbkeep-sink → the object's file (pipeline/stream-pipelines.ts). The
 * object and its reported size, SHA-256 and head are those of the file; a failed or aborted
 * backup leaves no file behind.
 */
describe('a zstd backup into a directory repository', () => {
  let dir: string;
  let repository: string;
  const zstd = compressCommand({ algorithm: 'zstd' })!;
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  /** Files under `root`, none while it does not exist (the repository makes its directories on the first put). */
  const filesUnder = (root: string) =>
    existsSync(root)
      ? readdirSync(root, { recursive: true, withFileTypes: true })
          .filter((entry) => entry.isFile())
          .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
      : [];

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-into-directory-'));
    repository = path.join(dir, 'repository');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const backUp = (producer: { command: string; args: string[] }, controller = new AbortController(), fingerprinter?: DumpFingerprinter) =>
    streamToolToRepository({
      producer,
      filters: [zstd],
      storage: new SinkOnlyStorage(repository),
      key: 'nightly/s1/data.zst',
      controller,
      phase: 'dumping',
      reportProgress: () => () => undefined,
      ...(fingerprinter ? { fingerprinter } : {}),
    });

  /** zstd -d of the stored object. */
  async function decompressedObject(): Promise<Buffer> {
    const unzstd = startTool(
      { command: 'zstd', args: ['-d', '-c', '-q', path.join(repository, 'nightly', 's1', 'data.zst')] },
      {
        signal: new AbortController().signal,
        stdin: 'ignore',
        stdout: 'pipe',
      },
    );
    const chunks: Buffer[] = [];
    for await (const chunk of unzstd.child.stdout!) chunks.push(chunk as Buffer);
    await unzstd.finished;
    return Buffer.concat(chunks);
  }

  it("stores zstd's output as the object, with the size, SHA-256 and head of the file", async () => {
    // Compressible, as a dump is: random blocks each repeated.
    const content = Buffer.concat(Array.from({ length: 40 }, () => randomBytes(64 * 1024)).flatMap((block) => [block, block]));
    const input = path.join(dir, 'dump');
    writeFileSync(input, content);
    const streamed = await backUp({ command: 'cat', args: [input] });
    const stored = readFileSync(path.join(repository, 'nightly', 's1', 'data.zst'));
    expect(filesUnder(repository)).toEqual([path.join('nightly', 's1', 'data.zst')]);
    expect(streamed.rawBytes).toBe(content.length);
    expect(streamed.storedBytes).toBe(stored.length);
    expect(streamed.storedBytes).toBeLessThan(content.length);
    expect(streamed.sha256).toBe(sha256(stored));
    expect(streamed.head).toEqual({ bytes: stored.subarray(0, 64 * 1024), zstd: true });
    expect(sha256(await decompressedObject())).toBe(sha256(content));
  });

  it("records a drill's fingerprint from dbkeep-tee's scan while the dump goes through zstd into the file", async () => {
    const rows = (statement: number) =>
      Array.from({ length: 100 }, (_, row) => `(${statement * 100 + row},'it\\'s (${row}); x',NULL)`).join(',');
    const statements = Array.from({ length: 500 }, (_, n) => `INSERT INTO \`t\` VALUES ${rows(n)};`);
    const dump = Buffer.from(['-- Current Database: `d`', '-- Dumping data for table `t`', ...statements].join('\n') + '\n');
    const input = path.join(dir, 'dump.sql');
    writeFileSync(input, dump);
    const fingerprinter = await DumpFingerprinter.create();
    const streamed = await backUp({ command: 'cat', args: [input] }, new AbortController(), fingerprinter);
    const expected = await DumpFingerprinter.create();
    expected.push(dump);
    expect(fingerprinter.result()).toEqual(expected.result());
    expect(fingerprinter.result().tables['d.t']!.rows).toBe(50_000);
    expect(streamed.rawBytes).toBe(dump.length);
    expect(sha256(await decompressedObject())).toBe(sha256(dump));
  });

  it('commits nothing and leaves no file when the backup tool fails after writing', async () => {
    const input = path.join(dir, 'dump');
    writeFileSync(input, randomBytes(3 * 1024 * 1024));
    const failure = backUp({ command: 'cat', args: [input, path.join(dir, 'missing')] });
    await expect(failure).rejects.toBeInstanceOf(ToolFailedError);
    await expect(failure).rejects.toThrow(/cat exited with code 1/);
    expect(filesUnder(dir)).toEqual(['dump']);
  });

  it('stops every tool and leaves no file when the backup is aborted', async () => {
    const controller = new AbortController();
    const endless = backUp({ command: 'cat', args: ['/dev/urandom'] }, controller);
    endless.catch(() => undefined);
    try {
      // Aborts once the sink has written some of the object.
      await pollUntil(
        () => Promise.resolve(filesUnder(repository)),
        (files) => files.some((file) => file.includes('.partial-')),
        { what: "dbkeep-sink's temporary file", timeoutMs: 30_000, intervalMs: 10 },
      );
    } finally {
      // Whatever happened above: an endless backup left running would fill the disk.
      controller.abort();
    }
    await expect(endless).rejects.toThrow();
    expect(filesUnder(repository)).toEqual([]);
  });
});
