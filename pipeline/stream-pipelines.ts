import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, Writable, type Readable, type Transform } from 'node:stream';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import type { ToolCommand } from '../domain/tool-commands';
import type { Progress } from '../domain/progress';
import type { Storage } from '../storage/storage';
import type { DumpFingerprinter } from '../domain/dump-fingerprint';
import { ByteMeter } from './byte-meter';
import { nativeToolPath } from './native-tools';
import { prepareDumpScan, removeDumpScan, startDumpScan, type PreparedScan } from './dump-scan';
import { fetchStoredObject, type FetchedObject } from './native-fetch';
import { runStages } from './stages';
import { startTool, type RunningTool } from './tool-process';

/**
 * Reports `read()` from time to time until the returned function is called. Activities pass
 * startHeartbeats (activities/heartbeat.ts): the pipeline itself knows nothing of Temporal.
 */
export type ProgressReporter = (read: () => Progress) => () => void;

/** What crossed a pipeline: bytes the tool produced or consumed, bytes stored, and the stored bytes' SHA-256. */
export interface StreamedObject {
  rawBytes: number;
  storedBytes: number;
  sha256: string;
}

/** The first bytes a producer wrote (its header), as they passed through Node: raw, or compressed by zstd. */
export interface CapturedHead {
  bytes: Buffer;
  zstd: boolean;
}

/** How much of a dump's beginning is kept: its header (options, replication position) is a few KB. */
const HEAD_BYTES = 64 * 1024;

/** Keeps the first HEAD_BYTES of what flows through `stream`, without taking part in its flow. */
function captureHead(stream: Readable): () => Buffer {
  const chunks: Buffer[] = [];
  let length = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk.subarray(0, HEAD_BYTES - length));
    length += chunks.at(-1)!.length;
    if (length >= HEAD_BYTES) stream.off('data', onData);
  };
  stream.on('data', onData);
  return () => Buffer.concat(chunks);
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
 * tools and aborts the upload. Reports `{ phase, bytesRead, bytesWritten }` while it runs.
 *
 * When the first filter is zstd it reads the producer's stdout directly, in batches through
 * dbkeep-relay: the uncompressed stream (four to five times the stored one) then never passes
 * through Node, which is what bounded backup throughput. zstd -vv reports the exact byte count
 * on exit, and progress reads how much zstd has consumed from /proc. A `fingerprinter` is then given dbkeep-tee's scan of the
 * dump (pipeline/dump-scan.ts); otherwise it reads the dump as it passes through Node. When zstd
 * is the only filter and the repository is a directory, zstd's output goes into the object's
 * file through dbkeep-sink (streamIntoFile), and no byte of the backup passes through Node.
 */
export async function streamToolToRepository(params: {
  producer: ToolCommand;
  filters: readonly ToolCommand[];
  storage: Storage;
  key: string;
  controller: AbortController;
  phase: string;
  reportProgress: ProgressReporter;
  /** Reads the producer's dump for its fingerprint: from dbkeep-tee's scan when zstd reads the dump directly. */
  fingerprinter?: DumpFingerprinter;
}): Promise<StreamedObject & { head: CapturedHead; producerStderrTail: string }> {
  const { signal } = params.controller;
  const [first, ...rest] = params.filters;
  const prepared = params.fingerprinter && first?.command === 'zstd' ? await prepareDumpScan(signal) : undefined;
  try {
    return await streamThroughTools({ ...params, first, rest, prepared });
  } finally {
    if (prepared) await removeDumpScan(prepared);
  }
}

type ThroughToolsParams = Parameters<typeof streamToolToRepository>[0] & {
  first: ToolCommand | undefined;
  rest: ToolCommand[];
  prepared: PreparedScan | undefined;
};

type StreamedBackup = StreamedObject & { head: CapturedHead; producerStderrTail: string };

