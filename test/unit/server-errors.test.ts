import { describe, expect, it } from 'vitest';
import { classifyToolFailure, isLostConnection, isPrivilegeError } from '../../domain/server-errors';

/** Messages as the tools print them (the MariaDB 10.11/11.8 and MySQL 9.7 clients and dump tools). */
describe('classifyToolFailure', () => {
  it.each([
    ['mariadb exited with code 1: ERROR 1064 (42000) at line 4: You have an error in your SQL syntax', 1064, /syntax/],
    [
      'mysql exited with code 1: ERROR 3546 (HY000) at line 24: @@GLOBAL.GTID_PURGED cannot be changed: the added gtid set must not overlap with @@GLOBAL.GTID_EXECUTED',
      3546,
      /GTID_PURGED/,
    ],
    ["mariadb exited with code 1: ERROR 1273 (HY000) at line 25: Unknown collation: 'utf8mb4_uca1400_ai_ci'", 1273, /collation/],
    ["mariadb exited with code 1: ERROR 1115 (42000) at line 25: Unknown character set: 'utf8mb5'", 1115, /character set/],
    [
      "mysql exited with code 1: ERROR 1142 (42000) at line 30: CREATE command denied to user 'r'@'localhost' for table 't'",
      1142,
      /denied/,
    ],
    [
      "mariadb exited with code 1: ERROR 1153 (08S01) at line 73: Got a packet bigger than 'max_allowed_packet' bytes",
      1153,
      /max_allowed_packet/,
    ],
    [
      'mariadb exited with code 1: ERROR 1227 (42000) at line 9: Access denied; you need (at least one of) the SUPER privilege(s)',
      1227,
      /privilege/,
    ],
    [
      "mysqldump exited with code 2: mysqldump: Couldn't execute 'FLUSH /*!40101 LOCAL */ TABLES': Access denied; you need (at least one of) the RELOAD or FLUSH_TABLES privilege(s) for this operation (1227)",
      1227,
      /RELOAD/,
    ],
    [
      "mariadb-dump exited with code 2: mariadb-dump: Got error: 1044: \"Access denied for user 'u'@'%' to database 'shop'\" when selecting the database",
      1044,
      /access denied/,
    ],
    ["mariadb exited with code 1: ERROR 1146 (42S02) at line 141: Table 'other.t' doesn't exist", 1146, /server error 1146/],
    [
      'mariadb-dump exited with code 2: mariadb-dump: Got error: 2026: "TLS/SSL error: SSL is required, but the server does not support it" when trying to connect',
      2026,
      /TLS/,
    ],
  ])('%s is permanent', (message, code, reason) => {
    const failure = classifyToolFailure(message);
    expect(failure).toMatchObject({ permanent: true, code });
    expect(failure.reason).toMatch(reason);
  });

  it.each([
    ['mariadb exited with code 1: ERROR 2013 (HY000) at line 12: Lost connection to server during query', 2013],
    ['mariadb exited with code 1: ERROR 2006 (HY000) at line 73: Server has gone away', 2006],
    ["mysql exited with code 1: ERROR 2003 (HY000): Can't connect to MySQL server on '127.0.0.1:3306' (111)", 2003],
    ['mariadb exited with code 1: ERROR 1205 (HY000) at line 3: Lock wait timeout exceeded; try restarting transaction', 1205],
    ['mariadb exited with code 1: ERROR 1213 (40001) at line 3: Deadlock found when trying to get lock', 1213],
    ['mariadb exited with code 1: ERROR 1040 (HY000): Too many connections', 1040],
    ['mysql exited with code 1: ERROR 1053 (08S01) at line 8: Server shutdown in progress', 1053],
    ['mariadb exited with code 1: ERROR 1927 (70100) at line 8: Connection was killed', 1927],
    ["mariadb exited with code 1: ERROR 1114 (HY000) at line 40: The table 'big' is full", 1114],
    [
      'mysqldump exited with code 2: mysqldump: Got error: 2013: Lost connection to MySQL server during query when dumping table `t` at row: 5',
      2013,
    ],
  ])('%s is transient', (message, code) => {
    expect(classifyToolFailure(message)).toMatchObject({ permanent: false, code });
  });

  it('takes a client command refused in the dump as permanent, and a tool killed without a server error as transient', () => {
    expect(classifyToolFailure("mariadb exited with code 1: ERROR at line 4: Unknown command '\\!'.")).toMatchObject({ permanent: true });
    expect(classifyToolFailure('mariadb exited with code 1: ERROR at line 4: Not allowed in the sandbox mode')).toMatchObject({
      permanent: true,
    });
    expect(classifyToolFailure('mariadb was killed by SIGKILL')).toEqual({
      permanent: false,
      reason: 'the tool failed without a server error',
    });
    expect(classifyToolFailure('zstd exited with code 1: zstd: /*stdin*\\: unsupported format')).toMatchObject({ permanent: false });
  });

  it('knows the lost-connection codes the server-alive probe tells apart', () => {
    expect([2006, 2013, 2003, 1153, undefined].map(isLostConnection)).toEqual([true, true, false, false, false]);
  });

  it("knows the refusals for want of a privilege (database, table, column, routine, SUPER-like), not the login's", () => {
    expect([1044, 1142, 1143, 1227, 1370, 1419, 3554].every(isPrivilegeError)).toBe(true);
    expect([1045, 2003, 1213, undefined].map(isPrivilegeError)).toEqual([false, false, false, false]);
  });
});
