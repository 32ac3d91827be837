import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * The codec server the Temporal UI (and `temporal` CLI, `--codec-endpoint`) calls to show
 * decoded payloads: POST /decode and /encode with `{ payloads: [{ metadata, data }] }`, bytes
 * as base64, as Temporal's codec server protocol defines. It listens on loopback by default:
 * whoever reaches it can decrypt.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  host?: string;
  port: number;
  /** The UI's origin, allowed by CORS (the browser calls the codec server directly). */
  uiOrigin: string;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

function fromJson(payload: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(payload.data ?? '', 'base64'),
  };
}

function toJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
    data: Buffer.from(payload.data ?? []).toString('base64'),
  };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 4 * 1024 * 1024) throw new Error('request body over 4 MiB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function startCodecServer(options: CodecServerOptions): Promise<Server> {
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    response.setHeader('Access-Control-Allow-Origin', options.uiOrigin);
    response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    response.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
    response.setHeader('Access-Control-Allow-Credentials', 'true');
    if (request.method === 'OPTIONS') return void response.writeHead(204).end();
    const action = request.url?.split('?')[0];
    if (request.method !== 'POST' || (action !== '/decode' && action !== '/encode')) {
      return void response.writeHead(404, { 'Content-Type': 'text/plain' }).end('POST /decode or /encode\n');
    }
    try {
      const body = JSON.parse(await readBody(request)) as { payloads?: JsonPayload[] };
      const payloads = (body.payloads ?? []).map(fromJson);
      const result = action === '/decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ payloads: result.map(toJson) }));
    } catch (error) {
      response.writeHead(400, { 'Content-Type': 'text/plain' }).end(`${(error as Error).message}\n`);
    }
  };
  const server = createServer((request, response) => void handle(request, response));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve(server));
  });
}
