import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeToolPath } from '../../pipeline/native-tools';
import { startTool } from '../../pipeline/tool-process';
import { endsWithEndRecord, rawBytesOfScan } from '../support/dump-scan-records';
import { pollUntil } from '../support/poll';

/**
 * dbkeep-tee itself (pipeline/native/dbkeep-tee.c, built by `npm run build`), on the input
 * test/unit/dump-scan.test.ts does not give it: a FIFO, handed over non-blocking. (A tool's
 * output, a socket, is what dump-scan's tests feed it.) Random bytes hold no INSERT statement:
 * its scan passes every one of them on to Node.
 */
describe('dbkeep-tee', () => {
  let dir: string;
  const signal = new AbortController().signal;
  const content = randomBytes(5 * 1024 * 1024 + 3);
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-tee-test-'));
    writeFileSync(path.join(dir, 'input'), content);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A FIFO's two ends, opened without waiting: the read end non-blocking, the write end blocking. */
  function openEnds(fifoPath: string): { readFd: number; writeFd: number } {
    const readFd = openSync(fifoPath, constants.O_RDONLY | constants.O_NONBLOCK);
    return { readFd, writeFd: openSync(fifoPath, constants.O_WRONLY) };
  }

  function collect(fd: number): { chunks: Buffer[]; ended: Promise<void> } {
    const chunks: Buffer[] = [];
    const socket = new Socket({ fd, readable: true, writable: false });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve, reject) => {
      socket.once('end', resolve);
      socket.once('error', reject);
    });
    return { chunks, ended };
  }

  /** cat input → FIFO → dbkeep-tee → (the output FIFO, read by cat; the copy FIFO, read by Node). */
  async function start() {
    const [inputFifo, scanFifo, output] = ['input.fifo', 'scan.fifo', 'output.fifo'].map((name) => path.join(dir, name)) as [
      string,
      string,
      string,
    ];
    await startTool({ command: 'mkfifo', args: [inputFifo, scanFifo, output] }, { signal, stdin: 'ignore', stdout: 'ignore' }).finished;
    const input = openEnds(inputFifo);
    const scan = openEnds(scanFifo);
    const producer = startTool({ command: 'cat', args: [path.join(dir, 'input')] }, { signal, stdin: 'ignore', stdout: input.writeFd });
    const tee = startTool({ command: nativeToolPath('dbkeep-tee'), args: [output] }, { signal, stdin: input.readFd, stdout: scan.writeFd });
    const reader = startTool({ command: 'cat', args: [output] }, { signal, stdin: 'ignore', stdout: 'pipe' });
    [input.readFd, input.writeFd, scan.writeFd].forEach((fd) => closeSync(fd));
    const outputChunks: Buffer[] = [];
    reader.child.stdout!.on('data', (chunk: Buffer) => outputChunks.push(chunk));
    return { producer, tee, reader, scanFd: scan.readFd, outputChunks };
  }

  it('puts every byte of a non-blocking FIFO into its output and, passed on in its scan, to Node', async () => {
    const { producer, tee, reader, scanFd, outputChunks } = await start();
    const scan = collect(scanFd);
    await Promise.all([producer.finished, tee.finished, reader.finished, scan.ended]);
    const records = Buffer.concat(scan.chunks);
    expect(endsWithEndRecord(records)).toBe(true);
    expect(sha256(rawBytesOfScan(records))).toBe(sha256(content));
    expect(sha256(Buffer.concat(outputChunks))).toBe(sha256(content));
  });

  it('runs ahead of a scan nobody reads only by its buffers, then waits for it', async () => {
    const { producer, tee, reader, scanFd, outputChunks } = await start();
    const received = () => outputChunks.reduce((sum, chunk) => sum + chunk.length, 0);
    // Bytes reach the output before they are scanned, and the scan waits for room in its FIFO
    // (1 MiB instead of a pipe's default 64 KiB) and its 256 KiB of records: at most about 2.3 MiB
    // of the 5 MiB reach the output while Node reads nothing.
    await pollUntil(
      async () => received(),
      (bytes) => bytes >= 1024 * 1024,
      {
        what: 'a MiB on the output while the scan is not read',
        timeoutMs: 10_000,
        intervalMs: 20,
      },
    );
    expect(received()).toBeLessThanOrEqual(2.5 * 1024 * 1024);
    const scan = collect(scanFd);
    await Promise.all([producer.finished, tee.finished, reader.finished, scan.ended]);
    expect(sha256(Buffer.concat(outputChunks))).toBe(sha256(content));
    expect(sha256(rawBytesOfScan(Buffer.concat(scan.chunks)))).toBe(sha256(content));
  });
});
