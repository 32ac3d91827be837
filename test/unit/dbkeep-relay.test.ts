import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeToolPath } from '../../pipeline/native-tools';
import { ToolFailedError, startTool } from '../../pipeline/tool-process';

/**
 * dbkeep-relay itself (pipeline/native/dbkeep-relay.c, built by `npm run build`): what it reads
 * reaches its reader unchanged and whole, whatever its input is, and it fails when it cannot
 * deliver. Its batching (naps after small reads) saves CPU, which the bench measures
 * (bench/README.md); here it must only never lose or reorder a byte.
 */
describe('dbkeep-relay', () => {
  let dir: string;
  const signal = new AbortController().signal;
  const relay = { command: nativeToolPath('dbkeep-relay'), args: [] };
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-relay-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("relays a tool's output (a socket), written 4 KiB at a time as a dump tool writes, to Node unchanged", async () => {
    const content = randomBytes(3 * 1024 * 1024 + 5);
    const input = path.join(dir, 'input');
    writeFileSync(input, content);
    const producer = startTool(
      { command: 'dd', args: [`if=${input}`, 'bs=4k', 'status=none'] },
      { signal, stdin: 'ignore', stdout: 'pipe' },
    );
    const relayed = startTool(relay, { signal, stdin: producer.child.stdout!, stdout: 'pipe' });
    producer.child.stdout!.destroy();
    const [bytes] = await Promise.all([buffer(relayed.child.stdout!), producer.finished, relayed.finished]);
    expect(bytes.length).toBe(content.length);
    expect(sha256(bytes)).toBe(sha256(content));
  });

  it('relays a FIFO handed over non-blocking into a file, and an empty input into an empty file', async () => {
    for (const content of [randomBytes(2 * 1024 * 1024 + 1), Buffer.alloc(0)]) {
      const fifo = path.join(dir, `input-${content.length}.fifo`);
      const output = path.join(dir, `output-${content.length}`);
      await startTool({ command: 'mkfifo', args: [fifo] }, { signal, stdin: 'ignore', stdout: 'ignore' }).finished;
      const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const writeFd = openSync(fifo, constants.O_WRONLY);
      const outputFd = openSync(output, 'w');
      const relayed = startTool(relay, { signal, stdin: readFd, stdout: outputFd });
      const source = path.join(dir, `source-${content.length}`);
      writeFileSync(source, content);
      const producer = startTool({ command: 'cat', args: [source] }, { signal, stdin: 'ignore', stdout: writeFd });
      [readFd, writeFd, outputFd].forEach((fd) => closeSync(fd));
      await Promise.all([producer.finished, relayed.finished]);
      expect(sha256(readFileSync(output))).toBe(sha256(content));
    }
  });

  it('fails, rather than ending as if the input were whole, when its reader goes away', async () => {
    const producer = startTool(
      { command: 'head', args: ['-c', String(64 * 1024 * 1024), '/dev/zero'] },
      { signal, stdin: 'ignore', stdout: 'pipe' },
    );
    const relayed = startTool(relay, { signal, stdin: producer.child.stdout!, stdout: 'pipe' });
    producer.child.stdout!.destroy();
    const reader = startTool({ command: 'head', args: ['-c', '1000'] }, { signal, stdin: relayed.child.stdout!, stdout: 'ignore' });
    relayed.child.stdout!.destroy();
    await reader.finished;
    await expect(relayed.finished).rejects.toBeInstanceOf(ToolFailedError);
    await producer.finished.catch(() => undefined);
  });

  it('refuses arguments with its usage line and status 2', async () => {
    const relayed = startTool({ command: relay.command, args: ['extra'] }, { signal, stdin: 'ignore', stdout: 'ignore' });
    await expect(relayed.finished).rejects.toThrow(/exited with code 2/);
    expect(relayed.stderrTail()).toContain('usage: dbkeep-relay < input > output');
  });
});
