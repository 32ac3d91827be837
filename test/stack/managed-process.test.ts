import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isPidAlive, startManagedProcess, stopPid } from '../../pipeline/managed-process';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-process-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function startNode(script: string, name: string) {
  return startManagedProcess({ command: process.execPath, args: ['-e', script], logFile: join(scratch, `${name}.log`) });
}

describe('startManagedProcess', () => {
  it('fails fast with the log tail when the process exits before it is ready', async () => {
    const child = startNode("for (let i = 0; i < 30; i++) console.error('line ' + i); process.exit(3)", 'exits');
    const started = Date.now();
    await expect(child.waitUntil(async () => false, { timeoutMs: 30_000, what: 'test server' })).rejects.toThrow(
      /test server: .* exited with code 3 before it was ready\n[^]*line 29$/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('names the last probe error when the timeout runs out', async () => {
    const child = startNode('setInterval(() => {}, 1000)', 'times-out');
    try {
      await expect(
        child.waitUntil(
          async () => {
            throw new Error('connection refused');
          },
          { timeoutMs: 300, what: 'test server' },
        ),
      ).rejects.toThrow(/not ready after 300 ms \(last probe error: connection refused\)/);
    } finally {
      child.kill();
    }
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const child = startNode("process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)", 'stubborn');
    // 'up' is printed after the handler is installed; a SIGTERM before that would end it alone.
    await child.waitUntil(async () => readFileSync(child.logFile, 'utf8').includes('up'), {
      timeoutMs: 10_000,
      what: 'stubborn',
    });
    await child.stop('SIGTERM', 300);
    expect(isPidAlive(child.pid)).toBe(false);
  });

  it('leaves a detached process running until stopPid ends it', async () => {
    const child = startManagedProcess({
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      logFile: join(scratch, 'detached.log'),
      detached: true,
    });
    expect(isPidAlive(child.pid)).toBe(true);
    await stopPid(child.pid);
    expect(isPidAlive(child.pid)).toBe(false);
    await expect(stopPid(child.pid)).resolves.toBeUndefined();
  });
});
