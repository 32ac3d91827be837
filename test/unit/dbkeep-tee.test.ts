import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeToolPath } from '../../pipeline/native-tools';
import { startTool } from '../../pipeline/tool-process';
import { pollUntil } from '../support/poll';

/**
 * dbkeep-tee itself (pipeline/native/dbkeep-tee.c, built by `npm run build`), on the input
 * test/unit/dump-copy.test.ts does not give it: a FIFO, handed over non-blocking. (A tool's
 * output, a socket, is what dump-copy's tests feed it.)
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
    const [inputFifo, copyFifo, output] = ['input.fifo', 'copy.fifo', 'output.fifo'].map((name) => path.join(dir, name)) as [
      string,
      string,
      string,
    ];
    await startTool({ command: 'mkfifo', args: [inputFifo, copyFifo, output] }, { signal, stdin: 'ignore', stdout: 'ignore' }).finished;
    const input = openEnds(inputFifo);
    const copy = openEnds(copyFifo);
    const producer = startTool({ command: 'cat', args: [path.join(dir, 'input')] }, { signal, stdin: 'ignore', stdout: input.writeFd });
    const tee = startTool({ command: nativeToolPath('dbkeep-tee'), args: [output] }, { signal, stdin: input.readFd, stdout: copy.writeFd });
    const reader = startTool({ command: 'cat', args: [output] }, { signal, stdin: 'ignore', stdout: 'pipe' });
    [input.readFd, input.writeFd, copy.writeFd].forEach((fd) => closeSync(fd));
    const outputChunks: Buffer[] = [];
    reader.child.stdout!.on('data', (chunk: Buffer) => outputChunks.push(chunk));
    return { producer, tee, reader, copyFd: copy.readFd, outputChunks };
  }

  it('puts every byte of a non-blocking FIFO into both outputs', async () => {
    const { producer, tee, reader, copyFd, outputChunks } = await start();
    const copy = collect(copyFd);
    await Promise.all([producer.finished, tee.finished, reader.finished, copy.ended]);
    expect(sha256(Buffer.concat(copy.chunks))).toBe(sha256(content));
    expect(sha256(Buffer.concat(outputChunks))).toBe(sha256(content));
  });

  it('runs up to 1 MiB ahead of a copy nobody reads, then waits for it', async () => {
    const { producer, tee, reader, copyFd, outputChunks } = await start();
    const received = () => outputChunks.reduce((sum, chunk) => sum + chunk.length, 0);
    // Bytes reach the output only once they are in the copy, whose FIFO holds 1 MiB instead of a
    // pipe's default 64 KiB (fewer bytes when its pages are not full): the output gets that far.
    await pollUntil(
      async () => received(),
      (bytes) => bytes >= 512 * 1024,
      {
        what: 'half a MiB on the output while the copy is not read',
        timeoutMs: 10_000,
        intervalMs: 20,
      },
    );
    expect(received()).toBeLessThanOrEqual(1024 * 1024);
    const copy = collect(copyFd);
    await Promise.all([producer.finished, tee.finished, reader.finished, copy.ended]);
    expect(sha256(Buffer.concat(outputChunks))).toBe(sha256(content));
    expect(sha256(Buffer.concat(copy.chunks))).toBe(sha256(content));
  });
});
