import { describe, expect, it } from 'vitest';
import { parseDurationMs } from '../../domain/duration';
import { durationSchema } from '../../domain/duration-schema';

describe('parseDurationMs', () => {
  it('reads Go-style durations and days and weeks', () => {
    expect(parseDurationMs('720h')).toBe(720 * 3_600_000);
    expect(parseDurationMs('1h30m')).toBe(90 * 60_000);
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('7d')).toBe(7 * 86_400_000);
    expect(parseDurationMs('2w')).toBe(14 * 86_400_000);
    expect(parseDurationMs('1.5h')).toBe(90 * 60_000);
  });

  it('rejects zero, negative, unitless and garbage', () => {
    for (const text of ['0s', '0h0m', '-1h', '10', 'h', '1y', '1 h', '', 'forever', '1h-30m'])
      expect(parseDurationMs(text), text).toBeUndefined();
  });

  it('is what the schema checks, with a message a user can act on', () => {
    expect(durationSchema.safeParse('10m').success).toBe(true);
    const parsed = durationSchema.safeParse('ten minutes');
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toContain('must be a positive duration such as 30m');
  });
});
