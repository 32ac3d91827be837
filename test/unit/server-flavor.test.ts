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
});
