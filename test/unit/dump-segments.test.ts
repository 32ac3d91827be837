import { describe, expect, it } from 'vitest';
import { DumpSegmenter, describeTables, type SegmentStart } from '../../domain/dump-segments';

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
INSERT INTO \`orders\` VALUES (1),(2);
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
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
-- Dump completed on 2026-11-22  7:27:55
`;

interface Cut {
  start: SegmentStart | 'first';
  preamble: string;
  text: string;
}

/** Runs the segmenter over `dump` and returns each segment's start, preamble and text. */
function cut(dump: string): Cut[] {
  const segmenter = new DumpSegmenter();
  const cuts: Cut[] = [];
  for (const line of dump.split(/(?<=\n)/)) {
    const start = segmenter.read(Buffer.from(line));
    if (cuts.length === 0 || start) cuts.push({ start: start ?? 'first', preamble: segmenter.sessionPreamble().toString(), text: '' });
    cuts.at(-1)!.text += line;
  }
  return cuts;
}

describe('DumpSegmenter', () => {
  const cuts = cut(DUMP);

  it('cuts tables, view stand-ins and the serial sections of every database, in dump order', () => {
    expect(cuts.map((c) => c.start)).toEqual([
      'first',
      { kind: 'serial' },
      { kind: 'table', table: 'orders' },
      { kind: 'table', table: 'order_view' },
      { kind: 'table', table: 'products' },
      { kind: 'serial' },
      { kind: 'serial' },
      { kind: 'table', table: 't' },
      { kind: 'serial' },
      { kind: 'serial' },
    ]);
    expect(cuts.map((c) => c.text).join('')).toBe(DUMP);
  });

  it('keeps a section comment inside a trigger body in its table segment', () => {
    const orders = cuts[2]!.text;
    expect(orders).toContain('-- Table structure for table `not_a_section`');
    expect(orders).toContain('DELIMITER ;\n');
  });

  it("gives every segment the header's session settings and the database in use", () => {
    const settings =
      '/*M!999999\\- enable the sandbox mode */ \n/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n';
    expect(cuts[1]!.preamble).toBe(settings);
    expect(cuts[2]!.preamble).toBe(`${settings}USE \`shop\`;\n`);
    expect(cuts[7]!.preamble).toBe(`${settings}USE \`other\`;\n`);
    // The footer's SET restores, outside the header, are not settings to repeat.
    expect(cuts.at(-1)!.preamble).not.toContain('@OLD_UNIQUE_CHECKS */');
  });

  it('leaves a dump without section comments in one serial segment', () => {
    const compact = DUMP.split('\n')
      .filter((line) => !line.startsWith('--'))
      .join('\n');
    expect(cut(compact)).toHaveLength(1);
  });

  it('leaves the table locks out of table segments only', () => {
    const segmenter = new DumpSegmenter();
    const kept = (line: string) => {
      segmenter.read(Buffer.from(line));
      return segmenter.keeps(Buffer.from(line));
    };
    expect(kept('LOCK TABLES `x` WRITE;\n')).toBe(true);
    expect(kept('-- Table structure for table `rental`\n')).toBe(true);
    expect(kept('LOCK TABLES `rental` WRITE;\n')).toBe(false);
    expect(kept('INSERT INTO `rental` VALUES (1);\n')).toBe(true);
    expect(kept('UNLOCK TABLES;\n')).toBe(false);
    expect(kept("-- Dumping routines for database 'sakila'\n")).toBe(true);
    expect(kept('UNLOCK TABLES;\n')).toBe(true);
  });

  it('ends a table segment at a USE or CREATE DATABASE that has no section comment', () => {
    const starts = cut('-- Table structure for table `a`\nCREATE TABLE a (id int);\nUSE `b`;\nCREATE TABLE b (id int);\n').map(
      (c) => c.start,
    );
    expect(starts).toEqual([{ kind: 'table', table: 'a' }, { kind: 'serial' }]);
  });
});

describe('describeTables', () => {
  it('names up to three tables and counts the rest', () => {
    expect(describeTables(['a'])).toBe('`a`');
    expect(describeTables(['a', 'b', 'c', 'd', 'e'])).toBe('`a`, `b`, `c` and 2 more');
  });
});
