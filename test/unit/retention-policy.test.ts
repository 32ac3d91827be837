import { describe, expect, it } from 'vitest';
import { formatZodIssues } from '../../domain/resource-set';
import {
  applyRetentionPolicy,
  describeRetentionDecision,
  parseDurationMs,
  retentionPolicySchema,
  type RetainableSnapshot,
  type RetentionDecision,
  type RetentionPolicy,
} from '../../domain/retention-policy';

interface Snap extends RetainableSnapshot {
  label: string;
}

const snap = (startedAt: string, label = startedAt, snapshotId = `${startedAt}-id`): Snap => ({ label, startedAt, snapshotId });

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** One snapshot every `stepMs`, `count` of them, the newest at `newest`. */
function timeline(newest: string, count: number, stepMs: number): Snap[] {
  const end = Date.parse(newest);
  return Array.from({ length: count }, (_, i) => snap(new Date(end - i * stepMs).toISOString()));
}

const keptTimes = (decision: RetentionDecision<Snap>) => decision.keep.map((k) => k.snapshot.startedAt);
const removedTimes = (decision: RetentionDecision<Snap>) => decision.remove.map((r) => r.snapshot.startedAt);
const reasonsOf = (decision: RetentionDecision<Snap>, startedAt: string) =>
  decision.keep.find((k) => k.snapshot.startedAt === startedAt)?.reasons;

const now = new Date('2026-11-21T18:00:00.000Z');
const apply = (snapshots: readonly Snap[], policy: Partial<RetentionPolicy>, protect?: string[]) =>
  applyRetentionPolicy(snapshots, policy, { now, protect });

// Ten days of snapshots at 02:00 and 14:00 UTC, newest 2026-11-21T14:00Z.
const twiceDaily = timeline('2026-11-21T14:00:00.000Z', 20, 12 * HOUR);

describe('applyRetentionPolicy: no policy', () => {
  it('keeps everything when no rule is set', () => {
    for (const policy of [{}, { dryRun: true }, { keepLast: 0, keepDaily: 0, keepWeekly: 0 }] as Partial<RetentionPolicy>[]) {
      const decision = apply(twiceDaily, policy);
      expect(decision.remove).toEqual([]);
      expect(decision.keep).toHaveLength(20);
      expect(decision.keep.every((k) => k.reasons.join() === 'no retention policy')).toBe(true);
    }
  });

  it('returns empty lists for no snapshots, whatever the policy', () => {
    expect(apply([], {})).toEqual({ keep: [], remove: [] });
    expect(apply([], { keepLast: 3, maxRetention: '1h' })).toEqual({ keep: [], remove: [] });
  });
});

describe('applyRetentionPolicy: keepLast', () => {
  it('keeps the N newest and removes the rest, both newest first', () => {
    const decision = apply(twiceDaily, { keepLast: 3 });
    expect(keptTimes(decision)).toEqual(twiceDaily.slice(0, 3).map((s) => s.startedAt));
    expect(removedTimes(decision)).toEqual(twiceDaily.slice(3).map((s) => s.startedAt));
    expect(decision.keep[1]?.reasons).toEqual(['last snapshot']);
    expect(decision.remove[0]?.reason).toBe('not kept by any keep rule (keepLast 3)');
  });

  it('keeps everything when N is larger than the number of snapshots', () => {
    const decision = apply(twiceDaily, { keepLast: 1000 });
    expect(decision.keep).toHaveLength(20);
    expect(decision.remove).toEqual([]);
  });

  it('keeps exactly N when N equals the number of snapshots', () => {
    expect(apply(twiceDaily.slice(0, 5), { keepLast: 5 }).remove).toEqual([]);
    expect(apply(twiceDaily.slice(0, 6), { keepLast: 5 }).remove).toHaveLength(1);
  });

  it('keepLast 1 keeps only the newest', () => {
    const decision = apply(twiceDaily, { keepLast: 1 });
    expect(keptTimes(decision)).toEqual(['2026-11-21T14:00:00.000Z']);
    expect(decision.keep[0]?.reasons).toEqual(['last snapshot', 'newest snapshot']);
  });

  it('treats 0 as an unset rule, as restic does', () => {
    const decision = apply(twiceDaily, { keepLast: 0, keepDaily: 2 });
    expect(keptTimes(decision)).toEqual(['2026-11-21T14:00:00.000Z', '2026-11-20T14:00:00.000Z']);
    expect(decision.remove[0]?.reason).toBe('not kept by any keep rule (keepDaily 2)');
  });
});

