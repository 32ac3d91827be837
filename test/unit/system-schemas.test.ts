import { describe, expect, it } from 'vitest';
import { databasesReplacedByRestore, isSystemSchema, SYSTEM_SCHEMAS } from '../../domain/system-schemas';

describe('databasesReplacedByRestore', () => {
  it("keeps the server's own schemas out of what a restore drops: an imported --all-databases dump lists mysql", () => {
    expect(databasesReplacedByRestore(['mysql', 'shop', 'test'])).toEqual(['shop', 'test']);
    expect(databasesReplacedByRestore(['information_schema', 'performance_schema', 'sys', 'mysql'])).toEqual([]);
    expect(databasesReplacedByRestore(['shop'])).toEqual(['shop']);
    // A restore of `--database mysql` applies the grants, and drops nothing.
    expect(databasesReplacedByRestore(['mysql'])).toEqual([]);
  });

  it('compares names without case, as servers with lower_case_table_names do', () => {
    expect(isSystemSchema('MySQL')).toBe(true);
    expect(isSystemSchema('Performance_Schema')).toBe(true);
    expect(isSystemSchema('mysql_archive')).toBe(false);
    expect(isSystemSchema('shop')).toBe(false);
    expect(SYSTEM_SCHEMAS).toEqual(['mysql', 'information_schema', 'performance_schema', 'sys']);
  });
});
