import { describe, expect, it } from 'vitest';
import type { TargetSpec } from '../../domain/resources';
import {
  extractStreamCommand,
  isGaleraTarget,
  logicalDumpCommand,
  physicalBackupCommand,
  preparePhysicalBackupCommand,
} from '../../domain/tool-commands';
import { parseResourceSet } from '../../domain/resource-set';

const mariadb: TargetSpec = { engine: 'mariadb', host: 'db-0', port: 3306, user: 'backup' };

describe('physical backup commands', () => {
  it('streams xbstream from mariadb-backup with the option file first, its own scratch dir and no password', () => {
    const command = physicalBackupCommand({
      target: mariadb,
      optionFile: '/run/cred/client.cnf',
      datadir: '/var/lib/mysql',
      scratchDir: '/tmp/x',
    });
    expect(command.command).toBe('mariadb-backup');
    expect(command.args[0]).toBe('--defaults-file=/run/cred/client.cnf');
    expect(command.args).toEqual(
      expect.arrayContaining([
        '--backup',
        '--stream=xbstream',
        '--datadir=/var/lib/mysql',
        '--target-dir=/tmp/x',
        '--host=db-0',
        '--port=3306',
        '--user=backup',
      ]),
    );
    expect(command.args.some((a) => a.startsWith('--password'))).toBe(false);
    expect(command.args).not.toContain('--galera-info');
  });

  it('uses xtrabackup and xbstream for MySQL and Percona, and records the Galera position for clusters', () => {
    const percona: TargetSpec = { ...mariadb, engine: 'percona-xtradb' };
    const command = physicalBackupCommand({ target: percona, optionFile: '/c', datadir: '/d', scratchDir: '/s' });
    expect(command.command).toBe('xtrabackup');
    expect(command.args).toContain('--galera-info');
    expect(extractStreamCommand('mysql', '/v')).toEqual({ command: 'xbstream', args: ['-x', '-C', '/v'] });
    expect(extractStreamCommand('mariadb', '/v')).toEqual({ command: 'mbstream', args: ['-x', '-C', '/v'] });
    expect(preparePhysicalBackupCommand('mariadb', '/v')).toEqual({ command: 'mariadb-backup', args: ['--prepare', '--target-dir=/v'] });
  });
});

describe('Galera logical dumps', () => {
  it('skip LOCK TABLES and leave mysql.global_priv out by default, with an opt-out', () => {
    const galera: TargetSpec = { ...mariadb, galera: { members: [], ignoreGlobalPriv: true } };
    expect(isGaleraTarget(galera)).toBe(true);
    expect(isGaleraTarget(mariadb)).toBe(false);
    const args = logicalDumpCommand({ target: galera, optionFile: '/c', databases: ['shop'] }).args;
    expect(args).toEqual(expect.arrayContaining(['--skip-add-locks', '--ignore-table=mysql.global_priv']));
    // Options go before `--`, after which only database names follow.
    expect(args.indexOf('--skip-add-locks')).toBeLessThan(args.indexOf('--'));
    const optedOut = logicalDumpCommand({
      target: { ...galera, galera: { members: [], ignoreGlobalPriv: false } },
      optionFile: '/c',
      databases: ['shop'],
    }).args;
    expect(optedOut).toContain('--skip-add-locks');
    expect(optedOut).not.toContain('--ignore-table=mysql.global_priv');
    expect(logicalDumpCommand({ target: { ...mariadb, engine: 'percona-xtradb' }, optionFile: '/c', databases: ['x'] }).args).toContain(
      '--ignore-table=mysql.global_priv',
    );
    expect(logicalDumpCommand({ target: mariadb, optionFile: '/c', databases: ['x'] }).args).not.toContain('--skip-add-locks');
  });
});

describe('physical configurations', () => {
  const doc = (datadir?: string) => `apiVersion: dbkeep.io/v1alpha1
kind: Repository
metadata: { name: repo }
spec: { filesystem: { path: /backups } }
---
apiVersion: dbkeep.io/v1alpha1
kind: Target
metadata: { name: db }
spec: { engine: mariadb, host: db-0${datadir ? `, datadir: ${datadir}` : ''} }
---
apiVersion: dbkeep.io/v1alpha1
kind: BackupConfiguration
metadata: { name: nightly }
spec: { target: db, repository: repo, method: physical }
`;

  it('need the target data directory, said at load time', () => {
    expect(() => parseResourceSet([{ file: 'p.yaml', text: doc() }])).toThrow(
      'p.yaml (document 3): BackupConfiguration "nightly": spec.method: physical backups read the data directory: set spec.datadir on Target "db"',
    );
    expect(parseResourceSet([{ file: 'p.yaml', text: doc('/var/lib/mysql') }]).backupConfigurations.get('nightly')?.spec.method).toBe(
      'physical',
    );
  });
});