describe('applyRetentionPolicy: calendar buckets', () => {
  it('keepDaily keeps the newest snapshot of each of the last N days that have snapshots', () => {
    const decision = apply(twiceDaily, { keepDaily: 3 });
    expect(keptTimes(decision)).toEqual(['2026-11-21T14:00:00.000Z', '2026-11-20T14:00:00.000Z', '2026-11-19T14:00:00.000Z']);
    expect(reasonsOf(decision, '2026-11-20T14:00:00.000Z')).toEqual(['daily snapshot (2026-11-20)']);
    expect(reasonsOf(decision, '2026-11-21T14:00:00.000Z')).toEqual(['daily snapshot (2026-11-21)', 'newest snapshot']);
  });

  it('skips days without snapshots instead of counting them', () => {
    const gappy = [
      snap('2026-11-21T01:00:00.000Z'),
      snap('2026-11-15T01:00:00.000Z'),
      snap('2026-11-01T01:00:00.000Z'),
      snap('2026-10-01T01:00:00.000Z'),
    ];
    expect(keptTimes(apply(gappy, { keepDaily: 3 }))).toEqual([
      '2026-11-21T01:00:00.000Z',
      '2026-11-15T01:00:00.000Z',
      '2026-11-01T01:00:00.000Z',
    ]);
  });

  it('splits days at UTC midnight', () => {
    const aroundMidnight = [
      snap('2026-11-21T00:00:00.000Z'),
      snap('2026-11-20T23:59:59.999Z'),
      snap('2026-11-20T00:00:00.000Z'),
      snap('2026-11-19T23:59:59.999Z'),
    ];
    const decision = apply(aroundMidnight, { keepDaily: 10 });
    expect(keptTimes(decision)).toEqual(['2026-11-21T00:00:00.000Z', '2026-11-20T23:59:59.999Z', '2026-11-19T23:59:59.999Z']);
    expect(removedTimes(decision)).toEqual(['2026-11-20T00:00:00.000Z']);
  });

  it('buckets by UTC even when the time is written with an offset', () => {
    // 2026-11-21T00:30+01:00 is 2026-11-20T23:30Z: the same UTC day as the 22:00Z snapshot.
    const withOffset = snap('2026-11-21T00:30:00.000+01:00', 'offset');
    const decision = apply([withOffset, snap('2026-11-20T22:00:00.000Z')], { keepDaily: 5 });
    expect(decision.keep.map((k) => k.reasons[0])).toEqual(['daily snapshot (2026-11-20)']);
    expect(decision.keep[0]?.snapshot).toBe(withOffset);
    expect(removedTimes(decision)).toEqual(['2026-11-20T22:00:00.000Z']);
  });

  it('keepHourly keeps the newest snapshot of each hour, split at the full hour', () => {
    const quarterHourly = timeline('2026-11-21T17:45:00.000Z', 12, 15 * 60_000); // 17:45 back to 15:00
    const decision = apply(quarterHourly, { keepHourly: 2 });
    expect(keptTimes(decision)).toEqual(['2026-11-21T17:45:00.000Z', '2026-11-21T16:45:00.000Z']);
    expect(reasonsOf(decision, '2026-11-21T16:45:00.000Z')).toEqual(['hourly snapshot (2026-11-21 16)']);
    const boundary = [snap('2026-11-21T17:00:00.000Z'), snap('2026-11-21T16:59:59.999Z'), snap('2026-11-21T16:00:00.000Z')];
    expect(keptTimes(apply(boundary, { keepHourly: 5 }))).toEqual(['2026-11-21T17:00:00.000Z', '2026-11-21T16:59:59.999Z']);
  });

  it('keepWeekly uses ISO weeks, Monday to Sunday', () => {
    const decision = apply(
      [
        snap('2026-11-23T00:00:00.000Z'), // Monday, W48
        snap('2026-11-22T23:59:59.999Z'), // Sunday, W47
        snap('2026-11-16T00:00:00.000Z'), // Monday, W47
        snap('2026-11-15T12:00:00.000Z'), // Sunday, W46
      ],
      { keepWeekly: 10 },
    );
    expect(decision.keep.map((k) => k.reasons[0])).toEqual([
      'weekly snapshot (2026-W48)',
      'weekly snapshot (2026-W47)',
      'weekly snapshot (2026-W46)',
    ]);
    expect(removedTimes(decision)).toEqual(['2026-11-16T00:00:00.000Z']);
  });

  it('keepWeekly puts 2026-12-31 and 2027-01-01 in the same ISO week, 2026-W53', () => {
    const decision = apply([snap('2027-01-01T10:00:00.000Z'), snap('2026-12-31T10:00:00.000Z'), snap('2026-12-27T10:00:00.000Z')], {
      keepWeekly: 10,
    });
    expect(decision.keep.map((k) => k.reasons[0])).toEqual(['weekly snapshot (2026-W53)', 'weekly snapshot (2026-W52)']);
    expect(removedTimes(decision)).toEqual(['2026-12-31T10:00:00.000Z']);
  });

  it('keepWeekly handles weeks owned by the neighbouring year (2020-W53, 2025-W01)', () => {
    const cases: Array<[string, string]> = [
      ['2020-12-31T12:00:00.000Z', '2020-W53'],
      ['2021-01-03T12:00:00.000Z', '2020-W53'], // Sunday
      ['2021-01-04T12:00:00.000Z', '2021-W01'], // Monday
      ['2024-12-30T12:00:00.000Z', '2025-W01'],
      ['2026-01-01T12:00:00.000Z', '2026-W01'],
      ['2027-01-04T00:00:00.000Z', '2027-W01'],
      ['2027-01-03T23:59:59.999Z', '2026-W53'],
      ['2026-11-21T18:00:00.000Z', '2026-W47'],
    ];
    for (const [startedAt, week] of cases) {
      expect(apply([snap(startedAt)], { keepWeekly: 1 }).keep[0]?.reasons[0], startedAt).toBe(`weekly snapshot (${week})`);
    }
  });

  it('keepMonthly and keepYearly split at the first instant of the UTC month and year', () => {
    const snapshots = [
      snap('2027-01-01T00:00:00.000Z'),
      snap('2026-12-31T23:59:59.999Z'),
      snap('2026-12-01T00:00:00.000Z'),
      snap('2026-11-30T23:59:59.999Z'),
      snap('2026-02-01T00:00:00.000Z'),
      snap('2025-06-15T00:00:00.000Z'),
    ];
    const monthly = apply(snapshots, { keepMonthly: 4 });
    expect(monthly.keep.map((k) => k.reasons[0])).toEqual([
      'monthly snapshot (2027-01)',
      'monthly snapshot (2026-12)',
      'monthly snapshot (2026-11)',
      'monthly snapshot (2026-02)',
    ]);
    expect(removedTimes(monthly)).toEqual(['2026-12-01T00:00:00.000Z', '2025-06-15T00:00:00.000Z']);
    const yearly = apply(snapshots, { keepYearly: 2 });
    expect(yearly.keep.map((k) => k.reasons[0])).toEqual(['yearly snapshot (2027)', 'yearly snapshot (2026)']);
    expect(keptTimes(yearly)).toEqual(['2027-01-01T00:00:00.000Z', '2026-12-31T23:59:59.999Z']);
  });

  it('keeps one per bucket for as many buckets as exist when N is larger', () => {
    const decision = apply(twiceDaily, { keepDaily: 365, keepMonthly: 100, keepYearly: 100 });
    expect(decision.keep).toHaveLength(10);
    expect(decision.keep.every((k) => /T14:00/.test(k.snapshot.startedAt))).toBe(true);
  });
});

