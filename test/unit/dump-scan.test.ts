import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DumpFingerprinter, type DumpFingerprint } from '../../domain/dump-fingerprint';
import { prepareDumpScan, removeDumpScan, startDumpScan, type PreparedScan } from '../../pipeline/dump-scan';
import { startTool } from '../../pipeline/tool-process';

/** A tool's output scanned for its fingerprint by dbkeep-tee (built by `npm run build`), read by Node from a FIFO while zstd reads the other FIFO. */
describe('startDumpScan', () => {
  let dir: string;
  let input: string;
  let prepared: PreparedScan;
  const content = dumpOf(3 * 1024 * 1024);
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-dump-scan-test-'));
    input = path.join(dir, 'dump.sql');
    writeFileSync(input, content);
    prepared = await prepareDumpScan(new AbortController().signal);
  });

  afterEach(async () => {
    await removeDumpScan(prepared);
    rmSync(dir, { recursive: true, force: true });
  });

  /** cat → dbkeep-tee → (zstd reading the FIFO by name, Node reading the scan); zstd's output collected. */
  function start(fingerprinter: DumpFingerprinter, signal = new AbortController().signal) {
    const producer = startTool({ command: 'cat', args: [input] }, { signal, stdin: 'ignore', stdout: 'pipe' });
    const copy = startDumpScan(prepared, { source: producer.child.stdout!, fingerprinter, signal });
    producer.child.stdout!.destroy();
    const zstd = startTool({ command: 'zstd', args: ['-1', '-c', '-q', prepared.fifo] }, { signal, stdin: 'ignore', stdout: 'pipe' });
    const compressed: Buffer[] = [];
    zstd.child.stdout!.on('data', (chunk: Buffer) => compressed.push(chunk));
    return { producer, copy, zstd, compressed };
  }

  it('gives the fingerprint Node gives reading the dump itself, while zstd reads every byte from the FIFO', async () => {
    const fingerprinter = await DumpFingerprinter.create();
    const { producer, copy, zstd, compressed } = start(fingerprinter);
    await Promise.all([producer.finished, copy.tee.finished, copy.scanned, zstd.finished]);
    const expected = await DumpFingerprinter.create();
    expected.push(content);
    const fingerprint: DumpFingerprint = fingerprinter.result();
    expect(fingerprint).toEqual(expected.result());
    expect(fingerprint.tables['d.t']!.rows).toBeGreaterThan(10_000);
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
   * socket can hold more than a page. Random bytes: all of them are passed on to Node.
   */
  const writeLargeInput = () => writeFileSync(input, randomBytes(64 * 1024 * 1024));

  it("rejects with the fingerprinter's error, and dbkeep-tee stops (EPIPE) instead of waiting for a reader", async () => {
    writeLargeInput();
    const fingerprinter = await DumpFingerprinter.create();
    let seen = 0;
    vi.spyOn(fingerprinter, 'push').mockImplementation((chunk) => {
      seen += chunk.length;
      if (seen > 256 * 1024) throw new Error('scanner failed');
    });
    const { copy, zstd } = start(fingerprinter);
    await expect(copy.scanned).rejects.toThrow('scanner failed');
    await expect(copy.tee.finished).rejects.toThrow();
    await zstd.finished.catch(() => undefined);
  });

  it('rejects when aborted, with the dump tool killed and dbkeep-tee ended', async () => {
    writeLargeInput();
    const controller = new AbortController();
    let aborted = false;
    const fingerprinter = await DumpFingerprinter.create();
    vi.spyOn(fingerprinter, 'push').mockImplementation(() => {
      if (!aborted) {
        aborted = true;
        controller.abort(new Error('cancelled by the user'));
      }
    });
    const { copy, zstd, producer } = start(fingerprinter, controller.signal);
    await expect(copy.scanned).rejects.toThrow('cancelled by the user');
    await expect(producer.finished).rejects.toThrow('was killed by SIGKILL');
    // dbkeep-tee is killed too, unless the dump's death reached it first, as the end of its
    // input; the session then fails on the dump's status, and nothing is committed.
    await Promise.allSettled([copy.tee.finished, zstd.finished]);
  });

  it('rejects at once when the signal was aborted before the scan started', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled before the dump started'));
    const { copy } = start(await DumpFingerprinter.create(), controller.signal);
    await expect(copy.scanned).rejects.toThrow('cancelled before the dump started');
    await expect(copy.tee.finished).rejects.toThrow();
  });

  it('removes both FIFOs with their directory', async () => {
    await removeDumpScan(prepared);
    expect(existsSync(prepared.fifo) || existsSync(prepared.scanFifo) || existsSync(prepared.dir)).toBe(false);
  });
});

/** A dump of one table, about `bytes` long: rows whose strings hold quotes, parentheses and semicolons. */
function dumpOf(bytes: number): Buffer {
  const lines = ['-- Current Database: `d`', '-- Dumping data for table `t`'];
  let length = 0;
  for (let statement = 0; length < bytes; statement++) {
    const rows = Array.from({ length: 100 }, (_, row) => `(${statement * 100 + row},'it\\'s (${row}); x',NULL)`).join(',');
    const line = `INSERT INTO \`t\` VALUES ${rows};`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('\n') + '\n');
}
