import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { xxhash128 } from 'hash-wasm';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../support/seeded-random';
import { DumpFingerprinter, dumpFingerprintSchema, fingerprintDifferences, type DumpFingerprint } from '../../domain/dump-fingerprint';

// mariadb-dump 10.11 of a database with a table whose strings hold `(`, `),(`, quotes and
// backslashes, an empty table, a trigger, a view, a routine and an event.
const dump = readFileSync('test/fixtures/dumps/mariadb-10.11-objects.sql');

async function fingerprint(bytes: Buffer, chunkSize = bytes.length) {
  const reader = await DumpFingerprinter.create();
  for (let at = 0; at < bytes.length; at += chunkSize) reader.push(bytes.subarray(at, at + chunkSize));
  return reader.result();
}

describe('DumpFingerprinter', () => {
  it('counts each table’s rows, strings with parentheses and quotes included, and names every object', async () => {
    const result = await fingerprint(dump);
    expect(dumpFingerprintSchema.parse(result)).toEqual(result);
    expect(Object.fromEntries(Object.entries(result.tables).map(([name, t]) => [name, t.rows]))).toEqual({ 'shop.empty': 0, 'shop.t': 2 });
    expect(Object.keys(result.definitions)).toEqual([
      'shop: database',
      'shop: events',
      'shop: routines',
      'shop: table empty',
      'shop: table t',
      'shop: view v',
      'shop: view v (placeholder)',
    ]);
  });

  it('gives the same fingerprint however the stream is cut', async () => {
    const whole = await fingerprint(dump);
    for (const size of [1, 2, 7, 97, 4096]) expect(await fingerprint(dump, size)).toEqual(whole);
  });

  it('reads each chunk during push only: one buffer, read into again after every push, gives the same fingerprint', async () => {
    const whole = await fingerprint(dump);
    for (const size of [3, 64, 4096]) {
      const reader = await DumpFingerprinter.create();
      const reused = Buffer.alloc(size);
      for (let at = 0; at < dump.length; at += size) {
        const length = dump.copy(reused, 0, at, at + size);
        reader.push(reused.subarray(0, length));
        reused.fill(0x29); // `)`: a head kept by reference would now read differently
      }
      expect(reader.result()).toEqual(whole);
    }
  });

  it('ends a string only at a quote after an even run of backslashes, wherever the chunks are cut', async () => {
    // Strings ending in an escaped backslash, holding an escaped quote after one, and `),(` inside.
    const rows = String.raw`(1,'a\\'),(2,'\\\'),(x'),(3,'\''),(4,'),('),(5,'\\\\\\\\'),(6,NULL)`;
    const text = '-- Current Database: `d`\n-- Dumping data for table `t`\nINSERT INTO `t` VALUES ' + rows + ';\n';
    const bytes = Buffer.from(text);
    expect((await fingerprint(bytes)).tables['d.t']!.rows).toBe(6);
    for (const size of [1, 2, 3, 5]) expect(await fingerprint(bytes, size)).toEqual(await fingerprint(bytes));
  });

  it('counts every row of INSERTs whose strings hold quotes, backslashes, parentheses, semicolons and newlines, wherever the chunks are cut', async () => {
    const pieces = ["'", '\\', '(', ')', ',', ';', '),(', ');', '\n', 'a', '1', ' '];
    const random = seededRandom(1);
    for (let dumpIndex = 0; dumpIndex < 500; dumpIndex++) {
      const rows = Array.from({ length: 1 + random(5) }, () => {
        const values = Array.from({ length: 1 + random(3) }, () => {
          if (random(3) === 0) return String(random(1000));
          const raw = Array.from({ length: random(8) }, () => pieces[random(pieces.length)]).join('');
          // As the dump tools escape a string: backslashes and quotes.
          return `'${raw.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
        });
        return `(${values.join(',')})`;
      });
      // mariadb-dump may put each row on a line of its own.
      const text =
        '-- Current Database: `d`\n-- Dumping data for table `t`\n' +
        `INSERT INTO \`t\` VALUES ${rows.join(random(2) ? ',' : ',\n')};\nINSERT INTO \`t\` VALUES (1,'x;y');\n`;
      const bytes = Buffer.from(text, 'latin1');
      const whole = await fingerprint(bytes);
      expect(whole.tables['d.t']!.rows, text).toBe(rows.length + 1);
      for (const size of [1, 2, 5, 17]) expect(await fingerprint(bytes, size), text).toEqual(whole);
    }
  });

  it('ignores comments (date, host, version), and sees a changed row, a lost row and a changed definition', async () => {
    const text = dump.toString('utf8');
    const whole = await fingerprint(dump);
    expect(await fingerprint(Buffer.from(text.replace(/^-- Dump completed on .*$/m, '-- Dump completed on 1999-01-01')))).toEqual(whole);
    // --master-data's position comment comes with blank lines around it.
    expect(
      await fingerprint(
        Buffer.from(text.replace('USE `shop`;\n', "USE `shop`;\n\n-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001';\n\n")),
      ),
    ).toEqual(whole);
    expect(fingerprintDifferences(whole, await fingerprint(Buffer.from(text.replace("(2,'b',NULL)", "(2,'c',NULL)"))))).toEqual([
      'table shop.t: same 2 rows, different data',
    ]);
    expect(fingerprintDifferences(whole, await fingerprint(Buffer.from(text.replace(",\n(2,'b',NULL)", ''))))).toEqual([
      'table shop.t: 1 rows, 2 recorded',
    ]);
    expect(fingerprintDifferences(whole, await fingerprint(Buffer.from(text.replace('SELECT 1\n;;', 'SELECT 2\n;;'))))).toEqual([
      'shop: routines: definition differs',
    ]);
    expect(fingerprintDifferences(whole, whole)).toEqual([]);
  });
});

describe('DumpFingerprinter, formats 1 to 4', () => {
  const text = dump.toString('utf8');
  const read = async (bytes: string, formatVersion?: DumpFingerprint['formatVersion']) => {
    const reader = await DumpFingerprinter.create(formatVersion);
    reader.push(Buffer.from(bytes));
    return reader.result();
  };

  it('is what backups record; format 1 hashes every line as written', async () => {
    expect((await read(text)).formatVersion).toBe(4);
    expect(fingerprintDifferences(await read(text, 2), await read(text, 3))).toEqual([]);
    expect((await read(text, 1)).formatVersion).toBe(1);
    // CREATE DATABASE … DEFAULT CHARACTER SET latin1 COLLATE latin1_swedish_ci
    expect(fingerprintDifferences(await read(text, 1), await read(text, 3))).toEqual(['shop: database: definition differs']);
  });

  it("hashes each table's rows with XXH3-128 from format 4 (SHA-256 before), and its definitions with SHA-256", async () => {
    const [three, four] = [await read(text, 3), await read(text, 4)];
    expect(four.tables['shop.t']).toEqual({ rows: 2, xxh128: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(three.tables['shop.t']).toEqual({ rows: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(four.definitions).toEqual(three.definitions);
    expect(dumpFingerprintSchema.parse(four)).toEqual(four);
    // The INSERT statement of `t` (its rows on lines of their own), from `INSERT` to its `;`.
    const start = text.indexOf('INSERT INTO `t` VALUES');
    const insert = text.slice(start, text.indexOf(');\n', start) + 2);
    expect(insert).toMatch(/^INSERT INTO `t` VALUES\n\(1,.*\n\(2,'b',NULL\);$/);
    expect(four.tables['shop.t']).toEqual({ rows: 2, xxh128: await xxhash128(insert) });
    expect(three.tables['shop.t']).toEqual({ rows: 2, sha256: createHash('sha256').update(insert).digest('hex') });
  });

  it("keeps each table's hash apart when the dump goes back and forth between tables (one hasher, saved states)", async () => {
    const table = (name: string, id: number) =>
      `-- Dumping data for table \`${name}\`\nINSERT INTO \`${name}\` VALUES (${id},'${name}');\n`;
    const interleaved = '-- Current Database: `d`\n' + table('a', 1) + table('b', 2) + table('a', 3) + table('c', 4) + table('b', 5);
    const separate = async (name: string, ids: number[]) =>
      (await read(`-- Current Database: \`d\`\n${ids.map((id) => table(name, id)).join('')}`)).tables[`d.${name}`];
    expect((await read(interleaved)).tables).toEqual({
      'd.a': await separate('a', [1, 3]),
      'd.b': await separate('b', [2, 5]),
      'd.c': await separate('c', [4]),
    });
    const empty = await read('-- Current Database: `d`\n-- Dumping data for table `e`\n');
    expect(empty.tables).toEqual({ 'd.e': { rows: 0, xxh128: await xxhash128('') } });
  });

  it("leaves out the server's GTID state and binary logging, which a scratch server without GTIDs does not write", async () => {
    const withGtids = `${text}SET @@SESSION.SQL_LOG_BIN = @MYSQL_SQL_LOG_BIN;\n`;
    expect(fingerprintDifferences(await read(text), await read(withGtids))).toEqual([]);
    expect(fingerprintDifferences(await read(text, 1), await read(withGtids, 1))).toEqual(['shop: view v: definition differs']);
  });

  it("reads a column's CHARACTER SET before a COLLATE of that character set as the COLLATE alone, and no other change", async () => {
    const column = '  `c` varchar(20) COLLATE utf8mb4_unicode_ci DEFAULT NULL,\n';
    const table = (line: string) => text.replace('CREATE TABLE `t` (\n', `CREATE TABLE \`t\` (\n${line}`);
    expect(table(column)).not.toBe(text);
    expect(
      fingerprintDifferences(await read(table(column)), await read(table(column.replace(' COLLATE', ' CHARACTER SET utf8mb4 COLLATE')))),
    ).toEqual([]);
    expect(fingerprintDifferences(await read(table(column)), await read(table(column.replace('unicode_ci', 'bin'))))).toEqual([
      'shop: table t: definition differs',
    ]);
  });

  it("counts a table's rows under its own name when the name is not ASCII (format 3); format 2 read it byte by byte", async () => {
    const renamed = text.replaceAll('`t`', '`tä`');
    expect(Object.fromEntries(Object.entries((await read(renamed)).tables).map(([name, t]) => [name, t.rows]))).toEqual({
      'shop.empty': 0,
      'shop.tä': 2,
    });
    expect(Object.fromEntries(Object.entries((await read(renamed, 2)).tables).map(([name, t]) => [name, t.rows]))).toEqual({
      'shop.empty': 0,
      'shop.tä': 0,
      'shop.tÃ¤': 2,
    });
  });
});
