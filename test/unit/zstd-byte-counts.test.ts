import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { zstdOutputBytes } from '../../pipeline/stream-pipelines';

/** What the real zstd says on stderr, parsed: the restore's raw byte count when zstd feeds the client directly. */
describe('zstdOutputBytes', () => {
  it("reads the decompressed size from the real zstd -d -vv's summary", () => {
    const input = Buffer.alloc(3_000_001, 'INSERT INTO t VALUES (1);\n');
    const compressed = spawnSync('zstd', ['-3', '-c', '-q'], { input }).stdout;
    const decompressed = spawnSync('zstd', ['-d', '-c', '-vv'], { input: compressed, maxBuffer: 64 * 1024 * 1024 });
    expect(decompressed.status).toBe(0);
    expect(decompressed.stdout.length).toBe(input.length);
    expect(zstdOutputBytes(decompressed.stderr.toString())).toBe(input.length);
  });

  it('says what zstd printed when there is no summary', () => {
    expect(() => zstdOutputBytes('zstd: error 70 : Write error : cannot write block : Broken pipe')).toThrow(
      /did not report its byte count.*Broken pipe/,
    );
  });
});