async function streamThroughTools(params: ThroughToolsParams): Promise<StreamedBackup> {
  // zstd's output, when nothing comes after it, goes from zstd into a directory repository's file through dbkeep-sink.
  if (params.first?.command === 'zstd' && params.rest.length === 0 && params.storage.putWrittenFile) {
    let streamed: StreamedBackup | undefined;
    await params.storage.putWrittenFile(params.key, async (file) => {
      streamed = await streamIntoFile(params, file);
    });
    return streamed!;
  }
  const { signal } = params.controller;
  const { rest } = params;
  const { producer, scan, relay, direct } = startProducer(params);
  const { fingerprinter } = params;
  // Counts the uncompressed bytes when they pass through Node (no direct zstd).
  const raw = direct
    ? undefined
    : new ByteMeter({ sha256: false, ...(fingerprinter ? { observe: (chunk: Buffer) => fingerprinter.push(chunk) } : {}) });
  let producersDone: Promise<unknown> = producer.finished;
  // The upload's body only ends once every tool exited 0; otherwise it errors and the upload aborts.
  const stored = new ByteMeter({ sha256: true, beforeEnd: () => producersDone.then(() => undefined) });
  const head = direct ? new PassThrough() : raw!;
  const chain = direct
    ? chainFilters({ source: direct.child.stdout!, head, filters: rest, tail: stored, signal })
    : chainFilters({ source: producer.child.stdout!, head, filters: params.filters, tail: stored, signal });
  const headBytes = captureHead(head);
  const tools = [...(scan ? [scan.tee] : []), ...(relay ? [relay] : []), ...(direct ? [direct] : []), ...chain.tools];
  producersDone = Promise.all([producer.finished, ...tools.map((t) => t.finished)]);
  // Only the upload body awaits it; runStages reports the failure, so it must never go unhandled.
  producersDone.catch(() => undefined);
  const bytesRead = () => (direct ? processIoBytes(direct.child.pid, 'rchar') : raw!.bytes);
  const stopReporting = params.reportProgress(() => ({ phase: params.phase, bytesRead: bytesRead(), bytesWritten: stored.bytes }));
  try {
    await runStages(params.controller, [
      producer.finished,
      ...tools.map((t) => t.finished),
      ...chain.streams,
      ...(scan ? [scan.scanned] : []),
      params.storage.putStream(params.key, stored, signal),
    ]);
  } finally {
    stopReporting();
  }
  const rawBytes = direct ? zstdInputBytes(direct.stderrTail()) : raw!.bytes;
  return {
    rawBytes,
    storedBytes: stored.bytes,
    sha256: stored.sha256(),
    head: { bytes: headBytes(), zstd: direct !== undefined },
    // mariadb-backup says where the copy stands in the binary log near its end (domain/replication-position.ts).
    producerStderrTail: producer.stderrTail(),
  };
}

/**
 * The producer, and when the first filter is zstd, zstd reading its output directly: through
 * dbkeep-relay, or with a scan the FIFO dbkeep-tee writes, by name.
 */
function startProducer(params: ThroughToolsParams): {
  producer: RunningTool;
  scan: ReturnType<typeof startDumpScan> | undefined;
  relay: RunningTool | undefined;
  direct: RunningTool | undefined;
} {
  const { signal } = params.controller;
  const { first, prepared, fingerprinter } = params;
  const producer = startTool(params.producer, { signal, stdin: 'ignore', stdout: 'pipe' });
  const scan = prepared && fingerprinter ? startDumpScan(prepared, { source: producer.child.stdout!, fingerprinter, signal }) : undefined;
  const relay = first?.command === 'zstd' && !scan ? startBatchingRelay(producer.child.stdout!, signal) : undefined;
  const direct =
    first?.command === 'zstd'
      ? startTool(verboseZstd(first, prepared?.fifo), { signal, stdin: relay ? relay.child.stdout! : 'ignore', stdout: 'pipe' })
      : undefined;
  // The next tool holds its own copy of the pipe; ours must close, or the writer's 'close' never comes.
  if (direct || scan) producer.child.stdout!.destroy();
  relay?.child.stdout!.destroy();
  return { producer, scan, relay, direct };
}

/**
 * producer → zstd → dbkeep-sink (pipeline/native/dbkeep-sink.c) → `file`: the compressed bytes
 * never pass through Node either. dbkeep-sink reports their SHA-256 and count when it exits;
 * progress reads how much it has written from /proc, and the head is read back from the file.
 */
async function streamIntoFile(params: ThroughToolsParams, file: string): Promise<StreamedBackup> {
  const { signal } = params.controller;
  const { producer, scan, relay, direct } = startProducer(params);
  // streamThroughTools calls this only when zstd is the first filter, so zstd reads the producer directly.
  const zstd = direct!;
  const sink = startTool({ command: nativeToolPath('dbkeep-sink'), args: [file] }, { signal, stdin: zstd.child.stdout!, stdout: 'pipe' });
  zstd.child.stdout!.destroy();
  const summary = text(sink.child.stdout!);
  const tools = [producer, ...(scan ? [scan.tee] : []), ...(relay ? [relay] : []), zstd, sink];
  const stopReporting = params.reportProgress(() => ({
    phase: params.phase,
    bytesRead: processIoBytes(zstd.child.pid, 'rchar'),
    bytesWritten: processIoBytes(sink.child.pid, 'wchar'),
  }));
  try {
    await runStages(params.controller, [...tools.map((t) => t.finished), ...(scan ? [scan.scanned] : []), summary]);
  } finally {
    stopReporting();
  }
  const stored = parseSinkSummary(await summary);
  return {
    rawBytes: zstdInputBytes(zstd.stderrTail()),
    storedBytes: stored.bytes,
    sha256: stored.sha256,
    head: { bytes: await readFileHead(file), zstd: true },
    producerStderrTail: producer.stderrTail(),
  };
}

