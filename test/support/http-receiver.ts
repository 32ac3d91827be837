import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: its path, body, the status it answered (undefined: it never answered), and when. */
export interface ReceivedRequest {
  path: string;
  body: string;
  status: number | undefined;
  at: number;
}

export interface HttpReceiver {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * A local HTTP server on 127.0.0.1 that records every request, as webhooks and hooks are tested
 * against; `answer` decides each request's status, or holds it unanswered (undefined).
 */
export async function startHttpReceiver(answer: (path: string) => number | undefined): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      const path = request.url ?? '';
      const status = answer(path);
      requests.push({ path, body, status, at: Date.now() });
      if (status !== undefined) response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
