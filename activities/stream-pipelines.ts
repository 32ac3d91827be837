import type { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ToolCommand } from '../domain/tool-commands';
import type { Storage } from '../storage/storage';
import { ByteMeter } from './byte-meter';
import { startHeartbeats, type Progress } from './heartbeat';
import { runStages } from './stages';
import { startTool, type RunningTool } from './tool-process';

/** What crossed a pipeline: bytes the tool produced or consumed, bytes stored, and the stored bytes' SHA-256. */
export interface StreamedObject {
  rawBytes: number;
  storedBytes: number;
  sha256: string;
}

/**
 * source → head meter → filter tools (compressor, encryptor… in order) → tail meter → sink.
 * Without a sink the tail meter's readable side is left for the caller (the upload) to consume.
 * Returns the running filters and the stream promises, for runStages to watch.
 */
function chainFilters(params: {
  source: Readable;
  head: Transform;
  filters: readonly ToolCommand[];
  tail: Transform;
  /** In-process transforms after the tail meter, before the sink (e.g. OneDatabaseFilter). */
  afterTail?: readonly Transform[];
  sink?: Writable;
  signal: AbortSignal;
}): { tools: RunningTool[]; streams: Promise<void>[] } {
  const { signal } = params;
  const tools = params.filters.map((filter) => startTool(filter, { signal, stdin: 'pipe', stdout: 'pipe' }));
  const ending = [params.tail, ...(params.afterTail ?? []), ...(params.sink ? [params.sink] : [])];
  if (tools.length === 0) return { tools, streams: [pipeline([params.source, params.head, ...ending], { signal })] };
  const streams = [pipeline([params.source, params.head, tools[0]!.child.stdin!], { signal })];
  tools.forEach((tool, index) => {
    const next = tools[index + 1];
    streams.push(pipeline(next ? [tool.child.stdout!, next.child.stdin!] : [tool.child.stdout!, ...ending], { signal }));
  });
  return { tools, streams };
}

/**
 * producer tool → filters (compressor, then encryptor) → repository object, streamed: no
 * staging file, memory bounded by the upload's part buffers. The object only commits if every
 * stage exited cleanly; any failure, or `controller` aborting (activity cancellation), kills the
 * tools and aborts the upload. Heartbeats `{ phase, bytesRead, bytesWritten }` while it runs.
 */
export async function streamToolToRepository(params: {
  producer: ToolCommand;
  filters: readonly ToolCommand[];
  storage: Storage;
  key: string;
  controller: AbortController;
  phase: string;
}): Promise<StreamedObject> {
  const { signal } = params.controller;
  const producer = startTool(params.producer, { signal, stdin: 'ignore', stdout: 'pipe' });
  const raw = new ByteMeter({ sha256: false });
  let producersDone: Promise<unknown> = producer.finished;
  // The upload's body only ends once every tool exited 0; otherwise it errors and the upload aborts.
  const stored = new ByteMeter({ sha256: true, beforeEnd: () => producersDone.then(() => undefined) });
  const chain = chainFilters({ source: producer.child.stdout!, head: raw, filters: params.filters, tail: stored, signal });
  producersDone = Promise.all([producer.finished, ...chain.tools.map((t) => t.finished)]);
  const stopHeartbeats = startHeartbeats(() => ({ phase: params.phase, bytesRead: raw.bytes, bytesWritten: stored.bytes }));
  try {
    await runStages(params.controller, [
      producer.finished,
      ...chain.tools.map((t) => t.finished),
      ...chain.streams,
      params.storage.putStream(params.key, stored, signal),
    ]);
  } finally {
    stopHeartbeats();
  }
  return { rawBytes: raw.bytes, storedBytes: stored.bytes, sha256: stored.sha256() };
}

/**
 * repository object → filters (decryptor, then decompressor) → consumer tool's stdin, hashing
 * the stored bytes on the way. The caller compares the hash with the manifest: the consumer has
 * by then seen the data, so callers verify first (logical) or consume into a scratch place
 * (physical).
 */
export async function streamRepositoryToTool(params: {
  storage: Storage;
  key: string;
  filters: readonly ToolCommand[];
  consumer: ToolCommand;
  /** In-process transforms between the decompressed stream and the consumer. */
  transforms?: readonly Transform[];
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
  const chain = chainFilters({
    source: body,
    head: stored,
    filters: params.filters,
    tail: raw,
    afterTail: params.transforms,
    sink: consumer.child.stdin!,
    signal,
  });
  await runStages(params.controller, [...chain.tools.map((t) => t.finished), consumer.finished, ...chain.streams]);
  return { rawBytes: raw.bytes, storedBytes: stored.bytes, sha256: stored.sha256() };
}
