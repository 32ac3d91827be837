import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { makeScratchDirectory } from './scratch-directory';
import { startTool, type RunningTool } from './tool-process';

/**
 * A copy of a tool's output for Node to read, while the output itself goes from tool to tool
 * without waiting for Node: `tee FIFO` reads the tool's output, writes it into a FIFO that the
 * next tool (zstd) reads by name, and writes the copy to its stdout, which Node reads. Piping a
 * gigabyte through Node cost the worker its event loop and zstd its waits; Node now only reads.
 * (A FIFO, because the child pipes Node makes are sockets, which no tool can open by path.)
 * `tee` and `mkfifo` are coreutils'.
 */
export interface PreparedCopy {
  /** What the next tool reads, by name. */
  fifo: string;
  dir: string;
}

/** Made before the tool starts: once it runs, its output must go to tee in the same tick. */
export async function prepareDumpCopy(signal: AbortSignal): Promise<PreparedCopy> {
  const dir = await makeScratchDirectory('copy');
  const fifo = path.join(dir, 'output.fifo');
  try {
    await startTool({ command: 'mkfifo', args: ['-m', '600', fifo] }, { signal, stdin: 'ignore', stdout: 'ignore' }).finished;
  } catch (error) {
    await removeDumpCopy({ fifo, dir });
    throw error;
  }
  return { fifo, dir };
}

export interface DumpCopy {
  tee: RunningTool;
  /** Resolves once every byte was shown to `observe`; rejects when observing failed. */
  copied: Promise<void>;
}

/**
 * Starts tee on the tool's output, in the same tick as the tool: the output is handed to tee as
 * its file descriptor, and anything Node had read from it before would be lost.
 */
export function startDumpCopy(
  prepared: PreparedCopy,
  params: { source: Readable; observe: (chunk: Buffer) => void; signal: AbortSignal },
): DumpCopy {
  const tee = startTool({ command: 'tee', args: [prepared.fifo] }, { signal: params.signal, stdin: params.source, stdout: 'pipe' });
  const copied = pipeline(
    tee.child.stdout!,
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
  return { tee, copied };
}

/** Removes a prepared copy's FIFO and its directory. */
export async function removeDumpCopy(prepared: PreparedCopy): Promise<void> {
  await rm(prepared.dir, { recursive: true, force: true });
}
