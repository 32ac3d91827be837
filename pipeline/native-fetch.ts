import type { Readable } from 'node:stream';
import { s3CertificateRefused } from '../domain/tls-failures';
import type { HttpExchange, ResponseHead, SignedGet } from '../storage/http-exchange';
import type { Storage } from '../storage/storage';
import { nativeToolPath } from './native-tools';
import { startTool, ToolFailedError, type RunningTool } from './tool-process';

/** dbkeep-fetch's exit status when the server's certificate was refused (pipeline/native/dbkeep-fetch.c). */
const CERTIFICATE_REFUSED = 4;

/** A stored object being read by dbkeep-fetch, its response 2xx. */
export interface FetchedObject {
  /** The running dbkeep-fetch: with stdout 'pipe', its child.stdout is the body, for the next tool's stdin. */
  tool: RunningTool;
  /** The body's length and SHA-256 once every byte of it was written; rejects as the tool failed. */
  body: Promise<{ storedBytes: number; sha256: string }>;
}

/**
 * Reads `key` through dbkeep-fetch (pipeline/native/dbkeep-fetch.c) when the storage can sign a
 * GET for another process (S3: Storage.getThrough), so that the body goes from the socket to the
 * next tool without passing through the worker; undefined for any other storage, whose caller
 * reads getStream. Resolves once the response was 2xx, and rejects as getStream would
 * otherwise. The body then flows into `stdout`: 'pipe' for the caller to hand to the next tool,
 * 'ignore' when only its hash matters. Aborting `signal` kills the tool.
 */
export async function fetchStoredObject(
  storage: Storage,
  key: string,
  stdout: 'pipe' | 'ignore',
  signal: AbortSignal,
): Promise<FetchedObject | undefined> {
  if (!storage.getThrough) return undefined;
  // Its own controller: a failure before the body (an error status, a retry's earlier attempt) kills what it started.
  const own = new AbortController();
  const follow = () => own.abort(signal.reason);
  if (signal.aborted) follow();
  signal.addEventListener('abort', follow, { once: true });
  let fetched: FetchedObject | undefined;
  const exchange: HttpExchange = async (request) => {
    const sent = await sendGet(request, stdout, own.signal);
    fetched = sent.object;
    return sent.head;
  };
  try {
    await storage.getThrough(key, exchange, own.signal);
    if (!fetched) throw new Error(`reading ${storage.location}${key}: the response had no body`);
  } catch (err) {
    own.abort(err);
    signal.removeEventListener('abort', follow);
    throw err;
  }
  const done = () => signal.removeEventListener('abort', follow);
  fetched.body.then(done, done);
  return fetched;
}

/** One dbkeep-fetch for one attempt: its response head, and the object when the status is 2xx. */
async function sendGet(
  request: SignedGet,
  stdout: 'pipe' | 'ignore',
  signal: AbortSignal,
): Promise<{ head: ResponseHead; object: FetchedObject | undefined }> {
  const tool = startTool(
    {
      command: nativeToolPath('dbkeep-fetch'),
      args: [request.host, String(request.port), request.scheme, ...trustedCas(request)],
    },
    { signal, stdin: 'pipe', stdout, report: true },
  );
  // The request head is a credential: it goes on a pipe. A tool that failed early stops reading it; its exit status says why.
  tool.child.stdin!.on('error', () => undefined);
  tool.child.stdin!.end(request.head);
  const report = readReport(tool.child.stdio[3] as Readable);
  let head: ResponseHead;
  try {
    head = await report.head;
  } catch {
    await tool.finished.catch((err: unknown) => {
      if (!(err instanceof ToolFailedError && err.exitedOnItsOwn)) throw err;
      // Its one line on stderr, without its name: `connecting to 10.0.0.5:9000: Connection refused`.
      const said = tool
        .stderrTail()
        .trim()
        .split('\n')
        .at(-1)!
        .replace(/^dbkeep-fetch: /, '');
      if (tool.child.exitCode !== CERTIFICATE_REFUSED) throw new Error(said);
      throw s3CertificateRefused(said);
    });
    throw new Error('dbkeep-fetch exited without a response');
  }
  if (head.statusCode < 200 || head.statusCode > 299) {
    await tool.finished;
    return { head: { ...head, errorBody: await report.rest }, object: undefined };
  }
  const body = Promise.all([report.rest, tool.finished]).then(([rest]) => endLine(rest.toString('latin1')));
  body.catch(() => undefined);
  return { head, object: { tool, body } };
}

/**
 * The CAs dbkeep-fetch trusts, as the worker's own TLS does: the repository's CA file alone, or
 * the system's CAs and the file Node adds to its own from NODE_EXTRA_CA_CERTS.
 */
function trustedCas(request: SignedGet): string[] {
  if (request.scheme !== 'https') return [];
  if (request.caFile) return ['--ca', request.caFile];
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  return extra ? ['--extra-ca', extra] : [];
}

/** dbkeep-fetch's report: the response head, then what follows it (an error document, or the `end` line). */
function readReport(report: Readable): { head: Promise<ResponseHead>; rest: Promise<Buffer> } {
  const chunks: Buffer[] = [];
  let headLength = -1;
  let resolveHead: (head: ResponseHead) => void = () => undefined;
  let rejectHead: (err: Error) => void = () => undefined;
  const head = new Promise<ResponseHead>((resolve, reject) => {
    resolveHead = resolve;
    rejectHead = reject;
  });
  const rest = new Promise<Buffer>((resolve, reject) => {
    report.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (headLength >= 0) return;
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      headLength = end + 4;
      chunks.splice(0, chunks.length, all);
      try {
        resolveHead(parseHead(all.subarray(0, end).toString('latin1')));
      } catch (err) {
        rejectHead(err as Error);
      }
    });
    report.on('error', reject);
    report.on('end', () => {
      if (headLength < 0) rejectHead(new Error('no response head'));
      resolve(Buffer.concat(chunks).subarray(Math.max(headLength, 0)));
    });
  });
  rest.catch(() => undefined);
  head.catch(() => undefined);
  return { head, rest };
}

function parseHead(text: string): ResponseHead {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const status = /^HTTP\/1\.\d (\d{3})/.exec(statusLine);
  if (!status) throw new Error(`dbkeep-fetch reported the status line ${JSON.stringify(statusLine.slice(0, 100))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { statusCode: Number(status[1]), headers };
}

function endLine(text: string): { storedBytes: number; sha256: string } {
  const end = /^end (\d+) ([0-9a-f]{64})\n$/.exec(text);
  if (!end) throw new Error(`dbkeep-fetch ended its report with ${JSON.stringify(text.slice(0, 200))}`);
  return { storedBytes: Number(end[1]), sha256: end[2]! };
}
