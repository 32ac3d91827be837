import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Transform } from 'node:stream';
import { stageDumpSegments, tableGroupBytes } from '../../pipeline/restore-staging';
import { restoreFilters } from '../../domain/tool-commands';
import { FilesystemStorage } from '../../storage/filesystem-storage';
import { ObjectNotFoundError } from '../../storage/storage';

/** Real zstd, real files: what the parallel restore stages from a snapshot's object while it hashes it, before any database is involved. */
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

const repository = new FilesystemStorage(path.join(dir, 'repository'));

/** `dump` compressed by zstd and stored under a key of its own, and an empty staging directory for it. */
async function storedDump(name: string, dump: string) {
  const compressed = execFileSync('zstd', ['-3', '-c', '-q'], { input: dump, maxBuffer: 1 << 27 });
  const key = `${name}.sql.zst`;
  await repository.putBytes(key, compressed);
  const staging = path.join(dir, `staged-${name}`);
  mkdirSync(staging);
  return { key, dir: staging, sha256: createHash('sha256').update(compressed).digest('hex'), storedBytes: compressed.length };
}

const stageStored = (
  stored: Pick<Parameters<typeof stageDumpSegments>[0], 'key' | 'dir'>,
  params: Pick<Parameters<typeof stageDumpSegments>[0], 'groupBytes' | 'loadData' | 'transforms'>,
) =>
  stageDumpSegments({
    storage: repository,
    key: stored.key,
    dir: stored.dir,
    ...params,
    filters: restoreFilters({ algorithm: 'zstd' }),
    controller: new AbortController(),
    progress: { phase: 'staging', bytesRead: 0, bytesWritten: 0 },
  });

