import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { StagedSegmentFile } from '../../pipeline/parallel-apply';
import { stageDumpSegments, tableGroupBytes } from '../../pipeline/restore-staging';
import { restoreFilters } from '../../domain/tool-commands';
import { FilesystemStorage } from '../../storage/filesystem-storage';

/** Real zstd, real files: what the parallel restore stages from a stored dump, before any database is involved. */
const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-staging-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = '/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n';
const rows = (table: string, count: number) =>
  Array.from(
    { length: count },
    (_, i) => `INSERT INTO \`${table}\` VALUES (${i},'${createHash('sha256').update(`${table}${i}`).digest('hex')}');\n`,
  ).join('');
const table = (name: string, count: number) =>
  `--\n-- Table structure for table \`${name}\`\n--\n\nCREATE TABLE \`${name}\` (id int, h char(64));\n${rows(name, count)}\n`;
const DUMP =
  `${HEADER}\n--\n-- Current Database: \`shop\`\n--\n\nCREATE DATABASE \`shop\`;\n\nUSE \`shop\`;\n\n` +
  table('big', 6000) +
  table('tiny_a', 3) +
  table('tiny_b', 3) +
  table('middle', 3000) +
  "--\n-- Dumping routines for database 'shop'\n--\n\n/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;\n";

describe('stageDumpSegments', () => {
  it('stages a stored dump as segment files that rebuild it exactly, each handed over complete, tables grouped up to the group size', async () => {
    const storage = new FilesystemStorage(path.join(dir, 'repo'));
    const stored = execFileSync('zstd', ['-3', '-c', '-q'], { input: DUMP });
    await storage.putStream('shop/1/dump.sql.zst', Readable.from([stored]), new AbortController().signal);
    const staging = path.join(dir, 'staged');
    execFileSync('mkdir', [staging]);

    const segments: StagedSegmentFile[] = [];
    const staged = await stageDumpSegments({
      storage,
      key: 'shop/1/dump.sql.zst',
      filters: restoreFilters({ algorithm: 'zstd' }),
      dir: staging,
      groupBytes: 256 * 1024,
      // Each segment is handed over complete: its file already holds all of it.
      onSegment: (segment) =>
        segments.push({ ...segment, rawBytes: segment.rawBytes, complete: readFileSync(segment.file).length } as StagedSegmentFile),
      controller: new AbortController(),
      progress: { phase: 'staging', bytesRead: 0, bytesWritten: 0 },
    });

    expect(staged.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
    expect(staged.storedBytes).toBe(stored.length);
    expect(staged.rawBytes).toBe(Buffer.byteLength(DUMP));
    // `big` (about 560 KB) fills a group alone; the tiny tables join `middle`'s group.
    expect(segments.map((s) => [s.kind, s.tables])).toEqual([
      ['serial', []],
      ['table', ['big']],
      ['table', ['tiny_a', 'tiny_b', 'middle']],
      ['serial', []],
    ]);
    expect(readdirSync(staging).sort()).toEqual(segments.map((s) => path.basename(s.file)));
    for (const segment of segments) expect((segment as StagedSegmentFile & { complete: number }).complete).toBe(segment.rawBytes);

    const texts = segments.map((s) => readFileSync(s.file, 'utf8'));
    const preamble = `${HEADER}USE \`shop\`;\n`;
    for (const text of texts.slice(1)) expect(text.startsWith(preamble)).toBe(true);
    expect(
      texts[0] +
        texts
          .slice(1)
          .map((text) => text.slice(preamble.length))
          .join(''),
    ).toBe(DUMP);
  });

  it('groups a small dump finely and a large one in at most 16 MiB', () => {
    expect(tableGroupBytes(3_000_000, 3)).toBe(256 * 1024);
    expect(tableGroupBytes(1024 ** 3, 2)).toBe(16 * 1024 * 1024);
    expect(tableGroupBytes(64 * 1024 ** 2, 2)).toBe(4 * 1024 * 1024);
  });
});
