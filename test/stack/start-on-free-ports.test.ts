import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPushgateway } from '../../stack/pushgateway';
import { startOnFreePorts } from '../../stack/start-on-free-ports';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-port-clash-'));
let blocker: Server;
let takenPort: number;

beforeAll(async () => {
  // Hangs up at once: the waits for readiness connect to the port too.
  blocker = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  takenPort = (blocker.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

describe('startOnFreePorts', () => {
  it('starts a server again on another port when another process holds the first one', async () => {
    let attempts = 0;
    const server = await startOnFreePorts(() => {
      attempts++;
      return startPushgateway({ dir: join(scratch, 'moved'), port: attempts === 1 ? takenPort : undefined });
    });
    try {
      expect(attempts).toBe(2);
      expect(server.port).not.toBe(takenPort);
      expect((await fetch(`${server.url}/-/ready`)).ok).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('gives up with the server’s own words after three clashes, and never retries another failure', async () => {
    await expect(startPushgateway({ dir: join(scratch, 'taken'), port: takenPort })).rejects.toThrow(/address already in use/i);
    let attempts = 0;
    await expect(
      startOnFreePorts(async () => {
        attempts++;
        throw new Error('permission denied');
      }),
    ).rejects.toThrow('permission denied');
    expect(attempts).toBe(1);
  });
});
