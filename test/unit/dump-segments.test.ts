import { describe, expect, it } from 'vitest';
import { describeTables } from '../../domain/dump-segments';

describe('describeTables', () => {
  it('names up to three tables and counts the rest', () => {
    expect(describeTables(['a'])).toBe('`a`');
    expect(describeTables(['a', 'b', 'c', 'd', 'e'])).toBe('`a`, `b`, `c` and 2 more');
  });
});
