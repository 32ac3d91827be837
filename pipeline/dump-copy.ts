import { createReadStream, constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { makeScratchDirectory } from './scratch-directory';
import { startTool, type RunningTool } from './tool-process';

/**
 * A copy of a tool's output for Node to read, while the output itself goes from tool to tool
 * without passing through Node: `tee FIFO` between them, and Node reading the FIFO (the tools'
 * pipes and Node's child sockets cannot be reopened by path; a FIFO can). Piping a gigabyte
 * through Node costs the worker its event loop and the next tool its waits; reading a copy only
 * costs the reading. `tee` and `mkfifo` are coreutils'.
 */
export interface DumpCopy {
  /** The output, for the next tool's stdin. */
  output: Readable;
  tee: RunningTool;
  /** Resolves once every byte was shown to `observe`; rejects when reading or observing failed. */
  copied: Promise<void>;
  /** Releases a reader still waiting for tee to open the FIFO, and stops reading. */
  release(): Promise<void>;
}

/** The FIFO a copy goes through, made before the tool starts: once it runs, its output must go to tee at once. */
export interface PreparedCopy {
  fifo: string;
  dir: string;
}

export async function prepareDumpCopy(signal: AbortSignal): Promise<PreparedCopy> {
  const dir = await makeScratchDirectory('copy');
  const fifo = path.join(dir, 'output.fifo');
  try {
    await startTool({ command: 'mkfifo', args: ['-m', '600', fifo] }, { signal, stdin: 'ignore', stdout: 'ignore' }).finished;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { fifo, dir };
}

/**
 * Starts tee on the tool's output in the same tick as the tool: the output stream is handed to
 * tee as its file descriptor, and anything Node had read from it before would be lost.
 */
export function startDumpCopy(
  prepared: PreparedCopy,
  params: { source: Readable; observe: (chunk: Buffer) => void; signal: AbortSignal },
): DumpCopy {
  const { fifo } = prepared;
  const tee = startTool({ command: 'tee', args: [fifo] }, { signal: params.signal, stdin: params.source, stdout: 'pipe' });
  let opened = false;
  const reader = createReadStream(fifo, { highWaterMark: 1024 * 1024 });
  reader.once('open', () => (opened = true));
  const copied = pipeline(
    reader,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        try {
          params.observe(chunk);
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
    }),
    { signal: params.signal },
  );
  // Awaited through the stages; nobody awaiting it must not be an unhandled rejection.
  copied.catch(() => undefined);
  return {
    output: tee.child.stdout!,
    tee,
    copied,
    async release() {
      // Opening the FIFO for reading waits for a writer: one that tee never became is made here.
      if (!opened)
        await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).then(
          (handle) => handle.close(),
          () => undefined,
        );
      reader.destroy();
    },
  };
}

/** Removes a prepared copy's FIFO and directory. */
export async function removeDumpCopy(prepared: PreparedCopy): Promise<void> {
  await rm(prepared.dir, { recursive: true, force: true });
}
