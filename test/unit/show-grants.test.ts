import { describe, expect, it } from 'vitest';
import { ALL_PRIVILEGES, missingBackupPrivileges } from '../../domain/database-privileges';
import { parseShowGrants } from '../../domain/show-grants';

// SHOW GRANTS as each engine showed it to the user `u`, whose default role `backuprole` has the
// role `nested` granted to it; `other` is granted to `u` but not active.
const MARIADB = [
  'GRANT `backuprole` TO `u`@`127.0.0.1`',
  'GRANT `other` TO `u`@`127.0.0.1`',
  "GRANT USAGE ON *.* TO `u`@`127.0.0.1` IDENTIFIED BY PASSWORD '*D821809F681A40A6E379B50D0463EFAE20BDD122'",
  'GRANT INSERT ON `shop`.* TO `u`@`127.0.0.1`',
  'GRANT `nested` TO `backuprole`',
  'GRANT USAGE ON *.* TO `backuprole`',
  'GRANT SELECT, SHOW VIEW ON `shop`.* TO `backuprole`',
  'GRANT EVENT, TRIGGER ON `shop\\_%`.* TO `backuprole`',
  'GRANT PROCESS ON *.* TO `nested`',
  'GRANT SELECT ON `mysql`.`proc` TO `nested`',
  'GRANT SELECT (`id`) ON `shop`.`t` TO `nested`',
  'SET DEFAULT ROLE `backuprole` FOR `u`@`127.0.0.1`',
];
// MySQL folds the active roles' privileges into the account's lines.
const MYSQL = [
  'GRANT PROCESS ON *.* TO `u`@`127.0.0.1`',
  'GRANT SELECT, INSERT, SHOW VIEW ON `shop`.* TO `u`@`127.0.0.1`',
  'GRANT EVENT, TRIGGER ON `shop\\_%`.* TO `u`@`127.0.0.1`',
  'GRANT SELECT ON `mysql`.`db` TO `u`@`127.0.0.1`',
  'GRANT SELECT (`id`) ON `shop`.`t` TO `u`@`127.0.0.1`',
  'GRANT `backuprole`@`%`,`other`@`%` TO `u`@`127.0.0.1`',
];

describe('parseShowGrants', () => {
  it("reads MariaDB's lines of the account and of its active roles, leaving column grants and memberships out", () => {
    expect(parseShowGrants(MARIADB)).toEqual({
      granted: {
        global: new Set(['USAGE', 'PROCESS']),
        schemas: [
          { schema: 'shop', privileges: new Set(['INSERT']) },
          { schema: 'shop', privileges: new Set(['SELECT', 'SHOW VIEW']) },
          { schema: 'shop\\_%', privileges: new Set(['EVENT', 'TRIGGER']) },
        ],
        tables: [{ schema: 'mysql', table: 'proc', privileges: new Set(['SELECT']) }],
      },
      notUnderstood: [],
    });
  });

  it("reads MySQL's folded lines, its dynamic privileges and ALL PRIVILEGES", () => {
    const { granted, notUnderstood } = parseShowGrants([
      ...MYSQL,
      'GRANT RELOAD, PROCESS, REPLICATION SLAVE, CREATE ROLE, DROP ROLE ON *.* TO `v`@`127.0.0.1`',
      'GRANT BACKUP_ADMIN,FLUSH_TABLES,SET_ANY_DEFINER ON *.* TO `v`@`127.0.0.1` WITH GRANT OPTION',
      'GRANT ALL PRIVILEGES ON `odd``name`.* TO `v`@`127.0.0.1`',
      'GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `shop`.`p` TO `v`@`127.0.0.1`',
      'GRANT PROXY ON ``@`` TO `v`@`127.0.0.1`',
      'REVOKE INSERT ON `mysql`.* FROM `v`@`127.0.0.1`',
    ]);
    expect(notUnderstood).toEqual([]);
    expect([...granted.global]).toEqual([
      'PROCESS',
      'RELOAD',
      'REPLICATION SLAVE',
      'CREATE ROLE',
      'DROP ROLE',
      'BACKUP_ADMIN',
      'FLUSH_TABLES',
      'SET_ANY_DEFINER',
    ]);
    expect(granted.schemas.at(-1)).toEqual({ schema: 'odd`name', privileges: new Set([ALL_PRIVILEGES]) });
    expect(granted.tables).toEqual([{ schema: 'mysql', table: 'db', privileges: new Set(['SELECT']) }]);
  });

  it('counts what the roles grant in the privilege check, ALL PRIVILEGES included', () => {
    // `shop\_%` covers shop_eu, not shop.
    expect(missingBackupPrivileges('mariadb', parseShowGrants(MARIADB).granted, ['shop'])).toEqual([
      { privileges: ['TRIGGER', 'EVENT'], on: { level: 'database', database: 'shop' } },
    ]);
    const role = ['GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON `shop`.* TO `r`', 'GRANT SELECT ON `mysql`.`proc` TO `r`'];
    expect(missingBackupPrivileges('mariadb', parseShowGrants(role).granted, ['shop'])).toEqual([]);
    expect(missingBackupPrivileges('mariadb', parseShowGrants(role.slice(0, 1)).granted, ['shop'])).toEqual([
      { privileges: ['SELECT'], on: { level: 'table', database: 'mysql', table: 'proc' } },
    ]);
    expect(missingBackupPrivileges('mariadb', parseShowGrants(['GRANT ALL PRIVILEGES ON *.* TO `r`']).granted, ['shop'])).toEqual([]);
    expect(missingBackupPrivileges('mysql', parseShowGrants(MYSQL).granted, ['shop'])).toEqual([
      { privileges: ['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT'], on: { level: 'global' } },
    ]);
  });

  it('returns what it does not know, without what follows IDENTIFIED', () => {
    expect(
      parseShowGrants([
        'GRANT SELECT ON `shop`.* TO `u`@`%`',
        'GRANT select ON `shop`.* TO `u`@`%`',
        "GRANT NEW THING ON SOMETHING TO `u`@`%` IDENTIFIED VIA ed25519 USING 'secret'",
        'GRANT SELECT ON *.`t` TO `u`@`%`',
      ]).notUnderstood,
    ).toEqual([
      'GRANT select ON `shop`.* TO `u`@`%`',
      'GRANT NEW THING ON SOMETHING TO `u`@`%` IDENTIFIED …',
      'GRANT SELECT ON *.`t` TO `u`@`%`',
    ]);
  });
});