describe('applyRetentionPolicy: maxRetention', () => {
  const hourly = timeline('2026-11-21T18:00:00.000Z', 10, HOUR); // 18:00 back to 09:00, now = 18:00

  it('keeps snapshots at most maxRetention old, including one exactly at the limit', () => {
    const decision = apply(hourly, { maxRetention: '3h' });
    expect(keptTimes(decision)).toEqual([
      '2026-11-21T18:00:00.000Z',
      '2026-11-21T17:00:00.000Z',
      '2026-11-21T16:00:00.000Z',
      '2026-11-21T15:00:00.000Z',
    ]);
    expect(reasonsOf(decision, '2026-11-21T15:00:00.000Z')).toEqual(['within maxRetention 3h']);
    expect(decision.remove[0]?.reason).toBe('older than maxRetention 3h');
  });

  it('removes a snapshot one millisecond past the limit', () => {
    const edge = [snap('2026-11-21T17:00:00.000Z'), snap('2026-11-20T18:00:00.000Z'), snap('2026-11-20T17:59:59.999Z')];
    const decision = apply(edge, { maxRetention: '24h' });
    expect(keptTimes(decision)).toEqual(['2026-11-21T17:00:00.000Z', '2026-11-20T18:00:00.000Z']);
    expect(removedTimes(decision)).toEqual(['2026-11-20T17:59:59.999Z']);
  });

  it('accepts days, weeks and compound durations, and names the duration as written', () => {
    const daily = timeline('2026-11-21T18:00:00.000Z', 30, DAY);
    expect(apply(daily, { maxRetention: '7d' }).keep).toHaveLength(8);
    expect(apply(daily, { maxRetention: '2w' }).keep).toHaveLength(15);
    expect(apply(daily, { maxRetention: '720h' }).keep).toHaveLength(30);
    expect(apply(hourly, { maxRetention: '1h30m' }).keep).toHaveLength(2);
    expect(apply(daily, { maxRetention: '2w' }).keep[1]?.reasons).toEqual(['within maxRetention 2w']);
  });

  it('keeps the newest snapshot even when every snapshot is older than maxRetention', () => {
    const old = timeline('2026-01-01T00:00:00.000Z', 5, DAY);
    const decision = apply(old, { maxRetention: '720h' });
    expect(keptTimes(decision)).toEqual(['2026-01-01T00:00:00.000Z']);
    expect(decision.keep[0]?.reasons).toEqual(['newest snapshot']);
    expect(decision.remove).toHaveLength(4);
  });

  it('keeps snapshots dated after now (clock skew) as within maxRetention', () => {
    const decision = apply([snap('2026-11-21T19:00:00.000Z'), snap('2026-11-21T17:00:00.000Z')], { maxRetention: '30m' });
    expect(reasonsOf(decision, '2026-11-21T19:00:00.000Z')).toEqual(['within maxRetention 30m', 'newest snapshot']);
    expect(removedTimes(decision)).toEqual(['2026-11-21T17:00:00.000Z']);
  });
});

