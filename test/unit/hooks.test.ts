import { describe, expect, it } from 'vitest';
import { backupHooksSchema, hookSchema } from '../../domain/hooks';

describe('hooks', () => {
  it('take a statement or a request, with a 30 s timeout and the fail policy by default', () => {
    expect(hookSchema.parse({ name: 'mark', sql: ' FLUSH TABLES ' })).toEqual({
      name: 'mark',
      sql: 'FLUSH TABLES',
      timeout: '30s',
      onFailure: 'fail',
    });
    expect(hookSchema.parse({ name: 'tell', http: { url: { env: 'HOOK_URL' } }, onFailure: 'ignore' })).toEqual({
      name: 'tell',
      http: { url: { env: 'HOOK_URL' }, method: 'POST' },
      timeout: '30s',
      onFailure: 'ignore',
    });
  });

  it('say which field is wrong', () => {
    const issues = (input: unknown) => hookSchema.safeParse(input).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ name: 'both', sql: 'SELECT 1', http: { url: { env: 'X' } } })).toEqual([': set exactly one of sql and http']);
    expect(issues({ name: 'neither' })).toEqual([': set exactly one of sql and http']);
    expect(issues({ name: 'slow', sql: 'SELECT 1', timeout: '2h' })).toEqual(['timeout: must be between 1s and 1h']);
    expect(issues({ name: 'literal', http: { url: 'https://hooks.example/T0KEN' } })?.[0]).toMatch(
      /^http\.url: must be a secret reference/,
    );
    const twice = backupHooksSchema.safeParse({
      preBackup: [
        { name: 'a', sql: 'SELECT 1' },
        { name: 'a', sql: 'SELECT 2' },
      ],
    });
    expect(twice.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['preBackup: must not name two hooks alike']);
  });
});
