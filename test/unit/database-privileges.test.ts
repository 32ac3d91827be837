import { describe, expect, it } from 'vitest';
import {
  accountOf,
  activeRolesOf,
  ALL_PRIVILEGES,
  grantStatements,
  mergeGrantedPrivileges,
  missingBackupPrivileges,
  missingPhysicalBackupPrivileges,
  missingRestorePrivileges,
  type GrantedPrivileges,
} from '../../domain/database-privileges';

const none: GrantedPrivileges = { global: new Set(), schemas: [], tables: [] };
const set = (...privileges: string[]) => new Set(privileges);

describe('missingBackupPrivileges', () => {
  it('asks MySQL users for SELECT, SHOW VIEW, TRIGGER, EVENT and PROCESS on *.*', () => {
    expect(missingBackupPrivileges('mysql', { ...none, global: set('SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT') }, ['shop'])).toEqual([
      { privileges: ['PROCESS'], on: { level: 'global' } },
    ]);
    expect(
      missingBackupPrivileges('mysql', { ...none, global: set('SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT', 'PROCESS') }, ['shop']),
    ).toEqual([]);
  });

  it('asks MariaDB users for the four on each database and SELECT on mysql.proc', () => {
    const granted: GrantedPrivileges = {
      global: set(),
      schemas: [{ schema: 'shop', privileges: set('SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT') }],
      tables: [],
    };
    expect(missingBackupPrivileges('mariadb', granted, ['shop', 'billing'])).toEqual([
      { privileges: ['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT'], on: { level: 'database', database: 'billing' } },
      { privileges: ['SELECT'], on: { level: 'table', database: 'mysql', table: 'proc' } },
    ]);
    const withProc = { ...granted, tables: [{ schema: 'mysql', table: 'proc', privileges: set('SELECT') }] };
    expect(missingBackupPrivileges('mariadb', withProc, ['shop'])).toEqual([]);
  });

  it('takes global grants, and database grants by their LIKE pattern with escapes', () => {
    expect(missingBackupPrivileges('mariadb', { ...none, global: set('SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT') }, ['a', 'b'])).toEqual([]);
    const patterned: GrantedPrivileges = {
      global: set(),
      schemas: [
        { schema: 'shop\\_%', privileges: set('SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT') },
        { schema: 'mysql', privileges: set('SELECT') },
      ],
      tables: [],
    };
    expect(missingBackupPrivileges('mariadb', patterned, ['shop_eu', 'shop_us'])).toEqual([]);
    // `\_` is a literal underscore: "shopXeu" is not covered.
    expect(missingBackupPrivileges('mariadb', patterned, ['shopXeu'])).toHaveLength(1);
  });
});

describe('missingPhysicalBackupPrivileges', () => {
  it('asks for RELOAD, PROCESS and SHOW DATABASES globally, and BINLOG MONITOR only when the binary log position was refused', () => {
    const granted = { ...none, global: set('RELOAD', 'PROCESS', 'SHOW DATABASES') };
    expect(missingPhysicalBackupPrivileges(granted, false)).toEqual([]);
    expect(missingPhysicalBackupPrivileges(granted, true)).toEqual([{ privileges: ['BINLOG MONITOR'], on: { level: 'global' } }]);
    // A database-level grant is no grant here: both are global privileges.
    expect(missingPhysicalBackupPrivileges({ ...none, schemas: [{ schema: '%', privileges: set('RELOAD') }] }, false)).toEqual([
      { privileges: ['RELOAD', 'PROCESS', 'SHOW DATABASES'], on: { level: 'global' } },
    ]);
  });
});

