import { createServer, type Server } from 'node:net';

/** A port free on 127.0.0.1 right now; a caller racing another process for it may still lose. */
export function findFreePort(): Promise<number> {
  return listenOnce(0);
}

/**
 * `count` ports free on 127.0.0.1 right now, all different: each is held until every one is
 * found. (Ports found one after another may repeat: a port let go is free for the next search.)
 */
export async function findFreePorts(count: number): Promise<number[]> {
  const held = await Promise.all(Array.from({ length: count }, () => holdFreePort()));
  await Promise.all(held.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return held.map(({ port }) => port);
}

function holdFreePort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('listening on 127.0.0.1:0 gave no TCP port'));
        return;
      }
      resolve({ server, port: address.port });
    });
  });
}

/** `preferred` when nothing listens on it, so well-known ports (7233, 8233) are kept when free; otherwise any free port. */
export async function preferPort(preferred: number | undefined): Promise<number> {
  if (preferred !== undefined) {
    const port = await listenOnce(preferred).catch(() => undefined);
    if (port !== undefined) return port;
  }
  return findFreePort();
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`listening on 127.0.0.1:${port} gave no TCP port`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
