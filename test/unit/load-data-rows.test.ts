import { describe, expect, it } from 'vitest';
import { seededRandom } from '../support/seeded-random';
import { insertToLoadDataRows, loadDataReadsTableAlike, loadDataStatements, serverTakesLoadData } from '../../domain/load-data-rows';
import { serverIdentity } from '../../domain/server-flavor';

const rowsOf = (sql: string) => {
  const result = insertToLoadDataRows(Buffer.from(sql, 'utf8'));
  return result && { ...result, rows: result.rows.toString('utf8') };
};

describe('insertToLoadDataRows', () => {
  it('turns numbers, NULL and strings into tab-separated rows, on one line or a row per line', () => {
    expect(rowsOf("INSERT INTO `t` VALUES (1,'a',NULL,-2.50,1e+20),(2,'',0,.5,-3E-7);\n")).toEqual({
      quotedTable: '`t`',
      columns: '',
      rows: '1\ta\t\\N\t-2.50\t1e+20\n2\t\t0\t.5\t-3E-7\n',
      rowCount: 2,
    });
    expect(rowsOf("INSERT INTO `t` VALUES\n(1,'a'),\n(2,'b');\n")?.rows).toBe('1\ta\n2\tb\n');
    expect(rowsOf('INSERT INTO `we``ird` (`a`, `b`) VALUES (1,2);\n')).toMatchObject({ quotedTable: '`we``ird`', columns: '(`a`, `b`)' });
  });

  it('keeps the escapes both read alike, unescapes quotes, escapes raw tabs, and reads the string NULL as a string', () => {
    const sql = String.raw`INSERT INTO ${'`t`'} VALUES (1,'it\'s \"x\" a\\b \0\Z\n\r\t end'),(2,'NULL'),(3,'tab	here'),(4,'\\N'),(5,'ü ✓ 😀');`;
    expect(rowsOf(`${sql}\n`)?.rows).toBe(
      [String.raw`1	it's "x" a\\b \0\Z\n\r\t end`, '2\tNULL', String.raw`3	tab\there`, String.raw`4	\\N`, '5\tü ✓ 😀', ''].join('\n'),
    );
  });

  it('gives back every value of random rows as LOAD DATA reads them: numbers, NULL, and strings of quotes, backslashes, tabs and newlines', () => {
    const pieces = ["'", '"', '\\', '\t', '\n', '\r', '\0', '(', ')', ',', ';', 'a', '1', ' ', 'NULL', '\\N', 'ü'];
    const random = seededRandom(3);
    // As the dump tools write a string: mysql_real_escape_string's escapes, a tab left raw.
    const sqlString = (value: string) =>
      `'${value.replace(/[\\'"\n\r\0]/g, (c) => ({ '\\': '\\\\', "'": "\\'", '"': '\\"', '\n': '\\n', '\r': '\\r', '\0': '\\0' })[c]!)}'`;
    // LOAD DATA's reading of a field: \N is NULL, a backslash escapes the next character.
    const loadDataField = (field: string) =>
      field === '\\N' ? null : field.replace(/\\(.)/gs, (_, c: string) => ({ t: '\t', n: '\n', r: '\r', '0': '\0' })[c] ?? c);
    for (let statement = 0; statement < 300; statement++) {
      const rows = Array.from({ length: 1 + random(5) }, () =>
        Array.from({ length: 1 + random(4) }, (): string | number | null => {
          const kind = random(4);
          if (kind === 0) return null;
          if (kind === 1) return random(100000) - 500;
          return Array.from({ length: random(12) }, () => pieces[random(pieces.length)]).join('');
        }),
      );
      const values = rows.map(
        (row) => `(${row.map((v) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : sqlString(v))).join(',')})`,
      );
      const sql = `INSERT INTO \`t\` VALUES ${values.join(random(2) ? ',' : ',\n')};\n`;
      const result = insertToLoadDataRows(Buffer.from(sql, 'utf8'));
      expect(result?.rowCount, sql).toBe(rows.length);
      const read = result!.rows
        .toString('utf8')
        .split('\n')
        .slice(0, -1)
        .map((line) => line.split('\t').map(loadDataField));
      expect(read, sql).toEqual(rows.map((row) => row.map((v) => (typeof v === 'number' ? String(v) : v))));
    }
  });

  it('leaves SQL what LOAD DATA would read differently or what is no complete INSERT', () => {
    for (const sql of [
      'INSERT INTO `t` VALUES (1,0x4142);',
      "INSERT INTO `t` VALUES (1,_binary 'ab');",
      "INSERT INTO `t` VALUES (1,b'101');",
      "INSERT INTO `t` VALUES (1,'it''s');",
      "INSERT INTO `t` VALUES (1,'100\\%');",
      'INSERT INTO `t` VALUES (1,DEFAULT);',
      "INSERT INTO `t` VALUES (1,'open",
      'INSERT INTO `t` VALUES (1,2),(3,4)',
      'INSERT INTO `t` VALUES (1,2); SELECT 1;',
      'INSERT IGNORE INTO `t` VALUES (1,2);',
      'REPLACE INTO `t` VALUES (1,2);',
    ]) {
      expect(rowsOf(`${sql}\n`), sql).toBeUndefined();
    }
  });
});

