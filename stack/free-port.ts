import { createServer } from 'node:net';

/** A port free on 127.0.0.1 right now; a caller racing another process for it may still lose. */
export function findFreePort(): Promise<number> {
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
      server.close(() => resolve(address.port));
    });
  });
}
