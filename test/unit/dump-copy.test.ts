import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareDumpCopy, removeDumpCopy, startDumpCopy, type PreparedCopy } from '../../pipeline/dump-copy';
import { startTool } from '../../pipeline/tool-process';

/** A tool's output copied to Node through dbkeep-tee (built by `npm run build`) and a FIFO while zstd reads the other FIFO. */
describe('startDumpCopy', () => {
  let dir: string;
  let input: string;
  let prepared: PreparedCopy;
  const content = randomBytes(3 * 1024 * 1024 + 17);
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-dump-copy-test-'));
    input = path.join(dir, 'dump.sql');
    writeFileSync(input, content);
    prepared = await prepareDumpCopy(new AbortController().signal);
  });

  afterEach(async () => {
    await removeDumpCopy(prepared);
    rmSync(dir, { recursive: true, force: true });
  });

  /** cat → dbkeep-tee → (zstd reading the FIFO by name, Node reading the copy); zstd's output collected. */
  function start(observe: (chunk: Buffer) => void, signal = new AbortController().signal) {
    const producer = startTool({ command: 'cat', args: [input] }, { signal, stdin: 'ignore', stdout: 'pipe' });
    const copy = startDumpCopy(prepared, { source: producer.child.stdout!, observe, signal });
    producer.child.stdout!.destroy();
    const zstd = startTool({ command: 'zstd', args: ['-1', '-c', '-q', prepared.fifo] }, { signal, stdin: 'ignore', stdout: 'pipe' });
    const compressed: Buffer[] = [];
    zstd.child.stdout!.on('data', (chunk: Buffer) => compressed.push(chunk));
    return { producer, copy, zstd, compressed };
  }

  it('shows Node every byte while zstd reads the same bytes from the FIFO', async () => {
    const hash = createHash('sha256');
    let largestChunk = 0;
    const { producer, copy, zstd, compressed } = start((chunk) => {
      hash.update(chunk);
      largestChunk = Math.max(largestChunk, chunk.length);
    });
    await Promise.all([producer.finished, copy.tee.finished, copy.copied, zstd.finished]);
    expect(hash.digest('hex')).toBe(sha256(content));
    expect(largestChunk).toBeLessThanOrEqual(64 * 1024);
    const decompressed = startTool(
      { command: 'zstd', args: ['-d', '-c', '-q'] },
      { signal: new AbortController().signal, stdin: 'pipe', stdout: 'pipe' },
    );
    const out: Buffer[] = [];
    decompressed.child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    decompressed.child.stdin!.end(Buffer.concat(compressed));
    await decompressed.finished;
    expect(sha256(Buffer.concat(out))).toBe(sha256(content));
  });

  /**
   * More than the pipes and sockets between cat and Node can hold, so that cat and dbkeep-tee are
   * still at work when Node stops reading: a pipe holds 256 slots, and a slot spliced from a
   * socket can hold more than a page (3 MiB once fitted whole in the copy's FIFO).
   */
  const writeLargeInput = () => writeFileSync(input, randomBytes(64 * 1024 * 1024));

  it("rejects with the observer's error, and dbkeep-tee stops (EPIPE) instead of waiting for a reader", async () => {
    writeLargeInput();
    let seen = 0;
    const { copy, zstd } = start((chunk) => {
      seen += chunk.length;
      if (seen > 256 * 1024) throw new Error('scanner failed');
    });
    await expect(copy.copied).rejects.toThrow('scanner failed');
    await expect(copy.tee.finished).rejects.toThrow();
    await zstd.finished.catch(() => undefined);
  });

  it('rejects when aborted, with the dump tool killed and the copy tool ended', async () => {
    writeLargeInput();
    const controller = new AbortController();
    let aborted = false;
    const { copy, zstd, producer } = start(() => {
      if (!aborted) {
        aborted = true;
        controller.abort(new Error('cancelled by the user'));
      }
    }, controller.signal);
    await expect(copy.copied).rejects.toThrow('cancelled by the user');
    await expect(producer.finished).rejects.toThrow('was killed by SIGKILL');
    // dbkeep-tee is killed too, unless the dump's death reached it first, as the end of its
    // input; the session then fails on the dump's status, and nothing is committed.
    await Promise.allSettled([copy.tee.finished, zstd.finished]);
  });

  it('rejects at once when the signal was aborted before the copy started', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled before the dump started'));
    const { copy } = start(() => undefined, controller.signal);
    await expect(copy.copied).rejects.toThrow('cancelled before the dump started');
    await expect(copy.tee.finished).rejects.toThrow();
  });

  it('removes both FIFOs with their directory', async () => {
    await removeDumpCopy(prepared);
    expect(existsSync(prepared.fifo) || existsSync(prepared.copyFifo) || existsSync(prepared.dir)).toBe(false);
  });
});
