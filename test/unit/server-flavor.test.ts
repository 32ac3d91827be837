import { describe, expect, it } from 'vitest';
import { engineMismatch, serverIdentity, snapshotLoadProblem } from '../../domain/server-flavor';

describe('serverIdentity', () => {
  it('tells MariaDB from MySQL by VERSION() and parses the release', () => {
    expect(serverIdentity('11.8.3-MariaDB-1 from Debian')).toMatchObject({ flavor: 'mariadb', release: [11, 8, 3] });
    expect(serverIdentity('10.11.19-MariaDB-0+deb12u1-log')).toMatchObject({ flavor: 'mariadb', release: [10, 11, 19] });
    expect(serverIdentity('9.7.4')).toMatchObject({ flavor: 'mysql', release: [9, 7, 4] });
    expect(serverIdentity('8.0.36-28.1')).toMatchObject({ flavor: 'mysql', release: [8, 0, 36] });
  });
});

describe('engineMismatch', () => {
  it('names both the engine and the server, and the fix', () => {
    expect(engineMismatch('db', 'mysql', serverIdentity('11.8.3-MariaDB'))).toBe(
      'Target "db" says engine: mysql, but the server is MariaDB 11.8.3-MariaDB; set spec.engine to mariadb, or point the Target at the MySQL (or Percona) server it means',
    );
    expect(engineMismatch('db', 'mariadb', serverIdentity('9.7.4'))).toMatch(
      /engine: mariadb, but the server is MySQL \(or Percona\) 9\.7\.4; set spec\.engine to mysql/,
    );
    expect(engineMismatch('db', 'percona-xtradb', serverIdentity('10.11.19-MariaDB'))).toMatch(/engine: percona-xtradb/);
  });

  it('accepts each engine on its own server', () => {
    expect(engineMismatch('db', 'mariadb', serverIdentity('10.11.19-MariaDB'))).toBeUndefined();
    expect(engineMismatch('db', 'mysql', serverIdentity('9.7.4'))).toBeUndefined();
    expect(engineMismatch('db', 'percona-xtradb', serverIdentity('8.0.36-28.1'))).toBeUndefined();
  });
});

describe('snapshotLoadProblem', () => {
  it('refuses a MariaDB dump into MySQL, and lets the other directions try', () => {
    expect(snapshotLoadProblem({ version: '11.8.3-MariaDB' }, serverIdentity('9.7.4'))).toMatch(
      /MariaDB dump .* does not load into MySQL 9\.7\.4/,
    );
    expect(snapshotLoadProblem({ flavor: 'mysql', version: '9.7.4' }, serverIdentity('11.8.3-MariaDB'))).toBeUndefined();
    expect(snapshotLoadProblem({ version: '11.8.3-MariaDB' }, serverIdentity('10.11.19-MariaDB'))).toBeUndefined();
  });

  it("refuses a MySQL 8.0+ dump into a MariaDB without MySQL's utf8mb4_0900_* collations, saying why and what to do", () => {
    const problem = snapshotLoadProblem({ flavor: 'mysql', version: '9.7.4' }, serverIdentity('10.11.19-MariaDB-0+deb12u1'));
    expect(problem).toMatch(
      /MySQL 9\.7\.4, which names MySQL's default collation utf8mb4_0900_ai_ci .* MariaDB 10\.11\.19-MariaDB-0\+deb12u1 does not know/,
    );
    expect(problem).toMatch(/ERROR 1273 Unknown collation.*nothing was changed/);
    expect(problem).toMatch(/Restore it into MariaDB 11\.8 \(or 11\.4\.5 or later\)/);
    expect(problem).toMatch(/a collation both have, such as utf8mb4_unicode_520_ci/);
    for (const [snapshot, target] of [
      ['8.0.36-28.1', '11.4.4-MariaDB'],
      ['8.4.3', '11.6.2-MariaDB'],
      ['9.7.4', '11.7.1-MariaDB'],
      ['8.0.11', '10.6.21-MariaDB'],
      ['9.7.4', '11.3.2-MariaDB'],
    ] as const) {
      expect(snapshotLoadProblem({ version: snapshot }, serverIdentity(target)), `${snapshot} into ${target}`).toMatch(
        /utf8mb4_0900_ai_ci/,
      );
    }
  });

  it('lets a MySQL dump into MariaDB releases that map the utf8mb4_0900_* collations, and MySQL 5.7 dumps anywhere', () => {
    for (const [snapshot, target] of [
      ['9.7.4', '11.4.5-MariaDB'],
      ['8.0.36', '11.4.9-MariaDB-log'],
      ['9.7.4', '11.7.2-MariaDB'],
      ['9.7.4', '11.8.0-MariaDB'],
      ['8.4.3', '12.1.2-MariaDB'],
      ['5.7.44', '10.11.19-MariaDB'],
    ] as const) {
      expect(
        snapshotLoadProblem({ flavor: 'mysql', version: snapshot }, serverIdentity(target)),
        `${snapshot} into ${target}`,
      ).toBeUndefined();
    }
    expect(snapshotLoadProblem({ version: '9.7.4' }, serverIdentity('9.7.4'))).toBeUndefined();
  });
});
