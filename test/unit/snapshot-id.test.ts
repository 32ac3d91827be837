import { describe, expect, it } from 'vitest';
import { formatSnapshotId, SNAPSHOT_ID_PATTERN, snapshotIdTime } from '../../domain/snapshot-id';

describe('formatSnapshotId', () => {
  it('writes the UTC time to the millisecond and the suffix', () => {
    expect(formatSnapshotId(new Date('2026-11-21T16:17:04.123Z'), '3f9a1c')).toBe('20261121T161704123Z-3f9a1c');
  });

  it('pads every field, including milliseconds', () => {
    expect(formatSnapshotId(new Date('2026-01-02T03:04:05.006Z'), '000000')).toBe('20260102T030405006Z-000000');
  });

  it('uses UTC whatever the time was created from', () => {
    // 18:17:04 at +02:00 is 16:17:04 UTC.
    expect(formatSnapshotId(new Date('2026-11-21T18:17:04.123+02:00'), 'abcdef')).toBe('20261121T161704123Z-abcdef');
  });

  it('produces ids the pattern accepts', () => {
    expect(SNAPSHOT_ID_PATTERN.test(formatSnapshotId(new Date(0), 'a1b2c3'))).toBe(true);
  });

  it.each(['', '3f9a1', '3f9a1c0', '3F9A1C', 'ghijkl', '3f9a1/', ' 3f9a1', '3f9a1c\n'])('rejects the suffix %j', (suffix) => {
    expect(() => formatSnapshotId(new Date('2026-11-21T16:17:04.123Z'), suffix)).toThrow(
      `snapshot id suffix must be 6 hex digits, got ${JSON.stringify(suffix)}`,
    );
  });
});

describe('snapshotIdTime', () => {
  it('reads back the time an id was formatted from', () => {
    const times = ['2026-11-21T16:17:04.123Z', '1970-01-01T00:00:00.000Z', '2000-02-29T23:59:59.999Z', '2099-12-31T00:00:00.001Z'];
    for (const iso of times) {
      const time = new Date(iso);
      expect(snapshotIdTime(formatSnapshotId(time, '0a1b2c')).getTime()).toBe(time.getTime());
    }
  });

  it('keeps millisecond precision over many random times', () => {
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 200; i++) {
      const ms = (next() % 2 ** 31) * 1000 + (next() % 1000);
      const time = new Date(ms);
      expect(snapshotIdTime(formatSnapshotId(time, 'ffffff')).toISOString()).toBe(time.toISOString());
    }
  });

  it.each([
    '',
    'latest',
    '20261121T161704123Z',
    '20261121T161704123Z-3f9a1',
    '20261121T161704123Z-3F9A1C',
    '20261121T161704Z-3f9a1c',
    '2026-11-21T16:17:04.123Z-3f9a1c',
    '20261121T161704123Z-3f9a1c/',
    '../20261121T161704123Z-3f9a1c',
    ' 20261121T161704123Z-3f9a1c',
  ])('rejects %j', (id) => {
    expect(() => snapshotIdTime(id)).toThrow(`not a snapshot id: ${JSON.stringify(id)}`);
  });
});

describe('snapshot id order', () => {
  it('sorts lexically in time order, the suffix only breaking ties', () => {
    const times = [
      '2026-11-21T16:17:04.123Z',
      '2026-11-21T16:17:04.124Z',
      '2026-11-21T16:17:05.000Z',
      '2026-11-22T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
      '2025-12-31T23:59:59.999Z',
      '2026-02-01T09:00:00.000Z',
      '2026-10-01T09:00:00.000Z',
    ].map((iso) => new Date(iso));
    const suffixes = ['ffffff', '000000', 'a00000', '0fffff', '123456', 'abcdef', '999999', 'fedcba'];
    const ids = times.map((t, i) => formatSnapshotId(t, suffixes[i]!));
    const lexical = [...ids].sort();
    const chronological = [...ids].sort((a, b) => snapshotIdTime(a).getTime() - snapshotIdTime(b).getTime());
    expect(lexical).toEqual(chronological);
    expect(lexical[0]).toBe('20251231T235959999Z-abcdef');
    expect(lexical.at(-1)).toBe('20270101T000000000Z-123456');
  });

  it('orders two ids of the same millisecond by suffix', () => {
    const t = new Date('2026-11-21T16:17:04.123Z');
    const ids = [formatSnapshotId(t, 'b00000'), formatSnapshotId(t, 'a00000'), formatSnapshotId(t, '100000')];
    expect([...ids].sort()).toEqual(['20261121T161704123Z-100000', '20261121T161704123Z-a00000', '20261121T161704123Z-b00000']);
  });
});
