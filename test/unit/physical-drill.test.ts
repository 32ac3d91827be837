import { describe, expect, it } from 'vitest';
import { drillOutcomeSchema } from '../../domain/drill-outcome';
import { CHECKED_TABLE_TYPES, checkTableFailure, physicalDrillDifferences } from '../../domain/physical-drill';

const row = (msgType: string, msgText: string) => ({ msgType, msgText });

describe('checkTableFailure', () => {
  it("passes InnoDB's OK and MyISAM's already-checked status", () => {
    expect(checkTableFailure([row('status', 'OK')])).toBeUndefined();
    expect(checkTableFailure([row('status', 'Table is already up to date')])).toBeUndefined();
  });

  it('passes a table whose engine checks nothing (notes only) and one with a warning before an OK status', () => {
    expect(checkTableFailure([row('note', "The storage engine for the table doesn't support check")])).toBeUndefined();
    expect(checkTableFailure([row('warning', 'Table has no primary key'), row('status', 'OK')])).toBeUndefined();
  });

  it("fails on the server's errors and a status other than OK, naming them", () => {
    expect(checkTableFailure([row('Warning', 'InnoDB: The B-tree of index PRIMARY is corrupted.'), row('error', 'Corrupt')])).toBe(
      'Corrupt',
    );
    expect(
      checkTableFailure([row('error', 'Table upgrade required. Please do "REPAIR TABLE `t`"'), row('status', 'Operation failed')]),
    ).toBe('Table upgrade required. Please do "REPAIR TABLE `t`"; Operation failed');
    expect(checkTableFailure([row('status', 'Corrupt')])).toBe('Corrupt');
  });

  it('keeps a long message on one bounded line', () => {
    const failure = checkTableFailure([row('error', `first line\n${'x'.repeat(1000)}`)]);
    expect(failure).toMatch(/^first line x+…$/);
    expect(failure).toHaveLength(300);
  });

  it('checks base tables, system-versioned ones too, and no views or sequences', () => {
    expect(CHECKED_TABLE_TYPES).toEqual(['BASE TABLE', 'SYSTEM VERSIONED']);
  });
});

describe('physicalDrillDifferences', () => {
  it('is empty when every table passed, every database of the manifest is there and the dump read every row', () => {
    expect(physicalDrillDifferences({ failedChecks: [], restoredDatabases: ['shop', 'added_later'], snapshotDatabases: ['shop'] })).toEqual(
      [],
    );
  });

  it('names the tables failing CHECK TABLE, the databases missing and a failed dump, in that order', () => {
    expect(
      physicalDrillDifferences({
        failedChecks: [{ database: 'shop', table: 'orders', failure: 'Corrupt' }],
        restoredDatabases: ['shop'],
        snapshotDatabases: ['crm', 'shop'],
        dumpFailure: 'mariadb-dump: Error 1877: Table `orders` is corrupted.\nPlease drop the table',
      }),
    ).toEqual([
      'table shop.orders: CHECK TABLE failed: Corrupt',
      'database crm: missing after the restore',
      'the dump of the restored copy failed: mariadb-dump: Error 1877: Table `orders` is corrupted. Please drop the table',
    ]);
  });
});

describe('drillOutcomeSchema', () => {
  const outcome = {
    snapshotId: '20261204T010000123Z-abcdef',
    passed: true,
    verifiedAt: '2026-12-04T01:05:00.000Z',
    durationSeconds: 12.5,
    restoreSeconds: 8,
    restoredBytes: 1000,
    restoreBytesPerSecond: 125,
    tables: 3,
    differences: [],
  };

  it("reads an outcome of an earlier version, without the proof (a fingerprint's)", () => {
    expect(drillOutcomeSchema.parse(outcome)).toEqual(outcome);
  });

  it("reads a physical drill's, with the restored copy's fingerprint", () => {
    const restoredFingerprint = {
      formatVersion: 2,
      dumpArgs: [],
      tables: { 'shop.orders': { rows: 120, sha256: 'a'.repeat(64) } },
      definitions: { 'shop: table orders': 'b'.repeat(64) },
    };
    const physical = { ...outcome, proof: 'physical-integrity', restoredFingerprint };
    expect(drillOutcomeSchema.parse(physical)).toEqual(physical);
    expect(drillOutcomeSchema.safeParse({ ...outcome, proof: 'checksum' }).success).toBe(false);
  });
});
