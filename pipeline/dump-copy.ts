import { closeSync, constants, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { nativeToolPath } from './native-tools';
import { makeScratchDirectory } from './scratch-directory';
import { startTool, type RunningTool } from './tool-process';

/**
 * A copy of a tool's output for Node to read, while the output itself goes from tool to tool
 * without waiting for Node: `dbkeep-tee FIFO` reads the tool's output, puts it into a FIFO that
 * the next tool (zstd) reads by name, and the same bytes into its stdout, a second FIFO that Node
 * reads. Piping a gigabyte through Node cost the worker its event loop and zstd its waits; Node
 * now only reads. (FIFOs, because the child pipes Node makes are sockets, which no tool can open
 * by path.)
 *
 * dbkeep-tee (pipeline/native/dbkeep-tee.c) duplicates with tee(2) and splice(2), without copying
 * through user space: coreutils' tee, which it replaces, spent about 1 s of CPU per GiB on 8 KiB
 * reads and writes. It also gives both FIFOs 1 MiB (256 slots, which hold more when filled from
 * a socket), so the dump waits for Node only once Node is that far behind. `mkfifo` is
 * coreutils'.
 *
 * Node reads the copy into one reused buffer (a socket's `onread`) instead of a new one per
 * read: a gigabyte read in fresh 64 KiB buffers made the garbage collector the copy's largest
 * cost (a mark-compact every 100 ms, on external memory alone).
 */
export interface PreparedCopy {
  /** What the next tool reads, by name. */
  fifo: string;
  /** What dbkeep-tee writes the copy into, and Node reads. */
  copyFifo: string;
  dir: string;
}

/** Made before the tool starts: once it runs, its output must go to dbkeep-tee in the same tick. */
export async function prepareDumpCopy(signal: AbortSignal): Promise<PreparedCopy> {
  const dir = await makeScratchDirectory('copy');
  const prepared = { fifo: path.join(dir, 'output.fifo'), copyFifo: path.join(dir, 'copy.fifo'), dir };
  try {
    await startTool(
      { command: 'mkfifo', args: ['-m', '600', prepared.fifo, prepared.copyFifo] },
      { signal, stdin: 'ignore', stdout: 'ignore' },
    ).finished;
  } catch (error) {
    await removeDumpCopy(prepared);
    throw error;
  }
  return prepared;
}

export interface DumpCopy {
  tee: RunningTool;
  /** Resolves once every byte was shown to `observe`; rejects when observing failed. */
  copied: Promise<void>;
}

/**
 * The most a read of the copy returns, though its FIFO holds 1 MiB: the fingerprint scans each
 * chunk as a latin1 string, and a string over V8's 128 KiB regular-object limit is allocated in
 * large-object space, outside the young generation. Fingerprinting 1 GiB read in 1 MiB chunks
 * took 1.7-1.8 s of CPU here, in 128 KiB chunks 2.0 s, in 64 KiB chunks 1.1-1.4 s.
 */
const COPY_READ_BYTES = 64 * 1024;

/**
 * Starts dbkeep-tee on the tool's output, in the same tick as the tool: the output is handed to
 * it as its file descriptor, and anything Node had read from it before would be lost. `observe`
 * sees each chunk only during its call: the buffer is read into again after it returns.
 */
export function startDumpCopy(
  prepared: PreparedCopy,
  params: { source: Readable; observe: (chunk: Buffer) => void; signal: AbortSignal },
): DumpCopy {
  // Neither open waits: the reader does not block (O_NONBLOCK), and the writer then has a reader.
  // The writer exists before Node reads, so an empty FIFO never reads as an early end, and it is
  // dbkeep-tee's own (blocking, write-only): it gets EPIPE, not a hang, if Node stops reading.
  const readFd = openSync(prepared.copyFifo, constants.O_RDONLY | constants.O_NONBLOCK);
  let tee: RunningTool;
  try {
    const writeFd = openSync(prepared.copyFifo, constants.O_WRONLY);
    try {
      tee = startTool(
        { command: nativeToolPath('dbkeep-tee'), args: [prepared.fifo] },
        { signal: params.signal, stdin: params.source, stdout: writeFd },
      );
    } finally {
      closeSync(writeFd);
    }
  } catch (error) {
    closeSync(readFd);
    throw error;
  }
  const copied = new Promise<void>((resolve, reject) => {
    let failure: unknown;
    let ended = false;
    // Node's Socket takes `onread` (documented there since 22); Node 20's types list it for connect only.
    const reader = new Socket({
      fd: readFd,
      readable: true,
      writable: false,
      onread: {
        buffer: Buffer.allocUnsafe(COPY_READ_BYTES),
        callback: (bytes: number, buffer: Uint8Array) => {
          try {
            params.observe(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
            return true;
          } catch (error) {
            failure = error;
            reader.destroy();
            return false;
          }
        },
      },
    } as SocketConstructorOpts & { onread: OnReadOpts });
    const abort = () => reader.destroy();
    // Aborted before the copy started: dbkeep-tee is killed, and the end it leaves is no complete copy.
    if (params.signal.aborted) abort();
    else params.signal.addEventListener('abort', abort, { once: true });
    reader.once('end', () => {
      ended = true;
      reader.destroy();
    });
    reader.once('error', (error) => (failure ??= error));
    reader.once('close', () => {
      params.signal.removeEventListener('abort', abort);
      if (failure !== undefined) reject(failure instanceof Error ? failure : new Error(String(failure)));
      else if (!ended) reject(params.signal.reason instanceof Error ? params.signal.reason : new Error('the copy of the dump ended early'));
      else resolve();
    });
  });
  // Awaited through the stages; nobody awaiting it must not be an unhandled rejection.
  copied.catch(() => undefined);
  return { tee, copied };
}

/** Removes a prepared copy's FIFOs and their directory. */
export async function removeDumpCopy(prepared: PreparedCopy): Promise<void> {
  await rm(prepared.dir, { recursive: true, force: true });
}
