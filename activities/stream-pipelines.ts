import { pipeline } from 'node:stream/promises';
import type { CompressionAlgorithm, CompressionSpec } from '../domain/resources';
import { compressCommand, decompressCommand, type ToolCommand } from '../domain/tool-commands';
import type { Storage } from '../storage/storage';
import { ByteMeter } from './byte-meter';
import { startHeartbeats, type Progress } from './heartbeat';
import { runStages } from './stages';
import { startTool } from './tool-process';

/** What crossed a pipeline: bytes the tool produced or consumed, bytes stored, and the stored bytes' SHA-256. */
export interface StreamedObject {
  rawBytes: number;
  storedBytes: number;
  sha256: string;
}

/**
 * producer tool → compressor → repository object, streamed: no staging file, memory bounded
 * by the upload's part buffers. The object only commits if every stage exited cleanly;
 * any failure, or `controller` aborting (activity cancellation), kills the tools and aborts
 * the upload. Heartbeats `{ phase, bytesRead, bytesWritten }` while it runs.
 */
export async function streamToolToRepository(params: {
  producer: ToolCommand;
  compression: CompressionSpec;
  storage: Storage;
  key: string;
  controller: AbortController;
  phase: string;
}): Promise<StreamedObject> {
  const { signal } = params.controller;
  const producer = startTool(params.producer, { signal, stdin: 'ignore', stdout: 'pipe' });
  const compress = compressCommand(params.compression);
  const compressor = compress ? startTool(compress, { signal, stdin: 'pipe', stdout: 'pipe' }) : undefined;
  const producers = Promise.all([producer.finished, compressor?.finished]);
  const raw = new ByteMeter({ sha256: false });
  // The upload's body only ends once every tool exited 0; otherwise it errors and the upload aborts.
  const stored = new ByteMeter({ sha256: true, beforeEnd: () => producers.then(() => undefined) });
  const streams = compressor
    ? [
        pipeline(producer.child.stdout!, raw, compressor.child.stdin!, { signal }),
        pipeline(compressor.child.stdout!, stored, { signal }),
      ]
    : [pipeline(producer.child.stdout!, raw, stored, { signal })];
  const stopHeartbeats = startHeartbeats(() => ({ phase: params.phase, bytesRead: raw.bytes, bytesWritten: stored.bytes }));
  try {
    await runStages(params.controller, [
      producer.finished,
      compressor?.finished,
      ...streams,
      params.storage.putStream(params.key, stored, signal),
    ]);
  } finally {
    stopHeartbeats();
  }
  return { rawBytes: raw.bytes, storedBytes: stored.bytes, sha256: stored.sha256() };
}

/**
 * repository object → decompressor → consumer tool's stdin, hashing the stored bytes on the
 * way. The caller compares the hash with the manifest: the consumer has by then seen the
 * data, so callers verify first (logical) or consume into a scratch place (physical).
 */
export async function streamRepositoryToTool(params: {
  storage: Storage;
  key: string;
  algorithm: CompressionAlgorithm;
  consumer: ToolCommand;
  controller: AbortController;
  progress: Progress;
}): Promise<StreamedObject> {
  const { signal } = params.controller;
  const stored = new ByteMeter({ sha256: true });
  const raw = new ByteMeter({ sha256: false });
  stored.on('data', () => (params.progress.bytesRead = stored.bytes));
  raw.on('data', () => (params.progress.bytesWritten = raw.bytes));
  const body = await params.storage.getStream(params.key, signal);
  const consumer = startTool(params.consumer, { signal, stdin: 'pipe', stdout: 'ignore' });
  const decompress = decompressCommand(params.algorithm);
  const decompressor = decompress ? startTool(decompress, { signal, stdin: 'pipe', stdout: 'pipe' }) : undefined;
  const streams = decompressor
    ? [
        pipeline(body, stored, decompressor.child.stdin!, { signal }),
        pipeline(decompressor.child.stdout!, raw, consumer.child.stdin!, { signal }),
      ]
    : [pipeline(body, stored, raw, consumer.child.stdin!, { signal })];
  await runStages(params.controller, [decompressor?.finished, consumer.finished, ...streams]);
  return { rawBytes: raw.bytes, storedBytes: stored.bytes, sha256: stored.sha256() };
}
