import { describe, expect, it } from 'vitest';
import { longestCronIntervalSeconds } from '../../domain/cron-expression';

const hours = (expression: string) => longestCronIntervalSeconds(expression) / 3600;

describe('longestCronIntervalSeconds', () => {
  it('is the longest gap between two slots, across days, weekends, months and leap years', () => {
    expect(hours('0 3 * * *')).toBe(24);
    expect(hours('*/15 * * * *')).toBe(0.25);
    expect(hours('0 */6 * * *')).toBe(6);
    expect(hours('0 3 * * 1-5')).toBe(72);
    expect(hours('0 9-17 * * mon-fri')).toBe(64);
    expect(hours('30 2 1,15 * *')).toBe(17 * 24);
    expect(hours('0 0 29 2 *')).toBe(1461 * 24);
    expect(hours('5 4 * * 7')).toBe(168);
  });

  it('reads the macros, and day of month or day of week as cron does when both are restricted', () => {
    expect(hours('@hourly')).toBe(1);
    expect(hours('@daily')).toBe(24);
    expect(hours('@weekly')).toBe(168);
    expect(hours('@yearly')).toBe(366 * 24);
    expect(hours('0 3 1 * 1')).toBe(168);
  });
});
