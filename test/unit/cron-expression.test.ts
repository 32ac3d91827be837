import { describe, expect, it } from 'vitest';
import { cronExpressionProblem, isKnownTimeZone } from '../../domain/cron-expression';

describe('cronExpressionProblem', () => {
  it('accepts five-field expressions with lists, ranges, steps and names, and the @ macros', () => {
    for (const cron of [
      '0 2 * * *',
      '*/15 * * * *',
      '0 0-23/6 * * 1-5',
      '30 3 1,15 * *',
      '0 4 * jan,jul sun',
      '0 0 * * 7',
      '@daily',
      '@hourly',
      '@weekly',
    ]) {
      expect(cronExpressionProblem(cron), cron).toBeUndefined();
    }
  });

  it('names what is wrong', () => {
    expect(cronExpressionProblem('0 2 * *')).toMatch(/must have 5 fields .* got 4/);
    expect(cronExpressionProblem('60 2 * * *')).toBe('minute 60 is outside 0-59');
    expect(cronExpressionProblem('0 24 * * *')).toBe('hour 24 is outside 0-23');
    expect(cronExpressionProblem('0 0 0 * *')).toBe('day of month 0 is outside 1-31');
    expect(cronExpressionProblem('0 0 * 13 *')).toBe('month 13 is outside 1-12');
    expect(cronExpressionProblem('0 0 * * 8')).toBe('day of week 8 is outside 0-7');
    expect(cronExpressionProblem('0 0 * * funday')).toMatch(/day of week "funday" is not a number or a name/);
    expect(cronExpressionProblem('*/0 * * * *')).toMatch(/step "0" must be a positive number/);
    expect(cronExpressionProblem('5-1 * * * *')).toMatch(/range 5-1 ends before it starts/);
    expect(cronExpressionProblem('@sometimes')).toMatch(/is not one of @yearly/);
    expect(cronExpressionProblem('')).toMatch(/must have 5 fields/);
    expect(cronExpressionProblem('a,,b * * * *')).toMatch(/minute/);
  });
});

describe('isKnownTimeZone', () => {
  it('accepts IANA names and rejects the rest', () => {
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) expect(isKnownTimeZone(zone), zone).toBe(true);
    for (const zone of ['Mars/Olympus', 'Europe/Berlinn', '../etc/passwd', '']) expect(isKnownTimeZone(zone), zone).toBe(false);
  });
});
