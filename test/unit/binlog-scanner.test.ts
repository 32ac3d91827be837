import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinlogScanner, UnsupportedBinlogError, type CommittedPoint } from '../../domain/binlog-scanner';

/**
 * Real binary logs, written by the servers themselves (test/fixtures/binlogs: one FLUSH BINARY
 * LOGS apart, with DDL, autocommit and multi-statement transactions, statement and row format, a
 * rolled-back transaction and a non-transactional table), and the GTID state each server
 * reported before and after writing them.
 */
const FIXTURES = [
  { release: 'mariadb-10.11', flavor: 'mariadb', transactions: 9 },
  { release: 'mariadb-11.8', flavor: 'mariadb', transactions: 9 },
  { release: 'mysql-9.7', flavor: 'mysql', transactions: 9 },
] as const;

function fixture(release: string) {
  const bytes = readFileSync(`test/fixtures/binlogs/${release}.binlog`);
  const expected = JSON.parse(readFileSync(`test/fixtures/binlogs/${release}.json`, 'utf8')) as { gtidsBefore: string; gtidsAfter: string };
  return { bytes, ...expected };
}

/** Every distinct committed point a scan passes, fed in the given chunk sizes. */
function scan(flavor: 'mysql' | 'mariadb', bytes: Buffer, chunkSizes: number[]): { points: CommittedPoint[]; scanner: BinlogScanner } {
  const scanner = new BinlogScanner(flavor);
  const points: CommittedPoint[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = chunkSizes.length > 0 ? chunkSizes[i % chunkSizes.length]! : bytes.length;
    scanner.push(bytes.subarray(at, at + size));
    at += size;
    if (scanner.committed.offset > (points.at(-1)?.offset ?? 0)) points.push(scanner.committed);
  }
  return { points, scanner };
}

describe.each(FIXTURES)('scanning a $release binary log', ({ release, flavor, transactions }) => {
  const { bytes, gtidsBefore, gtidsAfter } = fixture(release);

  it('starts from the GTID state the server had, ends at the one it reported, and counts every committed transaction', () => {
    const { points, scanner } = scan(flavor, bytes, []);
    expect(points.at(-1)).toEqual({ offset: bytes.length, gtids: gtidsAfter });
    expect(scanner.transactionsSinceMark.count).toBe(transactions);
    expect(scanner.ended).toBe(true);

    // The first point a byte-by-byte scan passes is after the file's header events: the state the file starts from.
    const header = scan(flavor, bytes, [1]).points[0]!;
    const prefix = new BinlogScanner(flavor);
    prefix.push(bytes.subarray(0, header.offset));
    expect(prefix.transactionsSinceMark.count).toBe(0);
    expect(header.gtids).toBe(gtidsBefore);
  });

  it('finds the same transaction ends whatever the chunks the file arrives in', () => {
    const whole = scan(flavor, bytes, [1]).points;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 12 }), (sizes) => {
        const { points } = scan(flavor, bytes, sizes);
        // Coarser chunks skip some points, never invent one.
        expect(whole.map((p) => p.offset)).toEqual(expect.arrayContaining(points.map((p) => p.offset)));
        expect(points.at(-1)).toEqual(whole.at(-1));
      }),
    );
  });

  it('cuts a prefix only after a whole transaction: each cut adds exactly the transactions before it', () => {
    const byte = scan(flavor, bytes, [1]);
    const cuts = byte.points.filter((p) => p.offset < bytes.length);
    for (const cut of cuts) {
      const prefix = new BinlogScanner(flavor);
      prefix.push(bytes.subarray(0, cut.offset));
      expect(prefix.committed).toEqual(cut);
    }
    // One cut per transaction end (plus the header's), and distinct states for distinct transactions.
    expect(new Set(cuts.map((c) => c.gtids)).size).toBe(transactions + 1);
  });

  it('reads a statement without its checksum: a CRC32 that starts with letters does not turn BEGIN into another statement', () => {
    const lettered = Buffer.from(bytes);
    let at = 4;
    while (at + 19 <= lettered.length) {
      const size = lettered.readUInt32LE(at + 9);
      // Every QUERY event's CRC32 bytes become "XYZW", as a real checksum sometimes is.
      if (lettered[at + 4] === 2) lettered.write('XYZW', at + size - 4, 'latin1');
      at += size;
    }
    const { points, scanner } = scan(flavor, lettered, []);
    expect(scanner.transactionsSinceMark.count).toBe(transactions);
    expect(points.at(-1)!.gtids).toBe(gtidsAfter);
  });

  it('times each piece by its transactions, and a mark starts the next piece', () => {
    const scanner = new BinlogScanner(flavor);
    scanner.push(bytes.subarray(0, Math.floor(bytes.length / 2)));
    const first = scanner.transactionsSinceMark;
    expect(first.count).toBeGreaterThan(0);
    expect(first.firstAt).toBeLessThanOrEqual(first.lastAt!);
    scanner.mark();
    scanner.push(bytes.subarray(Math.floor(bytes.length / 2)));
    expect(first.count + scanner.transactionsSinceMark.count).toBe(transactions);
    expect(scanner.transactionsSinceMark.firstAt).toBeGreaterThanOrEqual(first.lastAt!);
  });
});

describe('what the scanner refuses', () => {
  it('a file that is not a binary log', () => {
    expect(() => new BinlogScanner('mysql').push(Buffer.from('-- MySQL dump\n'))).toThrow(UnsupportedBinlogError);
  });

  it('tagged MySQL GTIDs, by name', () => {
    const { bytes } = fixture('mysql-9.7');
    const tampered = Buffer.from(bytes);
    // The first GTID event (type 33) after the header events, retyped as a tagged one (42).
    let at = 4;
    while (tampered[at + 4] !== 33) at += tampered.readUInt32LE(at + 9);
    tampered[at + 4] = 42;
    expect(() => new BinlogScanner('mysql').push(tampered)).toThrow(/tagged GTIDs/);
  });
});