describe('applyRetentionPolicy: combining rules', () => {
  it('keeps the union of all rules and lists every reason', () => {
    // Newest 2026-11-21T14:00Z; now 18:00Z. 36h reaches back to 2026-11-20T06:00Z.
    const decision = apply(twiceDaily, { keepLast: 2, keepDaily: 4, keepWeekly: 2, maxRetention: '36h' });
    expect(keptTimes(decision)).toEqual([
      '2026-11-21T14:00:00.000Z',
      '2026-11-21T02:00:00.000Z',
      '2026-11-20T14:00:00.000Z',
      '2026-11-19T14:00:00.000Z',
      '2026-11-18T14:00:00.000Z',
      '2026-11-15T14:00:00.000Z',
    ]);
    expect(reasonsOf(decision, '2026-11-21T14:00:00.000Z')).toEqual([
      'last snapshot',
      'daily snapshot (2026-11-21)',
      'weekly snapshot (2026-W47)',
      'within maxRetention 36h',
      'newest snapshot',
    ]);
    expect(reasonsOf(decision, '2026-11-21T02:00:00.000Z')).toEqual(['last snapshot', 'within maxRetention 36h']);
    expect(reasonsOf(decision, '2026-11-20T14:00:00.000Z')).toEqual(['daily snapshot (2026-11-20)', 'within maxRetention 36h']);
    expect(reasonsOf(decision, '2026-11-15T14:00:00.000Z')).toEqual(['weekly snapshot (2026-W46)']);
    expect(decision.remove.map((r) => r.reason)).toEqual(
      Array(14).fill('older than maxRetention 36h and not kept by any keep rule (keepLast 2, keepDaily 4, keepWeekly 2)'),
    );
  });

  it('does not let one rule use up another rule’s count', () => {
    // keepLast 2 and keepDaily 2 both keep the newest; keepDaily still reaches a second day.
    const decision = apply(twiceDaily, { keepLast: 2, keepDaily: 2 });
    expect(keptTimes(decision)).toEqual(['2026-11-21T14:00:00.000Z', '2026-11-21T02:00:00.000Z', '2026-11-20T14:00:00.000Z']);
  });
});

