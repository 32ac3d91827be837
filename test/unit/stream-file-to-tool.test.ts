import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { restoreFilters } from '../../domain/tool-commands';
import { streamFileToTool } from '../../pipeline/stream-pipelines';
import { ToolFailedError } from '../../pipeline/tool-process';

/**
 * A parallel restore's read of the snapshot's verified copy (pipeline/stream-pipelines.ts): real
 * zstd and age, a consumer that prints what it was given. Every combination of filters gives the
 * consumer the dump exactly, and the count of what the filters produced.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-file-to-tool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DUMP = Array.from({ length: 20_000 }, (_, i) => `INSERT INTO \`t\` VALUES (${i},'row ${i}');\n`).join('');

async function consume(file: string, filters: Parameters<typeof streamFileToTool>[0]['filters'], transforms: Transform[] = []) {
  let printed = '';
  const streamed = await streamFileToTool({
    file,
    filters,
    consumer: { command: 'cat', args: [] },
    transforms,
    readConsumerOutput: async (stdout: Readable) => {
      printed = await text(stdout);
    },
    controller: new AbortController(),
    progress: { phase: 'applying', bytesRead: 0, bytesWritten: 0 },
  });
  return { printed, rawBytes: streamed.rawBytes };
}

describe('streamFileToTool', () => {
  const compressed = path.join(dir, 'dump.sql.zst');
  writeFileSync(compressed, execFileSync('zstd', ['-3', '-c', '-q'], { input: DUMP }));

  it('gives the consumer zstd’s output directly, and counts it from zstd’s report', async () => {
    expect(await consume(compressed, restoreFilters({ algorithm: 'zstd' }))).toEqual({ printed: DUMP, rawBytes: DUMP.length });
  });

  it('decrypts with age before zstd, and passes an uncompressed copy as it is', async () => {
    const identity = path.join(dir, 'identity');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity]).toString().trim();
    const encrypted = path.join(dir, 'dump.sql.zst.age');
    writeFileSync(
      encrypted,
      execFileSync('age', ['--encrypt', '--recipient', recipient], { input: execFileSync('zstd', ['-c', '-q'], { input: DUMP }) }),
    );
    expect(await consume(encrypted, restoreFilters({ algorithm: 'zstd', identityFile: identity }))).toEqual({
      printed: DUMP,
      rawBytes: DUMP.length,
    });
    const plain = path.join(dir, 'dump.sql');
    writeFileSync(plain, DUMP);
    expect(await consume(plain, restoreFilters({ algorithm: 'none' }))).toEqual({ printed: DUMP, rawBytes: DUMP.length });
  });

  it('runs in-process transforms between zstd and the consumer, counting what zstd produced', async () => {
    const upperCase = new Transform({ transform: (chunk: Buffer, _encoding, done) => done(null, chunk.toString('latin1').toUpperCase()) });
    expect(await consume(compressed, restoreFilters({ algorithm: 'zstd' }), [upperCase])).toEqual({
      printed: DUMP.toUpperCase(),
      rawBytes: DUMP.length,
    });
  });

  it('fails with the filter’s error when the copy is damaged', async () => {
    const damaged = path.join(dir, 'damaged.sql.zst');
    writeFileSync(damaged, Buffer.from('not zstd at all'));
    await expect(consume(damaged, restoreFilters({ algorithm: 'zstd' }))).rejects.toThrow(ToolFailedError);
  });
});