describe('stageDumpSegments', () => {
  it('stages a stored dump as segment files that rebuild it exactly, tables grouped up to the group size, and hashes the object it read', async () => {
    const stored = await storedDump('whole', DUMP);

    const staged = await stageStored(stored, { groupBytes: 256 * 1024, loadData: false });

    expect(staged.rawBytes).toBe(Buffer.byteLength(DUMP));
    expect([staged.sha256, staged.storedBytes]).toEqual([stored.sha256, stored.storedBytes]);
    const { segments } = staged;
    // `big` (about 560 KB) fills a group alone; the tiny tables join `middle`'s group.
    expect(segments.map((s) => [s.kind, s.tables])).toEqual([
      ['serial', []],
      ['table', ['big']],
      ['table', ['tiny_a', 'tiny_b', 'middle']],
      ['serial', []],
    ]);
    expect(segments.map((segment) => segment.parts.map((part) => part.kind))).toEqual([['sql'], ['sql'], ['sql'], ['sql']]);
    const files = segments.map((segment) => segment.parts[0]!.file);
    expect(readdirSync(stored.dir).sort()).toEqual(files.map((file) => path.basename(file)));
    segments.forEach((segment, index) => expect(readFileSync(files[index]!).length).toBe(segment.rawBytes));

    const texts = files.map((file) => readFileSync(file, 'utf8'));
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

  it('stages through an in-process transform between the decompressor and dbkeep-stage', async () => {
    const stored = await storedDump('transformed', DUMP);
    // What the one-database filter does in kind: the dump changes on its way to the stager. Byte
    // by byte (y → Y), so the result does not depend on where the stream's chunks are cut.
    const renaming = new Transform({
      transform: (chunk: Buffer, _encoding, done) => done(null, Buffer.from(chunk.map((byte) => (byte === 0x79 ? 0x59 : byte)))),
    });
    const staged = await stageStored(stored, { groupBytes: 256 * 1024, loadData: false, transforms: [renaming] });

    expect([staged.sha256, staged.rawBytes]).toEqual([stored.sha256, Buffer.byteLength(DUMP)]);
    expect(staged.segments.map((s) => s.tables)).toEqual([[], ['big'], ['tinY_a', 'tinY_b', 'middle'], []]);
  });

  it("fails with the storage's error, and stages nothing, when the object is not there", async () => {
    const staging = path.join(dir, 'staged-missing');
    mkdirSync(staging);

    await expect(stageStored({ key: 'missing.sql.zst', dir: staging }, { groupBytes: 256 * 1024, loadData: false })).rejects.toBeInstanceOf(
      ObjectNotFoundError,
    );
    expect(readdirSync(staging)).toEqual([]);
  });

  it("writes a big table's INSERTs as rows for LOAD DATA between its definition and its triggers, and keeps small and binary tables as SQL", async () => {
    // mariadb-dump 10.11's layout: every row on a line of its own.
    const insert = (name: string, from: number, count: number, value: (i: number) => string) =>
      `INSERT INTO \`${name}\` VALUES\n${Array.from({ length: count }, (_, i) => `(${from + i},${value(from + i)})`).join(',\n')};\n`;
    const hex = (i: number) => `'${createHash('sha256').update(String(i)).digest('hex')}'`;
    const bigRows = Array.from({ length: 20 }, (_, k) => insert('big', k * 1000, 1000, (i) => (i === 7 ? 'NULL' : hex(i)))).join('');
    const dump =
      `${HEADER}\n--\n-- Current Database: \`shop\`\n--\n\nCREATE DATABASE \`shop\`;\n\nUSE \`shop\`;\n\n` +
      '--\n-- Table structure for table `big`\n--\n\nCREATE TABLE `big` (\n  `id` int NOT NULL,\n  `h` char(64) DEFAULT NULL\n);\n' +
      `LOCK TABLES \`big\` WRITE;\n${bigRows}UNLOCK TABLES;\nDELIMITER ;;\n/*!50003 CREATE TRIGGER t BEFORE INSERT ON big FOR EACH ROW SET NEW.h = 'x' */;;\nDELIMITER ;\n` +
      '--\n-- Table structure for table `small`\n--\n\nCREATE TABLE `small` (\n  `id` int NOT NULL,\n  `h` char(64)\n);\n' +
      insert('small', 0, 10, hex) +
      '--\n-- Table structure for table `bin`\n--\n\nCREATE TABLE `bin` (\n  `id` int NOT NULL,\n  `b` blob\n);\n' +
      Array.from({ length: 20 }, (_, k) => insert('bin', k * 1000, 1000, hex)).join('');
    const stored = await storedDump('load', dump);

    const { segments } = await stageStored(stored, { groupBytes: 64 * 1024 * 1024, loadData: true });

    const parts = segments.map((segment) => segment.parts);
    expect(segments.map((s, index) => [s.kind, s.tables, parts[index]!.map((p) => p.kind)])).toEqual([
      ['serial', [], ['sql']],
      ['table', ['big', 'small', 'bin'], ['sql', 'load', 'sql']],
    ]);
    const [before, load, after] = parts[1]!;
    const preamble = `${HEADER}USE \`shop\`;\n`;
    expect(readFileSync(before!.file, 'utf8')).toBe(
      `${preamble}-- Table structure for table \`big\`\n--\n\nCREATE TABLE \`big\` (\n  \`id\` int NOT NULL,\n  \`h\` char(64) DEFAULT NULL\n);\n`,
    );
    if (load?.kind !== 'load') throw new Error('no load part');
    expect(load.rows).toBe(20_000);
    expect(load.table).toBe('big');
    expect(readFileSync(load.file, 'utf8')).toBe(
      `${preamble}SET SESSION unique_checks=1;\nLOAD DATA LOCAL INFILE '${load.dataFile}' INTO TABLE \`big\` CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n';\nSELECT ROW_COUNT();\n`,
    );
    const tsv = readFileSync(load.dataFile, 'utf8').split('\n');
    expect(tsv).toHaveLength(20_001);
    expect(tsv[7]).toBe('7\t\\N');
    expect(tsv[8]).toBe(`8\t${hex(8).slice(1, -1)}`);
    // After the rows: the trigger, then the small table and the binary one, as SQL.
    const rest = readFileSync(after!.file, 'utf8');
    expect(rest.startsWith(`${preamble}DELIMITER ;;\n`)).toBe(true);
    expect(rest).toContain(insert('small', 0, 10, hex));
    expect(rest).toContain(insert('bin', 19_000, 1000, hex));
  });

  it('hands a big table over in parts cut after a statement, each starting with the preamble, and keeps a dump without sections whole', async () => {
    // 40 statements of about 1 MiB: more than PART_BYTES (32 MiB), so two parts.
    const statement = (i: number) => `INSERT INTO \`big\` VALUES (${i},'${'x'.repeat(1024 * 1024)}');\n`;
    const rows = Array.from({ length: 40 }, (_, i) => statement(i)).join('');
    const withSections = `${HEADER}\n--\n-- Current Database: \`shop\`\n--\n\nUSE \`shop\`;\n--\n-- Table structure for table \`big\`\n--\n\nCREATE TABLE \`big\` (id int, h longtext);\n${rows}`;
    const withoutSections = `${HEADER}USE \`shop\`;\nCREATE TABLE \`big\` (id int, h longtext);\n${rows}`;
    const stage = async (dump: string, name: string) => {
      const { segments } = await stageStored(await storedDump(name, dump), { groupBytes: 256 * 1024, loadData: false });
      return segments.map((segment) => segment.parts.map((part) => readFileSync(part.file, 'utf8')));
    };

    const [header, table] = await stage(withSections, 'sections');
    expect(header).toHaveLength(1);
    expect(table!.map((text) => text.length > 32 * 1024 * 1024)).toEqual([true, false]);
    const preamble = `${HEADER}USE \`shop\`;\n`;
    expect(table!.every((text) => text.startsWith(preamble))).toBe(true);
    expect(table!.map((text) => text.slice(preamble.length)).join('')).toBe(withSections.slice(withSections.indexOf('-- Table structure')));
    expect(table![1]!.slice(preamble.length)).toMatch(/^INSERT INTO `big` VALUES \(\d+,/);

    const whole = await stage(withoutSections, 'no-sections');
    expect(whole.map((parts) => parts.length)).toEqual([1]);
    expect(whole[0]![0]).toBe(withoutSections);
  });

  it('fails with what dbkeep-stage said when it cannot write a file', async () => {
    const dump = `${HEADER}\n--\n-- Table structure for table \`big\`\n--\n\nCREATE TABLE \`big\` (\n  \`id\` int NOT NULL,\n  \`h\` char(64)\n);\n${rows('big', 20_000)}`;
    const stored = await storedDump('failing', dump);
    // The big table's rows file is the third file: one that is there already makes dbkeep-stage fail.
    writeFileSync(path.join(stored.dir, '000002-rows.tsv'), '');

    await expect(stageStored(stored, { groupBytes: 64 * 1024 * 1024, loadData: true })).rejects.toThrow(
      /dbkeep-stage: .*000002-rows\.tsv: File exists/,
    );
  });

  it('groups a small dump finely and a large one in at most 16 MiB', () => {
    expect(tableGroupBytes(3_000_000, 3)).toBe(256 * 1024);
    expect(tableGroupBytes(1024 ** 3, 2)).toBe(16 * 1024 * 1024);
    expect(tableGroupBytes(64 * 1024 ** 2, 2)).toBe(4 * 1024 * 1024);
  });
});
