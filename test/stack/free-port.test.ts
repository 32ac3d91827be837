import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { findFreePorts } from '../../stack/free-port';

describe('findFreePorts', () => {
  it('gives as many different ports as asked, each free to listen on', async () => {
    const ports = await findFreePorts(6);
    expect(new Set(ports).size).toBe(6);
    for (const port of ports) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
