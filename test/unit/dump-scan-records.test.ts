import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DumpFingerprinter, type DumpFingerprint } from '../../domain/dump-fingerprint';
import { DumpScanRecordReader } from '../../pipeline/dump-scan-records';
import { nativeToolPath } from '../../pipeline/native-tools';
import { startTool } from '../../pipeline/tool-process';
import { rawBytesOfScan } from '../support/dump-scan-records';
import { seededRandom } from '../support/seeded-random';

/**
 * The native scan (pipeline/native/dump-scan.c, run by dbkeep-tee) against the TypeScript reader
 * it stands in for (domain/dump-fingerprint.ts): the same dumps, read both ways, give the same
 * fingerprint, and dbkeep-tee's output FIFO gets the dump unchanged. Backups record the native
 * one and drills compare it with the TypeScript one, so any difference is a failed drill.
 */
describe('dbkeep-tee’s scan of a dump', () => {
  let dir: string;
  let runs = 0;
  const signal = new AbortController().signal;
  beforeAll(() => void (dir = mkdtempSync(path.join(tmpdir(), 'dump-scan-test-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** dbkeep-tee on `input` (its stdin a socket, as a dump tool's output is): its records and what its FIFO got. */
  async function scanNatively(input: Buffer): Promise<{ records: Buffer; output: Buffer }> {
    const fifo = path.join(dir, `output-${runs++}.fifo`);
    await startTool({ command: 'mkfifo', args: [fifo] }, { signal, stdin: 'ignore', stdout: 'ignore' }).finished;
    const reader = startTool({ command: 'cat', args: [fifo] }, { signal, stdin: 'ignore', stdout: 'pipe' });
    const tee = startTool({ command: nativeToolPath('dbkeep-tee'), args: [fifo] }, { signal, stdin: 'pipe', stdout: 'pipe' });
    const [records, output] = [buffer(tee.child.stdout!), buffer(reader.child.stdout!)];
    tee.child.stdin!.end(input);
    await Promise.all([tee.finished, reader.finished]);
    return { records: await records, output: await output };
  }

  async function bothWays(input: Buffer, chunkSizes: readonly number[] = [1 << 20]): Promise<DumpFingerprint> {
    const typescript = await DumpFingerprinter.create();
    typescript.push(input);
    const expected = typescript.result(['--opt']);
    const { records, output } = await scanNatively(input);
    expect(output.equals(input)).toBe(true);
    // The statements were read in C: none is left in the bytes passed on, once a section began.
    const passedOn = rawBytesOfScan(records).toString('latin1');
    const sectionStart = passedOn.search(/^-- (Current Database|Dumping data)/m);
    expect(passedOn.slice(sectionStart)).not.toMatch(/^INSERT INTO `/m);
    for (const size of chunkSizes) {
      const fingerprinter = await DumpFingerprinter.create();
      const reader = new DumpScanRecordReader(fingerprinter);
      for (let at = 0; at < records.length; at += size) reader.push(records.subarray(at, at + size));
      expect(reader.complete).toBe(true);
      expect(fingerprinter.result(['--opt']), input.toString('latin1').slice(0, 2000)).toEqual(expected);
    }
    return expected;
  }

  it('reads a real mariadb-dump with every kind of object as the TypeScript reader does, however its records are cut', async () => {
    const fingerprint = await bothWays(readFileSync('test/fixtures/dumps/mariadb-10.11-objects.sql'), [1, 5, 64, 1 << 20]);
    expect(fingerprint.tables['shop.t']!.rows).toBe(2);
  });

  it('reads random dumps as the TypeScript reader does: quotes, backslashes, odd names, several databases, lines over 64 KiB', async () => {
    const random = seededRandom(7);
    const pieces = ["'", '\\', '(', ')', ',', ';', '),(', ');', '\n', '\r', 'a', 'ä', '1', ' ', '`', ' VALUES', '-- '];
    const names = ['t', 'a``b', 'tä', 'x y', 'VALUES', 'q`'];
    const string = () => {
      const raw = Array.from({ length: random(10) }, () => pieces[random(pieces.length)]).join('');
      return `'${raw.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    };
    const rows = () =>
      Array.from(
        { length: 1 + random(4) },
        () => `(${Array.from({ length: 1 + random(3) }, () => (random(3) ? string() : random(99))).join(',')})`,
      );
    for (let dumpIndex = 0; dumpIndex < 150; dumpIndex++) {
      const lines: string[] = [];
      // Before any section marker the TypeScript reader reads no INSERT.
      if (random(4) === 0) lines.push("INSERT INTO `early` VALUES (1,'(');");
      lines.push('-- MariaDB dump 10.19  Distrib 10.11', '-- Host: 127.0.0.1    Database: ', '', '/*!40101 SET NAMES utf8mb4 */;');
      for (let database = 0; database < 1 + random(3); database++) {
        if (random(4)) lines.push(`-- Current Database: \`${random(2) ? 'd' : 'dä'}${database}\``, '', `USE \`d${database}\`;`);
        for (let table = 0; table < 1 + random(4); table++) {
          const name = names[random(names.length)]!.replace(/`/g, '``');
          lines.push('--', `-- Dumping data for table \`${name}\``, '--', '', `LOCK TABLES \`${name}\` WRITE;`);
          for (let statement = 0; statement < random(4); statement++) {
            const columns = random(3) === 0 ? ' (`a`, `b`)' : '';
            const after = random(4) === 0 ? ' /* after */' : '';
            lines.push(`INSERT INTO \`${name}\`${columns} VALUES ${rows().join(random(2) ? ',' : ',\n')};${after}`);
          }
          if (random(6) === 0) lines.push(`INSERT INTO \`${name}\` VALUES (1,'${'x'.repeat(70_000)}'),(2,'(');`);
          if (random(8) === 0)
            lines.push(`-- a comment over 64 KiB ${'y'.repeat(70_000)}`, `CREATE TABLE \`long\` (${'z'.repeat(70_000)});`);
          lines.push('UNLOCK TABLES;');
        }
      }
      const ending = random(3) === 0 ? `INSERT INTO \`t\` VALUES ${rows().join(',')}` : '-- Dump completed';
      const text = lines.join(random(5) === 0 ? '\r\n' : '\n') + '\n' + ending;
      await bothWays(Buffer.from(text, 'utf8'), [3, 1 << 20]);
    }
  });

  it('keeps the hashes of tables the dump goes back and forth between apart, and of equal names in two databases', async () => {
    const table = (name: string, id: number) =>
      `-- Dumping data for table \`${name}\`\nINSERT INTO \`${name}\` VALUES (${id},'${name}');\n`;
    const text =
      '-- Current Database: `d`\n' +
      table('a', 1) +
      table('b', 2) +
      table('a', 3) +
      '-- Current Database: `e`\n' +
      table('a', 4) +
      table('b', 5);
    const fingerprint = await bothWays(Buffer.from(text));
    expect(Object.keys(fingerprint.tables)).toEqual(['d.a', 'd.b', 'e.a', 'e.b']);
    expect(fingerprint.tables['d.a']!.rows).toBe(2);
    expect(fingerprint.tables['d.a']).not.toEqual(fingerprint.tables['e.a']);
  });

  it('leaves a line it does not read as an INSERT to the TypeScript reader, which reads it (a name only backtracking splits)', async () => {
    // /^INSERT INTO `((?:[^`]|``)+)`.*? VALUES/ takes `a` here only by giving back the `` pair.
    const text = '-- Current Database: `d`\n-- Dumping data for table `a`\nINSERT INTO `a`` VALUES `b` (1);\nINSERT INTO `c` VALUES (2);\n';
    const expected = await DumpFingerprinter.create();
    expected.push(Buffer.from(text));
    const { records } = await scanNatively(Buffer.from(text));
    expect(rawBytesOfScan(records).toString()).toContain('INSERT INTO `a`` VALUES `b` (1);\n');
    const fingerprinter = await DumpFingerprinter.create();
    new DumpScanRecordReader(fingerprinter).push(records);
    expect(fingerprinter.result()).toEqual(expected.result());
    expect(Object.keys(fingerprinter.result().tables)).toEqual(['d.a', 'd.c']);
  });

  it('reads records cut short, without their end record, as an incomplete scan', async () => {
    const { records } = await scanNatively(
      Buffer.from('-- Current Database: `d`\n-- Dumping data for table `t`\nINSERT INTO `t` VALUES (1);\n'),
    );
    const reader = new DumpScanRecordReader(await DumpFingerprinter.create());
    reader.push(records.subarray(0, records.length - 5));
    expect(reader.complete).toBe(false);
  });
});