describe('missingRestorePrivileges', () => {
  const work = { pattern: '\\_dbkeep\\_%', schemas: ['_dbkeep_restore', '_dbkeep_keep_0123456789abcdef'] };
  const all = set('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'TRIGGER');

  it("asks for the work schemas' privileges by their pattern, and CREATE, DROP, INSERT on each database restored", () => {
    expect(
      missingRestorePrivileges(
        {
          ...none,
          schemas: [
            { schema: '\\_dbkeep\\_%', privileges: all },
            { schema: 'shop', privileges: all },
          ],
        },
        work,
        ['shop'],
      ),
    ).toEqual([]);
    expect(missingRestorePrivileges({ ...none, schemas: [{ schema: 'shop', privileges: set('INSERT') }] }, work, ['shop'])).toEqual([
      {
        privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER'],
        on: { level: 'database', database: '\\_dbkeep\\_%' },
      },
      { privileges: ['CREATE', 'DROP'], on: { level: 'database', database: 'shop' } },
    ]);
  });

  it('does not take a grant on the control schema alone for one on the keep schemas', () => {
    const onlyControl = { ...none, global: set('CREATE', 'DROP', 'INSERT'), schemas: [{ schema: '\\_dbkeep\\_restore', privileges: all }] };
    expect(missingRestorePrivileges(onlyControl, work, ['shop'])).toEqual([
      { privileges: ['SELECT', 'UPDATE', 'DELETE', 'ALTER'], on: { level: 'database', database: '\\_dbkeep\\_%' } },
    ]);
  });

  it('asks a point-in-time restore into MariaDB 11 for BINLOG REPLAY, which SUPER held before 11.0 and MySQL does not need', () => {
    const restorer = (...global: string[]): GrantedPrivileges => ({ ...none, global: set(...global, ...all) });
    const mariadb = (release: [number, number, number]) => ({
      flavor: 'mariadb' as const,
      version: `${release.join('.')}-MariaDB`,
      release,
    });
    const binlogReplay = [{ privileges: ['BINLOG REPLAY'], on: { level: 'global' } }];
    expect(missingRestorePrivileges(restorer('SUPER'), work, ['shop'], mariadb([11, 8, 3]))).toEqual(binlogReplay);
    expect(missingRestorePrivileges(restorer('SUPER', 'BINLOG REPLAY'), work, ['shop'], mariadb([11, 8, 3]))).toEqual([]);
    expect(missingRestorePrivileges(restorer('SUPER'), work, ['shop'], mariadb([10, 11, 19]))).toEqual([]);
    expect(missingRestorePrivileges(restorer(), work, ['shop'], mariadb([10, 11, 19]))).toEqual(binlogReplay);
    expect(missingRestorePrivileges(restorer(), work, ['shop'], { flavor: 'mysql', version: '9.7.4', release: [9, 7, 4] })).toEqual([]);
    // A restore without a replay asks for none of it.
    expect(missingRestorePrivileges(restorer(), work, ['shop'])).toEqual([]);
  });
});

describe('grantStatements', () => {
  it('writes one GRANT per object for the account', () => {
    expect(
      grantStatements(
        [
          { privileges: ['PROCESS'], on: { level: 'global' } },
          { privileges: ['SELECT', 'EVENT'], on: { level: 'database', database: 'odd`name' } },
          { privileges: ['SELECT'], on: { level: 'table', database: 'mysql', table: 'proc' } },
        ],
        "'backup'@'%'",
      ),
    ).toEqual([
      "GRANT PROCESS ON *.* TO 'backup'@'%'",
      "GRANT SELECT, EVENT ON `odd``name`.* TO 'backup'@'%'",
      "GRANT SELECT ON `mysql`.`proc` TO 'backup'@'%'",
    ]);
  });

  it("names the account as information_schema's GRANTEE does", () => {
    expect(accountOf('backup@127.0.0.1')).toBe("'backup'@'127.0.0.1'");
    expect(accountOf('we@ird@%')).toBe("'we@ird'@'%'");
  });
});

describe('the privileges of roles', () => {
  it('names the active roles as GRANT does, from either family', () => {
    expect(activeRolesOf('`backup`@`%`,`other`@`%`')).toBe('`backup`@`%`,`other`@`%`');
    expect(activeRolesOf('backup_role')).toBe('`backup_role`');
    expect(activeRolesOf('NONE')).toBeUndefined();
    expect(activeRolesOf(null)).toBeUndefined();
  });

  it("counts a privilege held by the account or by a role, and ALL PRIVILEGES as every one of its level's", () => {
    const viaRole = mergeGrantedPrivileges(
      { ...none, global: set('PROCESS') },
      { ...none, global: set('SELECT', 'SHOW VIEW'), schemas: [{ schema: 'shop', privileges: set(ALL_PRIVILEGES) }] },
    );
    expect(missingBackupPrivileges('mysql', viaRole, ['shop'])).toEqual([{ privileges: ['TRIGGER', 'EVENT'], on: { level: 'global' } }]);
    expect(missingRestorePrivileges(viaRole, { pattern: 'shop', schemas: ['shop'] }, ['shop'])).toEqual([]);
  });
});
