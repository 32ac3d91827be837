import { describe, expect, it } from 'vitest';
import {
  selectSnapshot,
  selectSnapshotForRecoveryTime,
  snapshotSelectorSchema,
  type SelectableSnapshot,
} from '../../domain/snapshot-selection';

interface Snap extends SelectableSnapshot {
  label: string;
}

const snap = (label: string, startedAt: string, snapshotId = `${label}-id`): Snap => ({ label, startedAt, snapshotId });

const monday = snap('monday', '2026-11-16T02:00:00.000Z');
const tuesday = snap('tuesday', '2026-11-17T02:00:00.000Z');
const wednesday = snap('wednesday', '2026-11-18T02:00:00.000Z');
const week = [monday, tuesday, wednesday];

describe('selectSnapshotForRecoveryTime', () => {
  it('picks the newest snapshot at or before the time', () => {
    expect(selectSnapshotForRecoveryTime(week, new Date('2026-11-17T12:00:00Z'))).toBe(tuesday);
    expect(selectSnapshotForRecoveryTime(week, new Date('2026-11-30T00:00:00Z'))).toBe(wednesday);
  });

  it('includes a snapshot taken exactly at the time', () => {
    expect(selectSnapshotForRecoveryTime(week, new Date('2026-11-17T02:00:00.000Z'))).toBe(tuesday);
  });

  it('excludes a snapshot one millisecond after the time', () => {
    expect(selectSnapshotForRecoveryTime(week, new Date('2026-11-17T01:59:59.999Z'))).toBe(monday);
  });

  it('returns undefined when every snapshot is newer', () => {
    expect(selectSnapshotForRecoveryTime(week, new Date('2026-11-16T01:59:59.999Z'))).toBeUndefined();
  });

  it('returns undefined for no snapshots', () => {
    expect(selectSnapshotForRecoveryTime([], new Date())).toBeUndefined();
  });

  it('does not depend on the input order', () => {
    const orders = [
      [monday, tuesday, wednesday],
      [wednesday, tuesday, monday],
      [tuesday, wednesday, monday],
      [wednesday, monday, tuesday],
    ];
    for (const order of orders) {
      expect(selectSnapshotForRecoveryTime(order, new Date('2026-11-17T12:00:00Z'))).toBe(tuesday);
      expect(selectSnapshotForRecoveryTime(order, new Date('2027-01-01T00:00:00Z'))).toBe(wednesday);
    }
  });

  it('breaks a tie on the same consistent point by the larger snapshot id, in any order', () => {
    const a = snap('a', '2026-11-17T02:00:00.000Z', '20261117T020000000Z-111111');
    const b = snap('b', '2026-11-17T02:00:00.000Z', '20261117T020000000Z-999999');
    const c = snap('c', '2026-11-17T02:00:00.000Z', '20261117T020000000Z-555555');
    expect(selectSnapshotForRecoveryTime([a, b, c], new Date('2026-11-17T03:00:00Z'))).toBe(b);
    expect(selectSnapshotForRecoveryTime([b, a, c], new Date('2026-11-17T03:00:00Z'))).toBe(b);
    expect(selectSnapshotForRecoveryTime([c, a, b], new Date('2026-11-17T03:00:00Z'))).toBe(b);
  });

  it('compares times, not strings, so offsets other than Z are handled', () => {
    // 03:30+02:00 is 01:30Z: before tuesday's 02:00Z even though the string sorts after it.
    const early = snap('early', '2026-11-17T03:30:00.000+02:00');
    expect(selectSnapshotForRecoveryTime([early, monday, tuesday], new Date('2026-11-17T01:45:00Z'))).toBe(early);
    expect(selectSnapshotForRecoveryTime([early, monday, tuesday], new Date('2026-11-17T02:30:00Z'))).toBe(tuesday);
  });
});

describe('selectSnapshot', () => {
  const now = new Date('2026-11-17T12:00:00Z');

  it('finds a snapshot by exact id, whatever its time', () => {
    expect(selectSnapshot(week, { snapshotId: 'wednesday-id' }, now)).toBe(wednesday);
    expect(selectSnapshot(week, { snapshotId: 'monday-id' }, now)).toBe(monday);
  });

  it('returns undefined for an unknown id', () => {
    expect(selectSnapshot(week, { snapshotId: 'friday-id' }, now)).toBeUndefined();
    expect(selectSnapshot(week, { snapshotId: 'monday' }, now)).toBeUndefined();
  });

  it('uses the recovery time when given', () => {
    expect(selectSnapshot(week, { targetRecoveryTime: '2026-11-16T12:00:00Z' }, now)).toBe(monday);
    expect(selectSnapshot(week, { targetRecoveryTime: '2026-11-15T12:00:00Z' }, now)).toBeUndefined();
  });

  it('defaults the recovery time to now', () => {
    expect(selectSnapshot(week, {}, now)).toBe(tuesday);
    expect(selectSnapshot(week, {}, new Date('2026-11-18T02:00:00.000Z'))).toBe(wednesday);
    expect(selectSnapshot(week, {}, new Date('2026-11-01T00:00:00Z'))).toBeUndefined();
  });
});

describe('snapshotSelectorSchema', () => {
  it('accepts an id, an RFC 3339 time with Z or an offset, and no time at all', () => {
    expect(snapshotSelectorSchema.safeParse({ snapshotId: '20261121T161704123Z-3f9a1c' }).success).toBe(true);
    expect(snapshotSelectorSchema.safeParse({ targetRecoveryTime: '2026-11-17T12:00:00Z' }).success).toBe(true);
    expect(snapshotSelectorSchema.safeParse({ targetRecoveryTime: '2026-11-17T12:00:00+01:00' }).success).toBe(true);
    expect(snapshotSelectorSchema.safeParse({}).success).toBe(true);
  });

  it('rejects a time that is not RFC 3339, which would otherwise select the newest snapshot', () => {
    for (const targetRecoveryTime of ['yesterday', '2026-13-01T00:00:00Z', '17/11/2026', '']) {
      const parsed = snapshotSelectorSchema.safeParse({ targetRecoveryTime });
      expect(parsed.success, targetRecoveryTime).toBe(false);
    }
  });

  it('rejects a malformed id and unknown fields', () => {
    expect(snapshotSelectorSchema.safeParse({ snapshotId: '../etc' }).success).toBe(false);
    expect(snapshotSelectorSchema.safeParse({ snapshotId: '20261121T161704123Z-3f9a1c', extra: 1 }).success).toBe(false);
  });
});