describe('applyRetentionPolicy: protect and the newest snapshot', () => {
  it('always keeps protected snapshots and says why', () => {
    const oldest = twiceDaily[19]!;
    const decision = apply(twiceDaily, { keepLast: 1 }, [oldest.snapshotId, 'not-a-listed-snapshot']);
    expect(decision.keep.map((k) => k.snapshot)).toEqual([twiceDaily[0], oldest]);
    expect(decision.keep[1]?.reasons).toEqual([`protected: ${oldest.snapshotId}`]);
    expect(decision.remove).toHaveLength(18);
  });

  it('lists protection alongside other reasons', () => {
    const newest = twiceDaily[0]!;
    const decision = apply(twiceDaily, { keepLast: 1 }, [newest.snapshotId]);
    expect(decision.keep[0]?.reasons).toEqual(['last snapshot', `protected: ${newest.snapshotId}`, 'newest snapshot']);
  });

  it('keeps the newest snapshot whatever the policy', () => {
    const decision = apply(timeline('2020-01-01T00:00:00.000Z', 3, DAY), { maxRetention: '1m' });
    expect(decision.keep.map((k) => k.reasons)).toEqual([['newest snapshot']]);
  });
});

describe('applyRetentionPolicy: order and ties', () => {
  it('does not depend on the input order', () => {
    const policy = { keepLast: 1, keepDaily: 3, keepWeekly: 2, maxRetention: '20h' };
    const expected = apply(twiceDaily, policy);
    const reversed = apply([...twiceDaily].reverse(), policy);
    const shuffled = apply(
      [twiceDaily[7]!, ...twiceDaily.slice(10), twiceDaily[0]!, ...twiceDaily.slice(1, 7), ...twiceDaily.slice(8, 10)],
      policy,
    );
    expect(reversed).toEqual(expected);
    expect(shuffled).toEqual(expected);
  });

  it('orders equal times by snapshot id descending, in any input order', () => {
    const at = '2026-11-21T12:00:00.000Z';
    const a = snap(at, 'a', '20261121T120000000Z-111111');
    const b = snap(at, 'b', '20261121T120000000Z-999999');
    const c = snap(at, 'c', '20261121T120000000Z-555555');
    for (const order of [
      [a, b, c],
      [c, a, b],
      [b, c, a],
    ]) {
      const decision = apply(order, { keepLast: 1 });
      expect(decision.keep.map((k) => k.snapshot)).toEqual([b]);
      expect(decision.remove.map((r) => r.snapshot)).toEqual([c, a]);
      expect(apply(order, { keepDaily: 1 }).keep.map((k) => k.snapshot)).toEqual([b]);
    }
  });

  it('compares times, not strings', () => {
    // 03:30+02:00 is 01:30Z: older than 02:00Z although its string sorts after it.
    const early = snap('2026-11-21T03:30:00.000+02:00', 'early');
    const later = snap('2026-11-21T02:00:00.000Z', 'later');
    expect(apply([early, later], { keepLast: 1 }).keep.map((k) => k.snapshot)).toEqual([later]);
  });

  it('returns the caller’s snapshot objects, not copies', () => {
    const decision = apply(twiceDaily, { keepLast: 1 });
    expect(decision.keep[0]?.snapshot).toBe(twiceDaily[0]);
    expect(decision.remove[0]?.snapshot).toBe(twiceDaily[1]);
  });
});

describe('applyRetentionPolicy: refusing to guess', () => {
  it('throws on a policy that does not validate, naming the field', () => {
    expect(() => apply(twiceDaily, { maxRetention: 'forever' })).toThrow(/invalid retention policy[\s\S]*maxRetention/);
    expect(() => apply(twiceDaily, { keepDaily: -1 })).toThrow(/keepDaily/);
    expect(() => apply(twiceDaily, { keepDaily: 1.5 })).toThrow(/keepDaily/);
  });

  it('throws on a snapshot whose time does not parse, naming the snapshot', () => {
    expect(() => apply([snap('not a time', 'bad', 'bad-id')], { keepLast: 1 })).toThrow(/snapshot bad-id: startedAt "not a time"/);
  });
});