/** `<64 hex digits> <count>`: what dbkeep-sink writes on standard output when it exits 0. */
export function parseSinkSummary(summary: string): { sha256: string; bytes: number } {
  const match = /^([0-9a-f]{64}) (\d+)\n$/.exec(summary);
  if (!match) throw new Error(`dbkeep-sink reported ${JSON.stringify(summary.slice(0, 200))}, not "<sha256> <bytes>"`);
  return { sha256: match[1]!, bytes: Number(match[2]) };
}

async function readFileHead(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(HEAD_BYTES), 0, HEAD_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * bytes already in hand (a range of a local file) → filters (compressor, then encryptor) →
 * repository object. As streamToolToRepository, the object commits only if every stage ended
 * cleanly, and `controller` aborting kills the filters and aborts the upload.
 */
export async function streamReadableToRepository(params: {
  source: Readable;
  filters: readonly ToolCommand[];
  storage: Storage;
  key: string;
  controller: AbortController;
}): Promise<StreamedObject> {
  const { signal } = params.controller;
  const raw = new ByteMeter({ sha256: false });
  let filtersDone: Promise<unknown> = Promise.resolve();
  const stored = new ByteMeter({ sha256: true, beforeEnd: () => filtersDone.then(() => undefined) });
  const chain = chainFilters({ source: params.source, head: raw, filters: params.filters, tail: stored, signal });
  filtersDone = Promise.all(chain.tools.map((t) => t.finished));
  filtersDone.catch(() => undefined);
  await runStages(params.controller, [
    ...chain.tools.map((t) => t.finished),
    ...chain.streams,
    params.storage.putStream(params.key, stored, signal),
  ]);
  return { rawBytes: raw.bytes, storedBytes: stored.bytes, sha256: stored.sha256() };
}

/**
 * The captured head as text. A zstd-compressed head is a cut-off frame: `zstd -d` writes every
 * block it could decode, then exits non-zero on the missing rest, which is expected here.
 */
export async function decodeCapturedHead(head: CapturedHead): Promise<string> {
  if (!head.zstd) return head.bytes.toString('utf8');
  const controller = new AbortController();
  const zstd = startTool({ command: 'zstd', args: ['-d', '-c', '-q'] }, { signal: controller.signal, stdin: 'pipe', stdout: 'pipe' });
  const out: Buffer[] = [];
  zstd.child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  zstd.child.stdin!.on('error', () => undefined);
  zstd.child.stdin!.end(head.bytes);
  await zstd.finished.catch(() => undefined);
  return Buffer.concat(out).toString('utf8');
}

/**
 * dbkeep-relay (pipeline/native/dbkeep-relay.c) on a producer's output: zstd reads the relay's
 * batches instead of every few-KiB write of the dump tool, which woke it 220,000 times per GiB.
 */
function startBatchingRelay(output: Readable, signal: AbortSignal): RunningTool {
  return startTool({ command: nativeToolPath('dbkeep-relay'), args: [] }, { signal, stdin: output, stdout: 'pipe' });
}

/** The same zstd invocation, made to report its totals on stderr, reading `input` by name when given (else stdin). */
function verboseZstd(command: ToolCommand, input?: string): ToolCommand {
  return { command: command.command, args: [...command.args.filter((arg) => arg !== '-q'), '-vv', ...(input ? ['--', input] : [])] };
}

/** `(1082734735 B => 285183946 B, ...)`: zstd's summary line when compressing with -vv. */
export function zstdInputBytes(stderr: string): number {
  // zstd pads the numbers to a width: `(   300 B =>    231 B`.
  const matches = [...stderr.matchAll(/\(\s*(\d+) B =>\s*(\d+) B/g)];
  const last = matches.at(-1);
  if (!last) throw new Error(`zstd did not report its byte counts (stderr ended with: ${stderr.slice(-200)})`);
  return Number(last[1]);
}

const IO_COUNTERS = { rchar: /^rchar: (\d+)$/m, wchar: /^wchar: (\d+)$/m };

/** Bytes a process has read (rchar) or written (wchar) so far, from Linux /proc/<pid>/io; 0 where that is not available. */
function processIoBytes(pid: number | undefined, counter: keyof typeof IO_COUNTERS): number {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return Number(IO_COUNTERS[counter].exec(io)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** `/*stdin*\\   : 1082734735 bytes`: zstd's summary line when decompressing with -vv. */
export function zstdOutputBytes(stderr: string): number {
  const last = [...stderr.matchAll(/:\s*(\d+) bytes\s*$/gm)].at(-1);
  if (!last) throw new Error(`zstd did not report its byte count (stderr ended with: ${stderr.slice(-200)})`);
  return Number(last[1]);
}

/**
 * The stored object through SHA-256 and nowhere else: a restore's checksum pass, before anything
 * is applied. From S3 dbkeep-fetch reads and hashes it (pipeline/native-fetch.ts), without the
 * worker; from a directory Node does.
 */
export async function hashStoredObject(params: {
  storage: Storage;
  key: string;
  signal: AbortSignal;
  progress: Progress;
}): Promise<{ storedBytes: number; sha256: string }> {
  const { storage, key, signal, progress } = params;
  const fetched = await fetchStoredObject(storage, key, 'ignore', signal);
  if (fetched) {
    const fetcher = fetched.tool.child.pid;
    const stopReporting = reportEverySecond(() => (progress.bytesRead = processIoBytes(fetcher, 'wchar')));
    try {
      const hashed = await fetched.body;
      progress.bytesRead = hashed.storedBytes;
      return hashed;
    } finally {
      stopReporting();
    }
  }
  const meter = new ByteMeter({ sha256: true });
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const body = await storage.getStream(key, signal);
  meter.on('data', () => (progress.bytesRead = meter.bytes));
  await pipeline(body, meter, sink, { signal });
  return { storedBytes: meter.bytes, sha256: meter.sha256() };
}

/**
 * repository object → filters (decryptor, then decompressor) → in-process transforms → sink,
 * hashing the stored bytes on the way. The caller compares the hash with the manifest.
 */
export async function streamRepositoryToSink(params: RepositoryToSinkParams & { storage: Storage; key: string }): Promise<StreamedObject> {
  const body = await params.storage.getStream(params.key, params.controller.signal);
  return streamBodyToSink({ ...params, body });
}

interface RepositoryToSinkParams {
  filters: readonly ToolCommand[];
  transforms?: readonly Transform[];
  sink: Writable;
  controller: AbortController;
  progress: Progress;
  /** More stages to wait for with the pipeline's (the tool behind the sink). */
  alsoWaitFor?: readonly Promise<unknown>[];
}

async function streamBodyToSink(params: RepositoryToSinkParams & { body: Readable }): Promise<StreamedObject> {
  const { signal } = params.controller;
  const stored = new ByteMeter({ sha256: true });
  const raw = new ByteMeter({ sha256: false });
  stored.on('data', () => (params.progress.bytesRead = stored.bytes));
  raw.on('data', () => (params.progress.bytesWritten = raw.bytes));
  const chain = chainFilters({
    source: params.body,
    head: stored,
    filters: params.filters,
    tail: raw,
    afterTail: params.transforms,
    sink: params.sink,
    signal,
  });
  await runStages(params.controller, [...chain.tools.map((t) => t.finished), ...chain.streams, ...(params.alsoWaitFor ?? [])]);
  return { rawBytes: raw.bytes, storedBytes: stored.bytes, sha256: stored.sha256() };
}

/**
 * repository object → filters (decryptor, then decompressor) → consumer tool's stdin, hashing
 * the stored bytes on the way. The caller compares the hash with the manifest: the consumer has
 * by then seen the data, so callers verify first (logical), or consume into a scratch place
 * (physical, and the parallel restore's staging). `readConsumerOutput` reads what the consumer
 * prints, as one more stage.
 *
 * When the last filter is zstd and nothing runs in process, the consumer reads zstd's stdout
 * directly, as on backup: the uncompressed stream never passes through Node. zstd -vv reports
 * the byte count on exit, and progress reads how much the consumer has read from /proc.
 */
export async function streamRepositoryToTool(params: {
  storage: Storage;
  key: string;
  filters: readonly ToolCommand[];
  consumer: ToolCommand;
  /** In-process transforms between the decompressed stream and the consumer. */
  transforms?: readonly Transform[];
  readConsumerOutput?: (stdout: Readable) => Promise<void>;
  controller: AbortController;
  progress: Progress;
}): Promise<StreamedObject> {
  const { signal } = params.controller;
  const stdout = params.readConsumerOutput ? 'pipe' : 'ignore';
  const reading = (consumer: RunningTool) => (params.readConsumerOutput ? [params.readConsumerOutput(consumer.child.stdout!)] : []);
  const last = params.filters.at(-1);
  const direct = last?.command === 'zstd' && (params.transforms?.length ?? 0) === 0;
  // Opened before any tool starts: an object that cannot be read leaves no tool waiting for input.
  const fetched = direct ? await fetchStoredObject(params.storage, params.key, 'pipe', signal) : undefined;
  if (fetched && last) return streamFetchedToTool({ ...params, fetched, decompressor: last, stdout, reading });
  const body = await params.storage.getStream(params.key, signal);
  if (!direct) {
    const consumer = startTool(params.consumer, { signal, stdin: 'pipe', stdout });
    return streamBodyToSink({ ...params, body, sink: consumer.child.stdin!, alsoWaitFor: [consumer.finished, ...reading(consumer)] });
  }
  const decompressor = startTool(verboseZstd(last), { signal, stdin: 'pipe', stdout: 'pipe' });
  const consumer = startTool(params.consumer, { signal, stdin: decompressor.child.stdout!, stdout });
  // The consumer holds its own copy of the pipe; ours must close, or zstd's 'close' never comes.
  decompressor.child.stdout!.destroy();
  // The pipeline reports stored bytes into `inner`; the caller's progress gets those and the consumer's intake.
  const inner: Progress = { phase: params.progress.phase, bytesRead: 0, bytesWritten: 0 };
  const stopReporting = reportEverySecond(() => {
    params.progress.bytesRead = inner.bytesRead;
    params.progress.bytesWritten = processIoBytes(consumer.child.pid, 'rchar');
  });
  let streamed: StreamedObject;
  try {
    streamed = await streamBodyToSink({
      ...params,
      body,
      filters: params.filters.slice(0, -1),
      progress: inner,
      sink: decompressor.child.stdin!,
      alsoWaitFor: [decompressor.finished, consumer.finished, ...reading(consumer)],
    });
  } finally {
    stopReporting();
  }
  return { ...streamed, rawBytes: zstdOutputBytes(decompressor.stderrTail()) };
}

/**
 * dbkeep-fetch → filters (a decryptor) → zstd → consumer, each reading the one before it
 * directly: no byte of the object passes through Node. dbkeep-fetch hashes the stored bytes,
 * zstd -vv reports the raw ones, and progress reads both tools' intake from /proc.
 */
async function streamFetchedToTool(params: {
  fetched: FetchedObject;
  filters: readonly ToolCommand[];
  decompressor: ToolCommand;
  consumer: ToolCommand;
  stdout: 'pipe' | 'ignore';
  reading: (consumer: RunningTool) => Promise<void>[];
  controller: AbortController;
  progress: Progress;
}): Promise<StreamedObject> {
  const { signal } = params.controller;
  const tools: RunningTool[] = [];
  let input = params.fetched.tool.child.stdout!;
  for (const filter of [...params.filters.slice(0, -1), verboseZstd(params.decompressor)]) {
    const tool = startTool(filter, { signal, stdin: input, stdout: 'pipe' });
    // The next tool holds its own copy of the pipe; ours must close, or the writer's 'close' never comes.
    input.destroy();
    input = tool.child.stdout!;
    tools.push(tool);
  }
  const consumer = startTool(params.consumer, { signal, stdin: input, stdout: params.stdout });
  input.destroy();
  const fetcher = params.fetched.tool.child.pid;
  const stopReporting = reportEverySecond(() => {
    params.progress.bytesRead = processIoBytes(fetcher, 'wchar');
    params.progress.bytesWritten = processIoBytes(consumer.child.pid, 'rchar');
  });
  try {
    await runStages(params.controller, [
      params.fetched.body,
      ...tools.map((t) => t.finished),
      consumer.finished,
      ...params.reading(consumer),
    ]);
  } finally {
    stopReporting();
  }
  const { storedBytes, sha256 } = await params.fetched.body;
  params.progress.bytesRead = storedBytes;
  return { storedBytes, sha256, rawBytes: zstdOutputBytes(tools.at(-1)!.stderrTail()) };
}

/** Runs `report` every second until the returned function is called. */
function reportEverySecond(report: () => void): () => void {
  const timer = setInterval(report, 1000);
  return () => clearInterval(timer);
}
