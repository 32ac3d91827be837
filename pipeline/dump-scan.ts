import { closeSync, constants, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { DumpFingerprinter } from '../domain/dump-fingerprint';
import { DumpScanRecordReader } from './dump-scan-records';
import { nativeToolPath } from './native-tools';
import { makeScratchDirectory } from './scratch-directory';
import { startTool, type RunningTool } from './tool-process';

/**
 * A dump's fingerprint read while the dump itself goes from tool to tool without waiting for
 * Node: `dbkeep-tee FIFO` reads the dump tool's output, puts it into a FIFO that the next tool
 * (zstd) reads by name, and reads it itself: its stdout, a second FIFO that Node reads, carries
 * the records of its scan (pipeline/native/dump-scan.c), which DumpScanRecordReader turns into
 * the fingerprint. The INSERT statements, nearly all of a dump's bytes, are read in C only; Node
 * reads the rest of the dump (definitions, comments) and a record per statement. (FIFOs, because
 * the child pipes Node makes are sockets, which no tool can open by path.)
 *
 * Reading the whole dump in Node cost the worker 0.9 s of CPU per GiB (the copy's reads, the
 * search for quotes and parentheses, the hash), on the two cores the dump tool, zstd and the
 * upload share. dbkeep-tee duplicates with tee(2) and splice(2): the bytes to zstd never pass
 * through user space. `mkfifo` is coreutils'.
 *
 * Node reads the records into one reused buffer (a socket's `onread`) instead of a new one per
 * read: a gigabyte read in fresh 64 KiB buffers made the garbage collector the largest cost.
 */
export interface PreparedScan {
  /** What the next tool reads, by name. */
  fifo: string;
  /** What dbkeep-tee writes its scan's records into, and Node reads. */
  scanFifo: string;
  dir: string;
}

/** Made before the tool starts: once it runs, its output must go to dbkeep-tee in the same tick. */
export async function prepareDumpScan(signal: AbortSignal): Promise<PreparedScan> {
  const dir = await makeScratchDirectory('copy');
  const prepared = { fifo: path.join(dir, 'output.fifo'), scanFifo: path.join(dir, 'scan.fifo'), dir };
  try {
    await startTool(
      { command: 'mkfifo', args: ['-m', '600', prepared.fifo, prepared.scanFifo] },
      { signal, stdin: 'ignore', stdout: 'ignore' },
    ).finished;
  } catch (error) {
    await removeDumpScan(prepared);
    throw error;
  }
  return prepared;
}

export interface DumpScan {
  tee: RunningTool;
  /** Resolves once every record was read into the fingerprinter, the end's included; rejects when reading failed. */
  scanned: Promise<void>;
}

/** The most a read of the records returns: the size of the one buffer they are read into. */
const SCAN_READ_BYTES = 64 * 1024;

/**
 * Starts dbkeep-tee on the tool's output, in the same tick as the tool: the output is handed to
 * it as its file descriptor, and anything Node had read from it before would be lost.
 */
export function startDumpScan(
  prepared: PreparedScan,
  params: { source: Readable; fingerprinter: DumpFingerprinter; signal: AbortSignal },
): DumpScan {
  // Neither open waits: the reader does not block (O_NONBLOCK), and the writer then has a reader.
  // The writer exists before Node reads, so an empty FIFO never reads as an early end, and it is
  // dbkeep-tee's own (blocking, write-only): it gets EPIPE, not a hang, if Node stops reading.
  const readFd = openSync(prepared.scanFifo, constants.O_RDONLY | constants.O_NONBLOCK);
  let tee: RunningTool;
  try {
    const writeFd = openSync(prepared.scanFifo, constants.O_WRONLY);
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
  const records = new DumpScanRecordReader(params.fingerprinter);
  const scanned = new Promise<void>((resolve, reject) => {
    let failure: unknown;
    let ended = false;
    // Node's Socket takes `onread` (documented there since 22); Node 20's types list it for connect only.
    const reader = new Socket({
      fd: readFd,
      readable: true,
      writable: false,
      onread: {
        buffer: Buffer.allocUnsafe(SCAN_READ_BYTES),
        callback: (bytes: number, buffer: Uint8Array) => {
          try {
            records.push(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
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
    // Aborted before the scan started: dbkeep-tee is killed, and the end it leaves has no end record.
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
      else if (!ended || !records.complete) {
        reject(
          params.signal.reason instanceof Error ? params.signal.reason : new Error('the scan of the dump for its fingerprint ended early'),
        );
      } else resolve();
    });
  });
  // Awaited through the stages; nobody awaiting it must not be an unhandled rejection.
  scanned.catch(() => undefined);
  return { tee, scanned };
}

/** Removes a prepared scan's FIFOs and their directory. */
export async function removeDumpScan(prepared: PreparedScan): Promise<void> {
  await rm(prepared.dir, { recursive: true, force: true });
}
