import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OneDatabaseFilter } from '../../pipeline/one-database-filter';

const DUMP = [
  '/*M!999999\\- enable the sandbox mode */ ',
  '/*!40101 SET NAMES utf8mb4 */;',
  '',
  '--',
  '-- Current Database: `shop`',
  '--',
  'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;',
  'USE `shop`;',
  "INSERT INTO `orders` VALUES (1,'USE `billing`; is just text\\n');",
  '--',
  '-- Current Database: `billing`',
  '--',
  'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `billing`;',
  'USE `billing`;',
  'CREATE TABLE `invoices` (`id` int);',
  'INSERT INTO `invoices` VALUES (7);',
  '--',
  '-- Current Database: `odd``name`',
  '--',
  'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `odd``name`;',
  'USE `odd``name`;',
  'CREATE TABLE `t` (`id` int);',
  '/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;',
  '',
].join('\n');

async function filter(database: string, chunkSize: number): Promise<string> {
  const bytes = Buffer.from(DUMP);
  const chunks = Array.from({ length: Math.ceil(bytes.length / chunkSize) }, (_, i) => bytes.subarray(i * chunkSize, (i + 1) * chunkSize));
  const out: Buffer[] = [];
  for await (const chunk of Readable.from(chunks).pipe(new OneDatabaseFilter(database))) out.push(chunk as Buffer);
  return Buffer.concat(out).toString();
}

describe('OneDatabaseFilter', () => {
  it.each([1, 7, 64, 100_000])('keeps the header and one database, whatever the chunk size (%i)', async (chunkSize) => {
    expect(await filter('billing', chunkSize)).toBe(
      [
        '/*M!999999\\- enable the sandbox mode */ ',
        '/*!40101 SET NAMES utf8mb4 */;',
        '',
        '--',
        'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `billing`;',
        'USE `billing`;',
        'CREATE TABLE `invoices` (`id` int);',
        'INSERT INTO `invoices` VALUES (7);',
        '--',
        '',
      ].join('\n'),
    );
  });

  it('follows quoted names and ignores USE inside data', async () => {
    const odd = await filter('odd`name', 13);
    expect(odd).toContain('USE `odd``name`;\nCREATE TABLE `t` (`id` int);');
    expect(odd).not.toContain('invoices');
    const shop = await filter('shop', 5);
    expect(shop).toContain("INSERT INTO `orders` VALUES (1,'USE `billing`; is just text\\n');");
    expect(shop).not.toContain('invoices');
  });
});