describe('dryRun', () => {
  it('does not change the decision', () => {
    const policy = { keepDaily: 2, maxRetention: '12h' };
    expect(apply(twiceDaily, { ...policy, dryRun: true })).toEqual(apply(twiceDaily, policy));
  });
});

describe('describeRetentionDecision', () => {
  it('prints one line per snapshot, newest first, kept and removed interleaved', () => {
    const snapshots = [
      snap('2026-11-21T14:00:00.000Z', 'a', '20261121T140000000Z-aaaaaa'),
      snap('2026-11-21T02:00:00.000Z', 'b', '20261121T020000000Z-bbbbbb'),
      snap('2026-11-20T14:00:00.000Z', 'c', '20261120T140000000Z-cccccc'),
      snap('2026-11-10T14:00:00.000Z', 'd', '20261110T140000000Z-dddddd'),
    ];
    const decision = apply(snapshots, { keepDaily: 2, keepWeekly: 2 });
    expect(describeRetentionDecision(decision)).toEqual([
      'keep   20261121T140000000Z-aaaaaa  2026-11-21T14:00:00.000Z  daily snapshot (2026-11-21), weekly snapshot (2026-W47), newest snapshot',
      'remove 20261121T020000000Z-bbbbbb  2026-11-21T02:00:00.000Z  not kept by any keep rule (keepDaily 2, keepWeekly 2)',
      'keep   20261120T140000000Z-cccccc  2026-11-20T14:00:00.000Z  daily snapshot (2026-11-20)',
      'keep   20261110T140000000Z-dddddd  2026-11-10T14:00:00.000Z  weekly snapshot (2026-W46)',
    ]);
  });

  it('prints nothing for no snapshots', () => {
    expect(describeRetentionDecision({ keep: [], remove: [] })).toEqual([]);
  });
});

