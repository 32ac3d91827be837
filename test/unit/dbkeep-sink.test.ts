import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeToolPath } from '../../pipeline/native-tools';
import { parseSinkSummary } from '../../pipeline/stream-pipelines';
import { ToolFailedError, startTool } from '../../pipeline/tool-process';

/**
 * dbkeep-sink itself (pipeline/native/dbkeep-sink.c, built by `npm run build`): the file it
 * writes holds exactly what it read, the SHA-256 and count it reports are those of the file, and
 * it never writes over an existing file. (An input cut short ends like a whole one, at end of
 * file: the pipeline's other tools fail then, and the object does not commit.)
 */
describe('dbkeep-sink', () => {
  let dir: string;
  const signal = new AbortController().signal;
  const sink = (file: string) => ({ command: nativeToolPath('dbkeep-sink'), args: [file] });
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-sink-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** `content` as a tool writes it (dd, 4 KiB at a time, into a socket), through dbkeep-sink into `file`. */
  async function sinkThroughSocket(content: Buffer, file: string) {
    const input = path.join(dir, `input-${content.length}`);
    writeFileSync(input, content);
    const producer = startTool(
      { command: 'dd', args: [`if=${input}`, 'bs=4k', 'status=none'] },
      { signal, stdin: 'ignore', stdout: 'pipe' },
    );
    const sunk = startTool(sink(file), { signal, stdin: producer.child.stdout!, stdout: 'pipe' });
    producer.child.stdout!.destroy();
    const [summary] = await Promise.all([text(sunk.child.stdout!), producer.finished, sunk.finished]);
    return parseSinkSummary(summary);
  }

  it("writes a tool's output into the file unchanged, and reports the file's SHA-256 and size", async () => {
    for (const content of [randomBytes(5 * 1024 * 1024 + 7), Buffer.alloc(0)]) {
      const file = path.join(dir, `object-${content.length}`);
      const reported = await sinkThroughSocket(content, file);
      expect(readFileSync(file).equals(content)).toBe(true);
      expect(reported).toEqual({ sha256: sha256(content), bytes: content.length });
      // Only the owner reads a repository's object.
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
  });

  it('never writes over a file that is already there', async () => {
    const file = path.join(dir, 'object');
    writeFileSync(file, 'kept');
    const sunk = startTool(sink(file), { signal, stdin: 'ignore', stdout: 'ignore' });
    await expect(sunk.finished).rejects.toBeInstanceOf(ToolFailedError);
    expect(sunk.stderrTail()).toContain(`dbkeep-sink: ${file}: File exists`);
    expect(readFileSync(file, 'utf8')).toBe('kept');
  });

  it('fails with what it could not do when the file cannot be written', async () => {
    const file = path.join(dir, 'missing-directory', 'object');
    const sunk = startTool(sink(file), { signal, stdin: 'ignore', stdout: 'ignore' });
    await expect(sunk.finished).rejects.toThrow(/exited with code 1/);
    expect(sunk.stderrTail()).toContain(`dbkeep-sink: ${file}: No such file or directory`);
    expect(existsSync(file)).toBe(false);
  });

  it('refuses other arguments with its usage line and status 2', async () => {
    const sunk = startTool({ command: nativeToolPath('dbkeep-sink'), args: [] }, { signal, stdin: 'ignore', stdout: 'ignore' });
    await expect(sunk.finished).rejects.toThrow(/exited with code 2/);
    expect(sunk.stderrTail()).toContain('usage: dbkeep-sink FILE < input');
  });

  it('reads its summary line, and refuses anything else', () => {
    const digest = 'ab'.repeat(32);
    expect(parseSinkSummary(`${digest} 12345\n`)).toEqual({ sha256: digest, bytes: 12345 });
    expect(() => parseSinkSummary(`${digest} 12345`)).toThrow(/dbkeep-sink reported/);
    expect(() => parseSinkSummary('')).toThrow(/dbkeep-sink reported/);
  });
});
