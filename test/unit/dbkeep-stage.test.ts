import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../support/seeded-random';
import { nativeToolPath } from '../../pipeline/native-tools';

/**
 * dbkeep-stage itself (pipeline/native/dbkeep-stage.c, built by `npm run build`): where it cuts a
 * dump, what each segment's files hold, and which INSERTs it turns into rows for LOAD DATA, read
 * from its report and the files it wrote. restore-staging.test.ts runs it inside the pipeline.
 */
const root = mkdtempSync(path.join(tmpdir(), 'dbkeep-stage-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface StagedPart {
  kind: 'sql' | 'load';
  text: string;
  /** A load part's rows file, its row count and table. */
  rows?: string;
  count?: number;
  table?: string;
}

interface Segment {
  kind: string;
  tables: string[];
  rawBytes: number;
  parts: StagedPart[];
}

let runs = 0;

/** Runs dbkeep-stage on `dump` in a directory of its own; returns its segments with their files' contents. */
function stage(
  dump: string | Buffer,
  options: { groupBytes?: number; partBytes?: number; loadDataMinBytes?: number; dirName?: string } = {},
) {
  const dir = path.join(root, options.dirName ?? `run-${runs++}`);
  rmSync(dir, { recursive: true, force: true });
  spawnSync('mkdir', [dir]);
  const args = [dir, String(options.groupBytes ?? 1), String(options.partBytes ?? 32 * 1024 * 1024)];
  if (options.loadDataMinBytes !== undefined) args.push(String(options.loadDataMinBytes));
  const run = spawnSync(nativeToolPath('dbkeep-stage'), args, { input: dump, maxBuffer: 1 << 26 });
  if (run.status !== 0) throw new Error(`dbkeep-stage exited ${run.status}: ${run.stderr.toString()}`);
  const read = (file: string) => readFileSync(path.join(dir, file), 'utf8');
  const name = (hex: string) => Buffer.from(hex, 'hex').toString('utf8');
  const segments: Segment[] = [];
  for (const line of run.stdout.toString().split('\n').slice(0, -1)) {
    const [event, ...fields] = line.split(' ');
    const segment = segments.at(-1)!;
    if (event === 'segment')
      segments.push({ kind: fields[0]!, tables: fields[1] === undefined ? [] : [name(fields[1])], rawBytes: -1, parts: [] });
    else if (event === 'table') segment.tables.push(name(fields[0]!));
    else if (event === 'sql') segment.parts.push({ kind: 'sql', text: read(fields[0]!) });
    else if (event === 'load')
      segment.parts.push({
        kind: 'load',
        text: read(fields[0]!),
        rows: read(fields[1]!),
        count: Number(fields[2]),
        table: name(fields[3]!),
      });
    else if (event === 'end') segment.rawBytes = Number(fields[0]);
    else throw new Error(`unknown event: ${line}`);
  }
  return { dir, segments, files: readdirSync(dir).length };
}

/** The shape mariadb-dump 10.11 writes for `--databases shop other --routines --events --triggers`. */
const DUMP = `/*M!999999\\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;

--
-- Current Database: \`shop\`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ \`shop\`;

USE \`shop\`;

--
-- Table structure for table \`orders\`
--

CREATE TABLE \`orders\` (\`id\` int NOT NULL);
LOCK TABLES \`orders\` WRITE;
INSERT INTO \`orders\` VALUES (1),(2);
UNLOCK TABLES;
DELIMITER ;;
/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE INSERT ON orders FOR EACH ROW
-- Table structure for table \`not_a_section\`
SET NEW.id = NEW.id */;;
DELIMITER ;

--
-- Temporary table structure for view \`order_view\`
--

/*!50001 CREATE VIEW \`order_view\` AS SELECT 1 AS \`id\` */;

--
-- Table structure for table \`products\`
--

CREATE TABLE \`products\` (\`id\` int NOT NULL);

--
-- Dumping routines for database 'shop'
--

DELIMITER ;;
CREATE PROCEDURE p() BEGIN SELECT 1; END ;;
DELIMITER ;

--
-- Current Database: \`other\`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ \`other\`;

USE \`other\`;

--
-- Table structure for table \`t\`
--

CREATE TABLE \`t\` (\`id\` int NOT NULL);

--
-- Current Database: \`shop\`
--

USE \`shop\`;

--
-- Final view structure for view \`order_view\`
--

/*!50001 CREATE VIEW \`order_view\` AS select \`id\` from \`orders\` */;
LOCK TABLES \`x\` WRITE;
UNLOCK TABLES;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
-- Dump completed on 2026-11-22  7:27:55
`;

const SETTINGS =
  '/*M!999999\\- enable the sandbox mode */ \n/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n';

describe('dbkeep-stage: segments', () => {
  const { segments } = stage(DUMP);
  const texts = segments.map((segment) => segment.parts.map((part) => part.text).join(''));

  it('cuts tables, view stand-ins and the serial sections of every database, in dump order, serial ones in a row together', () => {
    expect(segments.map((s) => [s.kind, s.tables])).toEqual([
      ['serial', []],
      ['table', ['orders']],
      ['table', ['order_view']],
      ['table', ['products']],
      ['serial', []],
      ['table', ['t']],
      ['serial', []],
    ]);
    // Every segment reports the bytes of its file.
    segments.forEach((segment, index) => expect(segment.rawBytes).toBe(Buffer.byteLength(texts[index]!)));
  });

  it("starts every segment after the first with the header's session settings and the database in use", () => {
    expect(texts[0]!.startsWith('/*M!999999')).toBe(true);
    expect(texts[1]!.startsWith(`${SETTINGS}USE \`shop\`;\n-- Table structure for table \`orders\``)).toBe(true);
    expect(texts[5]!.startsWith(`${SETTINGS}USE \`other\`;\n-- Table structure for table \`t\``)).toBe(true);
    // The footer's SET restores, outside the header, are not settings to repeat.
    expect(texts[6]!.startsWith(`${SETTINGS}USE \`other\`;\n-- Current Database: \`shop\``)).toBe(true);
  });

  it('rebuilds the dump without its preambles, less the table locks of table segments only', () => {
    const rebuilt = texts.map((text, index) => (index === 0 ? text : text.slice(text.indexOf('\n--') + 1))).join('');
    expect(rebuilt).toBe(DUMP.replace('LOCK TABLES `orders` WRITE;\n', '').replace('UNLOCK TABLES;\nDELIMITER', 'DELIMITER'));
    expect(texts[6]).toContain('LOCK TABLES `x` WRITE;\nUNLOCK TABLES;\n');
  });

  it('keeps a section comment inside a trigger body in its table segment', () => {
    expect(texts[1]).toContain('-- Table structure for table `not_a_section`\nSET NEW.id = NEW.id */;;\nDELIMITER ;\n');
  });

  it('groups consecutive tables up to the group size', () => {
    const grouped = stage(DUMP, { groupBytes: 1024 * 1024 }).segments;
    expect(grouped.map((s) => [s.kind, s.tables])).toEqual([
      ['serial', []],
      ['table', ['orders', 'order_view', 'products']],
      ['serial', []],
      ['table', ['t']],
      ['serial', []],
    ]);
  });

  it('leaves a dump without section comments in one serial segment', () => {
    const compact = DUMP.split('\n')
      .filter((line) => !line.startsWith('--'))
      .join('\n');
    const { segments: whole } = stage(compact);
    expect(whole.map((s) => [s.kind, s.parts.map((part) => part.text).join('')])).toEqual([['serial', compact]]);
  });

  it('ends a table segment at a USE or CREATE DATABASE that has no section comment', () => {
    const { segments: cut } = stage('-- Table structure for table `a`\nCREATE TABLE a (id int);\nUSE `b`;\nCREATE TABLE b (id int);\n');
    expect(cut.map((s) => [s.kind, s.tables])).toEqual([
      ['serial', []],
      ['table', ['a']],
      ['serial', []],
    ]);
  });

  it('stages nothing from an empty dump, and refuses bad usage', () => {
    expect(stage('').segments).toEqual([]);
    const usage = spawnSync(nativeToolPath('dbkeep-stage'), [root, '0', '1'], { input: '' });
    expect([usage.status, usage.stderr.toString()]).toEqual([2, 'dbkeep-stage: not a positive byte count: 0\n']);
    const unwritable = spawnSync(nativeToolPath('dbkeep-stage'), [path.join(root, 'missing'), '1', '1'], { input: 'SELECT 1;\n' });
    expect(unwritable.status).toBe(1);
    expect(unwritable.stderr.toString()).toMatch(/^dbkeep-stage: .*missing\/000000-serial\.sql: No such file or directory\n$/);
  });
});

describe('dbkeep-stage: INSERTs as rows for LOAD DATA', () => {
  const HEADER = '/*!40101 SET NAMES utf8mb4 */;\n';
  const table = (...columns: string[]) =>
    `--\n-- Table structure for table \`t\`\n--\n\nCREATE TABLE \`t\` (\n${columns.map((c) => `  ${c},\n`).join('')}  PRIMARY KEY (\`id\`)\n) ENGINE=InnoDB;\n`;
  const TEXT_TABLE = table('`id` int NOT NULL', '`s` text');
  /** Stages one table's statements, each loaded as soon as it comes; returns the table segment's parts. */
  const partsOf = (statements: string, createTable = TEXT_TABLE, options: { dirName?: string } = {}) => {
    const { segments } = stage(`${HEADER}${createTable}${statements}`, { loadDataMinBytes: 1, ...options });
    return segments.find((segment) => segment.kind === 'table')!.parts;
  };
  /** The rows of one statement, or undefined when it stayed SQL. */
  const rowsOf = (statement: string) => partsOf(`${statement}\n`).find((part) => part.kind === 'load')?.rows;

  it('turns numbers, NULL and strings into tab-separated rows, on one line or a row per line', () => {
    expect(rowsOf("INSERT INTO `t` VALUES (1,'a',NULL,-2.50,1e+20),(2,'',0,.5,-3E-7);")).toBe(
      '1\ta\t\\N\t-2.50\t1e+20\n2\t\t0\t.5\t-3E-7\n',
    );
    expect(rowsOf("INSERT INTO `t` VALUES\n(1,'a'),\n(2,'b');")).toBe('1\ta\n2\tb\n');
    const [, load] = partsOf('INSERT INTO `we``ird` (`a`, `b`) VALUES (1,2);\n');
    expect(load).toMatchObject({ kind: 'load', table: 'we``ird', count: 1, rows: '1\t2\n' });
    expect(load!.text).toContain(' INTO TABLE `we``ird` CHARACTER SET binary ');
    expect(load!.text).toMatch(/ LINES TERMINATED BY '\\n' \(`a`, `b`\);\nSELECT ROW_COUNT\(\);\n$/);
  });

  it('ends an INSERT at its own `;` and newline, not at a semicolon in its values', () => {
    const sql = "INSERT INTO `t` VALUES (1,';'),(2,'a;b'),(3,'x;\\n;'),(4,';;');\n" + "INSERT INTO `t` VALUES\n(5,';'),\n(6,'end;');\n";
    const parts = partsOf(sql);
    expect(parts.map((part) => [part.kind, part.count])).toEqual([
      ['sql', undefined],
      ['load', 6],
    ]);
    expect(parts[1]!.rows).toBe(['1\t;', '2\ta;b', '3\tx;\\n;', '4\t;;', '5\t;', '6\tend;', ''].join('\n'));
  });

  it('keeps the escapes both read alike, unescapes quotes, escapes raw tabs, and reads the string NULL as a string', () => {
    const sql = String.raw`INSERT INTO ${'`t`'} VALUES (1,'it\'s \"x\" a\\b \0\Z\n\r\t end'),(2,'NULL'),(3,'tab	here'),(4,'\\N'),(5,'ü ✓ 😀');`;
    expect(rowsOf(sql)).toBe(
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
    const expected: (string | null)[][] = [];
    let statements = '';
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
      statements += `INSERT INTO \`t\` VALUES ${values.join(random(2) ? ',' : ',\n')};\n`;
      expected.push(...rows.map((row) => row.map((v) => (typeof v === 'number' ? String(v) : v))));
    }
    const parts = partsOf(statements);
    expect(parts.map((part) => part.kind)).toEqual(['sql', 'load']);
    expect(parts[1]!.count).toBe(expected.length);
    const read = parts[1]!
      .rows!.split('\n')
      .slice(0, -1)
      .map((line) => line.split('\t').map(loadDataField));
    expect(read).toEqual(expected);
  });

  it('leaves SQL, in dump order, what LOAD DATA would read differently or what is no complete INSERT', () => {
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
    ]) {
      const parts = partsOf(`INSERT INTO \`t\` VALUES (1,'a');\n${sql}\nINSERT INTO \`t\` VALUES (2,'b');\n`);
      // Loaded up to the statement; it and every later one of the table stay SQL.
      expect(
        parts.map((part) => part.kind),
        sql,
      ).toEqual(['sql', 'load', 'sql']);
      expect(parts[1]!.rows, sql).toBe('1\ta\n');
      expect(parts[2]!.text.endsWith(`${sql}\nINSERT INTO \`t\` VALUES (2,'b');\n`), sql).toBe(true);
    }
    for (const sql of ['INSERT IGNORE INTO `t` VALUES (1,2);', 'REPLACE INTO `t` VALUES (1,2);']) {
      expect(rowsOf(sql), sql).toBeUndefined();
    }
  });

  it('holds a table’s INSERTs until they reach the minimum, and leaves a small table SQL', () => {
    const statement = (i: number) => `INSERT INTO \`t\` VALUES (${i},'${'x'.repeat(1000)}');\n`;
    const few = Array.from({ length: 3 }, (_, i) => statement(i)).join('');
    const many = Array.from({ length: 30 }, (_, i) => statement(i)).join('');
    const run = (statements: string) =>
      stage(`${HEADER}${TEXT_TABLE}${statements}`, { loadDataMinBytes: 10_000 }).segments[1]!.parts.map((part) => [part.kind, part.count]);
    expect(run(few)).toEqual([['sql', undefined]]);
    expect(run(many)).toEqual([
      ['sql', undefined],
      ['load', 30],
    ]);
  });

  it('takes numbers, text, temporal types, ENUM and SET, and refuses binary strings, BLOBs, BIT, spatial types', () => {
    const loads = (createTable: string) => partsOf("INSERT INTO `t` VALUES (1,'a');\n", createTable).some((part) => part.kind === 'load');
    expect(
      loads(
        table(
          '`id` int(11) NOT NULL AUTO_INCREMENT',
          '`s` varchar(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT NULL',
          '`d` decimal(10,2) NOT NULL',
          '`ts` timestamp NOT NULL DEFAULT current_timestamp()',
          "`e` enum('a','b') DEFAULT NULL",
          '`t` mediumtext',
          "`u` SET('x') DEFAULT NULL",
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
      '`c` char(4) COLLATE binary',
    ]) {
      expect(loads(table('`id` int NOT NULL', column)), column).toBe(false);
    }
    expect(loads('--\n-- Table structure for table `t`\n--\n\nCREATE TABLE `t` (id int);\n')).toBe(false);
    // Without the header's SET NAMES the rows' character set is unknown.
    const { segments } = stage(`${TEXT_TABLE}INSERT INTO \`t\` VALUES (1,'a');\n`, { loadDataMinBytes: 1 });
    expect(segments[1]!.parts.map((part) => part.kind)).toEqual(['sql']);
  });

  it("names the rows file quoted, in the dump's character set, then asks how many rows loaded", () => {
    const parts = partsOf("INSERT INTO `t` VALUES (1,'Müller');\n", TEXT_TABLE, { dirName: "it's\\x" });
    const load = parts.find((part) => part.kind === 'load')!;
    const dir = path.join(root, "it's\\x").replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    expect(load.text).toBe(
      `${HEADER}SET SESSION unique_checks=1;\nLOAD DATA LOCAL INFILE '${dir}/000002-rows.tsv' INTO TABLE \`t\` CHARACTER SET utf8mb4 ` +
        String.raw`FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n';` +
        '\nSELECT ROW_COUNT();\n',
    );
  });

  it("declares all-ASCII rows binary, and keeps the dump's character set for other rows and for tables that name one writing ASCII otherwise", () => {
    /** Each load's declared character set. */
    const charsets = (statements: string, options: { createTable?: string; header?: string; partBytes?: number } = {}) => {
      const dump = `${options.header ?? HEADER}${options.createTable ?? TEXT_TABLE}${statements}`;
      const { segments } = stage(dump, { loadDataMinBytes: 1, partBytes: options.partBytes });
      const loads = segments.find((segment) => segment.kind === 'table')!.parts.filter((part) => part.kind === 'load');
      return loads.map((part) => / CHARACTER SET (\w+) FIELDS /.exec(part.text)![1]);
    };
    const ascii = String.raw`INSERT INTO ${'`t`'} VALUES (1,'tab\there, it\'s a\\b ~ \0 NULL'),(2,NULL);` + '\n';
    const latin = "INSERT INTO `t` VALUES (3,'Müller');\n";
    expect(charsets(ascii)).toEqual(['binary']);
    // One load: a single row beyond ASCII anywhere in it keeps the whole load converting.
    expect(charsets(ascii + latin + ascii.replace('(1,', '(4,').replace('(2,', '(5,'))).toEqual(['utf8mb4']);
    // Loads cut after every statement: each decides for its own rows.
    expect(charsets(ascii + latin + ascii.replace('(1,', '(4,').replace('(2,', '(5,'), { partBytes: 1 })).toEqual([
      'binary',
      'utf8mb4',
      'binary',
    ]);
    for (const column of [
      '`s` varchar(9) CHARACTER SET ucs2',
      '`s` text CHARACTER SET utf16le',
      '`s` text COLLATE utf32_bin',
      '`s` char(2) CHARACTER SET SWE7',
    ]) {
      expect(charsets(ascii, { createTable: table('`id` int NOT NULL', column) }), column).toEqual(['utf8mb4']);
    }
    expect(charsets(ascii, { header: '/*!40101 SET NAMES swe7 */;\n' })).toEqual(['swe7']);
  });
});
