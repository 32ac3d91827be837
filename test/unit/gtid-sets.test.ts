import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatMariadbGtidPosition,
  formatMysqlGtidSet,
  isMariadbPositionReached,
  isMysqlGtidSubset,
  parseMariadbGtidPosition,
  parseMysqlGtidSet,
  subtractMysqlGtidSet,
  unionOfMysqlGtidSets,
  type MysqlGtidSet,
} from '../../domain/gtid-sets';

const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const B = 'b5c1a8e2-0000-11ef-8000-000000000001';
const set = (text: string) => parseMysqlGtidSet(text);
const text = (gtids: MysqlGtidSet) => formatMysqlGtidSet(gtids);

describe('MySQL GTID sets', () => {
  it('reads @@gtid_executed as the server prints it, and writes it sorted and merged', () => {
    expect(text(set(` ${B}:1-3,\n${A.toUpperCase()}:1-5:7, ${A}:6 `))).toBe(`${A}:1-7,${B}:1-3`);
    expect(text(set(''))).toBe('');
  });

  it('keeps tagged transactions (MySQL 8.3+) apart from untagged ones of the same server', () => {
    expect(text(set(`${A}:1-3:backup:1-2:4,${A}:4`))).toBe(`${A}:1-4,${A}:backup:1-2:4`);
  });

  it.each([
    ['not-a-uuid:1-5', '"not-a-uuid:1-5" does not start with a server uuid'],
    [`${A}:5-3`, `"5-3" in "${A}:5-3" is not an interval of transaction numbers`],
    [`${A}:0`, `"0" in "${A}:0" is not an interval of transaction numbers`],
    [`${A}:1-x`, `"1-x" in "${A}:1-x" is neither a tag nor an interval`],
  ])('refuses %s, naming the part', (gtids, message) => {
    expect(() => set(gtids)).toThrow(message);
  });

  it('unites, subtracts and compares sets: what is missing between two archived pieces', () => {
    const archived = set(`${A}:1-100,${B}:1-20`);
    expect(text(unionOfMysqlGtidSets(set(`${A}:1-50`), set(`${A}:51-100,${B}:1-20`)))).toBe(text(archived));
    expect(text(subtractMysqlGtidSet(archived, set(`${A}:1-40:61-100,${B}:1-20`)))).toBe(`${A}:41-60`);
    expect(isMysqlGtidSubset(set(`${A}:10-20`), archived)).toBe(true);
    expect(isMysqlGtidSubset(set(`${A}:99-101`), archived)).toBe(false);
    expect(isMysqlGtidSubset(set(`${A}:backup:1`), archived)).toBe(false);
  });

  const gtidSets = fc
    .array(fc.tuple(fc.constantFrom(A, B, `${A}:backup`), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 10 })), {
      maxLength: 8,
    })
    .map((members) => set(members.map(([source, first, length]) => `${source}:${first}-${first + length}`).join(',')));

  it('subtracts exactly: the difference is inside the set, holds nothing of what was subtracted, and rebuilds the set', () => {
    fc.assert(
      fc.property(gtidSets, gtidSets, (x, y) => {
        const difference = subtractMysqlGtidSet(x, y);
        expect(isMysqlGtidSubset(difference, x)).toBe(true);
        expect(text(subtractMysqlGtidSet(difference, y))).toBe(text(difference));
        expect(isMysqlGtidSubset(x, unionOfMysqlGtidSets(difference, y))).toBe(true);
        expect(text(set(text(x)))).toBe(text(x));
      }),
    );
  });
});

describe('MariaDB GTID positions', () => {
  it('reads gtid_binlog_pos, sorted by domain, and writes it back', () => {
    expect(formatMariadbGtidPosition(parseMariadbGtidPosition('1-2-50, 0-1-100'))).toBe('0-1-100,1-2-50');
    expect(formatMariadbGtidPosition(parseMariadbGtidPosition(''))).toBe('');
  });

  it('refuses a malformed member or a domain named twice', () => {
    expect(() => parseMariadbGtidPosition('0-1')).toThrow('"0-1" is not domain-server-sequence');
    expect(() => parseMariadbGtidPosition('0-1-5,0-2-7')).toThrow('domain 0 appears twice');
  });

  it('says a position is reached when every domain of it is as far or further, whichever server wrote it', () => {
    const snapshot = parseMariadbGtidPosition('0-1-100,1-2-50');
    expect(isMariadbPositionReached(snapshot, parseMariadbGtidPosition('0-3-120,1-2-50'))).toBe(true);
    expect(isMariadbPositionReached(snapshot, parseMariadbGtidPosition('0-1-120'))).toBe(false);
    expect(isMariadbPositionReached(parseMariadbGtidPosition(''), parseMariadbGtidPosition('0-1-1'))).toBe(true);
  });
});