describe('loadDataReadsTableAlike', () => {
  const table = (...columns: string[]) =>
    `CREATE TABLE \`t\` (\n${columns.map((c) => `  ${c},\n`).join('')}  PRIMARY KEY (\`id\`)\n) ENGINE=InnoDB;\n`;

  it('takes numbers, text, temporal types, ENUM and SET, and refuses binary strings, BLOBs, BIT, JSON-less spatial types', () => {
    expect(
      loadDataReadsTableAlike(
        table(
          '`id` int(11) NOT NULL AUTO_INCREMENT',
          '`s` varchar(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT NULL',
          '`d` decimal(10,2) NOT NULL',
          '`ts` timestamp NOT NULL DEFAULT current_timestamp()',
          "`e` enum('a','b') DEFAULT NULL",
          '`t` mediumtext',
        ),
      ),
    ).toBe(true);
    for (const column of [
      '`b` blob',
      '`b` varbinary(10)',
      '`b` binary(4)',
      '`b` bit(1)',
      '`g` point',
      '`c` char(4) CHARACTER SET binary',
    ]) {
      expect(loadDataReadsTableAlike(table('`id` int NOT NULL', column)), column).toBe(false);
    }
    expect(loadDataReadsTableAlike('CREATE TABLE `t` (id int);\n')).toBe(false);
  });
});

describe('loadDataStatements', () => {
  it("names the file quoted, the dump's character set and column list, then asks how many rows loaded", () => {
    expect(loadDataStatements({ file: "/tmp/it's\\x.tsv", quotedTable: '`t`', columns: '(`a`)', characterSet: 'utf8mb4' })).toBe(
      String.raw`LOAD DATA LOCAL INFILE '/tmp/it\'s\\x.tsv' INTO TABLE ${'`t`'} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' (${'`a`'});` +
        '\nSELECT ROW_COUNT();\n',
    );
  });
});

describe('serverTakesLoadData', () => {
  const server = (version: string, localInfile = true, galera = false) => ({ identity: serverIdentity(version), localInfile, galera });

  it('is MariaDB with local_infile on, a release with the bulk load fixed, and no Galera node', () => {
    expect(serverTakesLoadData(server('10.11.19-MariaDB-0+deb12u1'))).toBe(true);
    expect(serverTakesLoadData(server('11.8.3-MariaDB-1'))).toBe(true);
    expect(serverTakesLoadData(server('11.4.5-MariaDB'))).toBe(true);
    expect(serverTakesLoadData(server('10.11.10-MariaDB'))).toBe(false);
    expect(serverTakesLoadData(server('11.4.4-MariaDB'))).toBe(false);
    expect(serverTakesLoadData(server('11.6.2-MariaDB'))).toBe(false);
    expect(serverTakesLoadData(server('10.6.20-MariaDB'))).toBe(false);
    expect(serverTakesLoadData(server('11.8.3-MariaDB-1', false))).toBe(false);
    expect(serverTakesLoadData(server('11.8.3-MariaDB-1', true, true))).toBe(false);
    expect(serverTakesLoadData(server('9.7.0'))).toBe(false);
  });
});
