import { describe, expect, it } from 'vitest';
import { permanentRestoreErrorReason } from '../../domain/restore-errors';

describe('permanentRestoreErrorReason', () => {
  it('names statements the target refuses every time, as the mariadb client reports them', () => {
    expect(permanentRestoreErrorReason("mariadb exited with code 1: ERROR 1064 (42000) at line 4: You have an error in your SQL syntax")).toBe('SQL syntax error');
    expect(permanentRestoreErrorReason("mariadb exited with code 1: ERROR 1227 (42000) at line 9: Access denied; you need (at least one of) the SUPER privilege(s)")).toMatch(/SUPER/);
    expect(permanentRestoreErrorReason("mariadb exited with code 1: ERROR 1286 (42000) at line 20: Unknown storage engine 'TokuDB'")).toBe('unknown storage engine');
    expect(permanentRestoreErrorReason("mariadb exited with code 1: ERROR at line 4: Unknown command '\\!'.")).toMatch(/client command/);
    expect(permanentRestoreErrorReason('mariadb exited with code 1: ERROR at line 4: Not allowed in the sandbox mode')).toMatch(/client command/);
  });

  it('leaves what a retry may fix transient', () => {
    expect(permanentRestoreErrorReason('mariadb exited with code 1: ERROR 2013 (HY000) at line 12: Lost connection to server during query')).toBeUndefined();
    expect(permanentRestoreErrorReason('mariadb exited with code 1: ERROR 1205 (HY000) at line 3: Lock wait timeout exceeded')).toBeUndefined();
    expect(permanentRestoreErrorReason('mariadb exited with code 1: ERROR 1213 (40001) at line 3: Deadlock found')).toBeUndefined();
    expect(permanentRestoreErrorReason('mariadb was killed by SIGKILL')).toBeUndefined();
  });
});