describe('retentionPolicySchema', () => {
  const problem = (input: unknown): string => {
    const parsed = retentionPolicySchema.safeParse(input);
    return parsed.success ? '' : formatZodIssues(parsed.error.issues);
  };

  it('accepts an empty policy and defaults dryRun to false', () => {
    expect(retentionPolicySchema.parse({})).toEqual({ dryRun: false });
  });

  it('accepts every field', () => {
    const policy = {
      maxRetention: '720h',
      keepLast: 0,
      keepHourly: 24,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 12,
      keepYearly: 100_000,
      dryRun: true,
    };
    expect(retentionPolicySchema.parse(policy)).toEqual(policy);
  });

  it('accepts Go-style, day and week durations', () => {
    for (const maxRetention of ['720h', '30m', '1h30m', '90s', '7d', '2w', '1.5h']) {
      expect(problem({ maxRetention }), maxRetention).toBe('');
    }
  });

  it('rejects zero, negative and garbage durations with a message naming the field', () => {
    for (const maxRetention of ['0h', '0s', '-1h', '10', '', 'forever', '1y', '1 h', 'h']) {
      expect(problem({ maxRetention }), maxRetention).toBe('maxRetention: must be a positive duration such as 30m, 12h, 1h30m, 7d or 2w');
    }
    expect(problem({ maxRetention: 720 })).toMatch(/^maxRetention: /);
  });

  it('rejects counts that are negative, fractional, too large or not numbers, naming the field', () => {
    const fields = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'];
    for (const field of fields) {
      for (const value of [-1, 1.5, 100_001, '3', null, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(problem({ [field]: value }), `${field}=${String(value)}`).toBe(`${field}: must be a whole number from 0 to 100000`);
      }
    }
  });

  it('rejects unknown fields (a misspelt rule must not silently keep everything)', () => {
    expect(problem({ keepDayly: 7 })).toMatch(/keepDayly/);
    expect(problem({ keepWithin: '7d' })).toMatch(/keepWithin/);
  });

  it('rejects a dryRun that is not a boolean', () => {
    expect(problem({ dryRun: 'yes' })).toMatch(/^dryRun: /);
  });
});

describe('parseDurationMs', () => {
  it('reads Go-style durations, days and weeks', () => {
    expect(parseDurationMs('720h')).toBe(720 * HOUR);
    expect(parseDurationMs('30m')).toBe(30 * 60_000);
    expect(parseDurationMs('1h30m')).toBe(90 * 60_000);
    expect(parseDurationMs('7d')).toBe(7 * DAY);
    expect(parseDurationMs('2w')).toBe(14 * DAY);
    expect(parseDurationMs('250ms')).toBe(250);
  });

  it('returns undefined for zero, negative and garbage', () => {
    for (const text of ['0h', '0m0s', '-1h', '10', '', 'forever', '1y', 'h', '1h-30m']) expect(parseDurationMs(text), text).toBeUndefined();
  });
});

describe('applyRetentionPolicy: invariants over random timelines', () => {
  /** mulberry32: small, seeded, so a failure reproduces with the printed seed. */
  function prng(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  const RULES = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;
  const DURATIONS = ['30m', '6h', '36h', '7d', '2w', '720h'];

  it('keeps and removes every snapshot exactly once, and never removes what must be kept', () => {
    for (let seed = 1; seed <= 400; seed += 1) {
      const random = prng(seed);
      const int = (max: number) => Math.floor(random() * max);
      const count = int(60);
      // Spacing from minutes to months, with some exact duplicates of time to exercise ties.
      const span = [HOUR, DAY, 30 * DAY, 800 * DAY][int(4)]!;
      const snapshots: Snap[] = [];
      for (let i = 0; i < count; i += 1) {
        const time =
          i > 0 && random() < 0.1
            ? snapshots[int(i)]!.startedAt
            : new Date(now.getTime() + HOUR - Math.floor(random() * span)).toISOString();
        snapshots.push(snap(time, `s${i}`, `${time}-${String(i).padStart(3, '0')}`));
      }
      const policy: Partial<RetentionPolicy> = {};
      for (const rule of RULES) if (random() < 0.4) policy[rule] = int(12);
      if (random() < 0.4) policy.maxRetention = DURATIONS[int(DURATIONS.length)]!;
      const protect = snapshots.filter(() => random() < 0.05).map((s) => s.snapshotId);

      const decision = applyRetentionPolicy(snapshots, policy, { now, protect });
      const context = `seed ${seed}: ${JSON.stringify(policy)}`;
      const kept = decision.keep.map((k) => k.snapshot);
      const removed = decision.remove.map((r) => r.snapshot);

      expect(kept.length + removed.length, context).toBe(count);
      expect(new Set([...kept, ...removed]).size, context).toBe(count);
      expect(
        snapshots.every((s) => kept.includes(s) || removed.includes(s)),
        context,
      ).toBe(true);

      const newestFirst = [...snapshots].sort(
        (a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || (a.snapshotId < b.snapshotId ? 1 : -1),
      );
      const isNewestFirst = (list: Snap[]) => list.every((s, i) => i === 0 || newestFirst.indexOf(list[i - 1]!) < newestFirst.indexOf(s));
      expect(isNewestFirst(kept) && isNewestFirst(removed), context).toBe(true);

      if (count > 0) expect(kept[0], context).toBe(newestFirst[0]);
      for (const id of protect)
        expect(
          kept.some((s) => s.snapshotId === id),
          context,
        ).toBe(true);
      expect(decision.keep.every((k) => k.reasons.length > 0) && decision.remove.every((r) => r.reason.length > 0), context).toBe(true);

      const keepLast = policy.keepLast ?? 0;
      if (keepLast > 0) {
        expect(kept.length, context).toBeGreaterThanOrEqual(Math.min(keepLast, count));
        expect(
          newestFirst.slice(0, keepLast).every((s) => kept.includes(s)),
          context,
        ).toBe(true);
      }
      const hasRule = policy.maxRetention !== undefined || RULES.some((rule) => (policy[rule] ?? 0) > 0);
      if (!hasRule) expect(removed, context).toEqual([]);

      // Input order never matters.
      expect(applyRetentionPolicy([...snapshots].reverse(), policy, { now, protect }), context).toEqual(decision);
    }
  });
});
