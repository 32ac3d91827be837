import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetSpec } from '../../domain/resources';
import {
  compressCommand,
  compressorVersionCommand,
  decompressCommand,
  rootClientCommand,
  scratchServerOptionLines,
  initializeDataDirectoryCommand,
  localServerCommand,
  logicalDumpCommand,
  logicalRestoreCommand,
  optionFileContents,
  replicationPositionArgs,
  toolVersionCommand,
} from '../../domain/tool-commands';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const tcpTarget: TargetSpec = { engine: 'mariadb', host: 'db.internal', port: 3307, user: 'backup', password: { env: 'PW' } };
const socketTarget: TargetSpec = { engine: 'mysql', socket: '/run/mysqld/mysqld.sock', port: 3306, user: 'root' };
const optionFile = '/tmp/dbkeep-cred-x/client.cnf';

describe('logicalDumpCommand', () => {
  const dump = logicalDumpCommand({ target: tcpTarget, optionFile, databases: ['shop', 'billing'] });

  it('runs mariadb-dump for MariaDB and mysqldump for MySQL and Percona', () => {
    expect(dump.command).toBe('mariadb-dump');
    expect(logicalDumpCommand({ target: socketTarget, optionFile, databases: ['a'] }).command).toBe('mysqldump');
    expect(logicalDumpCommand({ target: { ...socketTarget, engine: 'percona-xtradb' }, optionFile, databases: ['a'] }).command).toBe(
      'mysqldump',
    );
  });

  it('passes --defaults-file first', () => {
    expect(dump.args[0]).toBe(`--defaults-file=${optionFile}`);
    expect(dump.args.filter((a) => a.startsWith('--defaults-file'))).toHaveLength(1);
  });

  it('never puts a password in argv', () => {
    expect(dump.args.some((a) => /^(--password|-p)/.test(a))).toBe(false);
    expect(dump.args.join(' ')).not.toContain('PW');
  });

  it('asks for a consistent dump with routines, events and triggers', () => {
    for (const flag of ['--single-transaction', '--routines', '--events', '--triggers', '--hex-blob', '--default-character-set=utf8mb4']) {
      expect(dump.args).toContain(flag);
    }
  });

  it('connects over TCP to host and port as the user', () => {
    expect(dump.args.slice(1, 5)).toEqual(['--protocol=TCP', '--host=db.internal', '--port=3307', '--user=backup']);
    expect(dump.args.some((a) => a.startsWith('--socket'))).toBe(false);
  });

  it('connects over the socket when the target has one', () => {
    const args = logicalDumpCommand({ target: socketTarget, optionFile, databases: ['a'] }).args;
    expect(args.slice(1, 4)).toEqual(['--protocol=SOCKET', '--socket=/run/mysqld/mysqld.sock', '--user=root']);
    expect(args.some((a) => a.startsWith('--host') || a.startsWith('--port'))).toBe(false);
  });

  it('ends with --databases -- and the database names, so a name starting with "-" is never an option', () => {
    const args = logicalDumpCommand({ target: tcpTarget, optionFile, databases: ['--all-databases', 'shop'] }).args;
    expect(args.slice(-4)).toEqual(['--databases', '--', '--all-databases', 'shop']);
    expect(args.indexOf('--')).toBe(args.length - 3);
    expect(dump.args.slice(-4)).toEqual(['--databases', '--', 'shop', 'billing']);
  });

  it("puts the user's args after --databases, so an option written without its value can take only -- as one", () => {
    const args = logicalDumpCommand({
      target: tcpTarget,
      optionFile,
      databases: ['shop', 'billing'],
      extraArgs: ['--skip-comments', '--where'],
    }).args;
    expect(args.slice(-6)).toEqual(['--databases', '--skip-comments', '--where', '--', 'shop', 'billing']);
  });

  it('keeps every argument a separate argv element, whatever the user name holds', () => {
    const args = logicalDumpCommand({ target: { ...tcpTarget, user: "o'brien --all" }, optionFile, databases: ['a b'] }).args;
    expect(args).toContain("--user=o'brien --all");
    expect(args.at(-1)).toBe('a b');
  });
});

describe('replicationPositionArgs', () => {
  const mysqlTarget: TargetSpec = { ...tcpTarget, engine: 'mysql' };
  const readable = { enabled: true, positionReadable: true };

  it('has MySQL record the GTID set and binlog coordinates as comments only, never an executable GTID_PURGED', () => {
    expect(replicationPositionArgs(mysqlTarget, { ...readable, gtidMode: 'ON' })).toEqual([
      '--set-gtid-purged=COMMENTED',
      '--source-data=2',
    ]);
    expect(replicationPositionArgs(mysqlTarget, { ...readable, gtidMode: 'OFF' })).toEqual(['--set-gtid-purged=OFF', '--source-data=2']);
    expect(replicationPositionArgs(mysqlTarget, { enabled: false, positionReadable: true, gtidMode: 'ON' })).toEqual([
      '--set-gtid-purged=COMMENTED',
    ]);
  });

  it('takes no lock and records nothing without the privileges, and never asks a Galera node', () => {
    expect(replicationPositionArgs(mysqlTarget, { enabled: true, positionReadable: false, gtidMode: 'ON' })).toEqual([
      '--set-gtid-purged=OFF',
    ]);
    expect(replicationPositionArgs(tcpTarget, { enabled: true, positionReadable: false })).toEqual([]);
    expect(replicationPositionArgs({ ...mysqlTarget, engine: 'percona-xtradb' }, { ...readable, gtidMode: 'ON' })).toEqual([
      '--set-gtid-purged=OFF',
    ]);
    expect(replicationPositionArgs({ ...tcpTarget, galera: { members: [], ignoreGlobalPriv: true } }, readable)).toEqual([]);
  });

  it('has MariaDB record the binlog coordinates, read from its consistent snapshot', () => {
    expect(replicationPositionArgs(tcpTarget, readable)).toEqual(['--master-data=2']);
    expect(replicationPositionArgs(tcpTarget, { enabled: false, positionReadable: true })).toEqual([]);
    expect(replicationPositionArgs(tcpTarget, undefined)).toEqual([]);
  });

  it('places them before --databases, so the user args still come last', () => {
    const dump = logicalDumpCommand({
      target: mysqlTarget,
      optionFile,
      databases: ['a'],
      binaryLog: { ...readable, gtidMode: 'ON' },
      extraArgs: ['--quick'],
    });
    expect(dump.args.slice(dump.args.indexOf('--databases') - 2)).toEqual([
      '--set-gtid-purged=COMMENTED',
      '--source-data=2',
      '--databases',
      '--quick',
      '--',
      'a',
    ]);
  });
});

describe('logicalRestoreCommand', () => {
  it('runs the client with the option file first, binary mode, in the sandbox and no password', () => {
    const restore = logicalRestoreCommand({ target: tcpTarget, optionFile });
    expect(restore).toEqual({
      command: 'mariadb',
      args: [
        `--defaults-file=${optionFile}`,
        '--protocol=TCP',
        '--host=db.internal',
        '--port=3307',
        '--user=backup',
        '--binary-mode',
        '--default-character-set=utf8mb4',
        '--batch',
        '--sandbox',
      ],
    });
  });

  it('uses mysql over a socket for MySQL', () => {
    const restore = logicalRestoreCommand({ target: socketTarget, optionFile });
    expect(restore.command).toBe('mysql');
    expect(restore.args.slice(0, 4)).toEqual([
      `--defaults-file=${optionFile}`,
      '--protocol=SOCKET',
      '--socket=/run/mysqld/mysqld.sock',
      '--user=root',
    ]);
    expect(restore.args.some((a) => a.includes('password'))).toBe(false);
  });
});

describe("a worker's own server (localServerCommand)", () => {
  const paths = {
    datadir: '/volume',
    socket: '/tmp/dbkeep-server-1-x/server.sock',
    pidFile: '/volume/x.pid',
    tmpdir: '/tmp/dbkeep-server-1-x',
  };

  it('starts on the data directory reachable only over its socket, with no grant tables, binary log, events or replication', () => {
    expect(localServerCommand('mariadb', paths)).toEqual({
      command: 'mariadbd',
      args: [
        '--no-defaults',
        '--datadir=/volume',
        '--socket=/tmp/dbkeep-server-1-x/server.sock',
        '--pid-file=/volume/x.pid',
        '--tmpdir=/tmp/dbkeep-server-1-x',
        '--skip-networking',
        '--skip-grant-tables',
        '--skip-log-bin',
        '--event-scheduler=OFF',
        '--skip-slave-start',
      ],
    });
  });

  it("runs MySQL's server without its X protocol either, as the volume's owner when asked", () => {
    const mysqld = localServerCommand('mysql', paths, { user: '999', grantTables: 'use' });
    expect(mysqld.args).not.toContain('--skip-grant-tables');
    expect(mysqld.command).toBe('mysqld');
    expect(mysqld.args.slice(-3)).toEqual(['--skip-replica-start', '--mysqlx=OFF', '--user=999']);
  });

  it("initializes a scratch data directory with each engine's own tool, mysqld as the given user", () => {
    expect(initializeDataDirectoryCommand('mysql', '/scratch/data', { user: '0' })).toEqual({
      command: 'mysqld',
      args: ['--no-defaults', '--initialize-insecure', '--datadir=/scratch/data', '--user=0'],
    });
    expect(initializeDataDirectoryCommand('mariadb', '/scratch/data')).toEqual({
      command: 'mariadb-install-db',
      args: ['--no-defaults', '--datadir=/scratch/data', '--auth-root-authentication-method=normal', '--skip-test-db', '--cross-bootstrap'],
    });
  });

  it("has the client reach it over that socket as root, with the restore client's safety options", () => {
    expect(rootClientCommand('mariadb', optionFile, { socket: paths.socket }).args).toEqual([
      `--defaults-file=${optionFile}`,
      '--protocol=SOCKET',
      `--socket=${paths.socket}`,
      '--user=root',
      '--binary-mode',
      '--default-character-set=utf8mb4',
      '--batch',
      '--sandbox',
    ]);
    expect(scratchServerOptionLines('mariadb', { socket: paths.socket })).toEqual([]);
  });

  it("reaches a pod's scratch server over TCP, with TLS when it offers it and unverified", () => {
    expect(rootClientCommand('mysql', optionFile, { host: '10.1.2.3', port: 3306 }).args.slice(0, 5)).toEqual([
      `--defaults-file=${optionFile}`,
      '--protocol=TCP',
      '--host=10.1.2.3',
      '--port=3306',
      '--user=root',
    ]);
    expect(scratchServerOptionLines('mysql', { host: '10.1.2.3', port: 3306 })).toEqual(['ssl-mode=PREFERRED']);
    expect(scratchServerOptionLines('mariadb', { host: '10.1.2.3', port: 3306 })).toEqual(['ssl', 'ssl-verify-server-cert=0']);
  });
});

describe('version commands', () => {
  it('asks each tool for --version', () => {
    expect(toolVersionCommand('mariadb', 'dump')).toEqual({ command: 'mariadb-dump', args: ['--version'] });
    expect(toolVersionCommand('mysql', 'client')).toEqual({ command: 'mysql', args: ['--version'] });
    expect(compressorVersionCommand('zstd')).toEqual({ command: 'zstd', args: ['--version'] });
    expect(compressorVersionCommand('bzip2')).toEqual({ command: 'bzip2', args: ['--version'] });
    expect(compressorVersionCommand('none')).toBeUndefined();
  });
});

describe('compressCommand and decompressCommand', () => {
  it('uses zstd level 3 unless told otherwise, to stdout, quietly', () => {
    expect(compressCommand({ algorithm: 'zstd' })).toEqual({ command: 'zstd', args: ['-3', '-c', '-q'] });
    expect(compressCommand({ algorithm: 'zstd', level: 19 })).toEqual({ command: 'zstd', args: ['-19', '-c', '-q'] });
  });

  it('passes gzip and bzip2 a level only when given one', () => {
    expect(compressCommand({ algorithm: 'gzip' })).toEqual({ command: 'gzip', args: ['-c'] });
    expect(compressCommand({ algorithm: 'gzip', level: 9 })).toEqual({ command: 'gzip', args: ['-9', '-c'] });
    expect(compressCommand({ algorithm: 'bzip2' })).toEqual({ command: 'bzip2', args: ['-c'] });
    expect(compressCommand({ algorithm: 'bzip2', level: 1 })).toEqual({ command: 'bzip2', args: ['-1', '-c'] });
  });

  it('has no command for none', () => {
    expect(compressCommand({ algorithm: 'none' })).toBeUndefined();
    expect(decompressCommand('none')).toBeUndefined();
  });

  it('decompresses to stdout', () => {
    expect(decompressCommand('zstd')).toEqual({ command: 'zstd', args: ['-d', '-c', '-q'] });
    expect(decompressCommand('gzip')).toEqual({ command: 'gzip', args: ['-d', '-c'] });
    expect(decompressCommand('bzip2')).toEqual({ command: 'bzip2', args: ['-d', '-c'] });
  });

  const sql = Buffer.from(`INSERT INTO t VALUES ${Array.from({ length: 2000 }, (_, i) => `(${i},'row ${i}')`).join(',')};\n`);
  for (const spec of [
    { algorithm: 'zstd' },
    { algorithm: 'zstd', level: 19 },
    { algorithm: 'gzip', level: 1 },
    { algorithm: 'bzip2' },
  ] as const) {
    const compress = compressCommand(spec)!;
    const decompress = decompressCommand(spec.algorithm)!;
    if (!isExecutable(`/usr/bin/${compress.command}`)) continue;
    it(`round-trips data through the real ${compress.command} ${compress.args.join(' ')}`, () => {
      const packed = spawnSync(compress.command, compress.args, { input: sql });
      expect(packed.status).toBe(0);
      expect(packed.stdout.length).toBeLessThan(sql.length);
      const unpacked = spawnSync(decompress.command, decompress.args, { input: packed.stdout });
      expect(unpacked.status).toBe(0);
      expect(unpacked.stdout.equals(sql)).toBe(true);
    });
  }
});

describe('optionFileContents', () => {
  it('writes only the group header when there is no password', () => {
    expect(optionFileContents(undefined)).toBe('[client]\n');
  });

  it('quotes the password', () => {
    expect(optionFileContents('plain')).toBe('[client]\npassword="plain"\n');
    expect(optionFileContents('')).toBe('[client]\npassword=""\n');
  });

  it('escapes backslashes and control characters, keeping the value on one line', () => {
    expect(optionFileContents('a\\b')).toBe('[client]\npassword="a\\\\b"\n');
    expect(optionFileContents('a\nb\rc\td\x08e')).toBe('[client]\npassword="a\\nb\\rc\\td\\be"\n');
    expect(optionFileContents('x\\n')).toBe('[client]\npassword="x\\\\n"\n');
    expect(optionFileContents('line1\nline2\n').split('\n')).toHaveLength(3);
  });

  const myPrintDefaults = '/usr/bin/my_print_defaults';
  if (isExecutable(myPrintDefaults)) {
    const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-optfile-'));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));
    let count = 0;

    /** The password the MariaDB option file parser reads back from optionFileContents(password). */
    const readBack = (pw: string): string => {
      const file = join(scratch, `client-${count++}.cnf`);
      writeFileSync(file, optionFileContents(pw), { mode: 0o600 });
      const out = execFileSync(myPrintDefaults, [`--defaults-file=${file}`, 'client'], { encoding: 'utf8' });
      expect(out.startsWith('--password=')).toBe(true);
      expect(out.endsWith('\n')).toBe(true);
      return out.slice('--password='.length, -1);
    };

    it.each([
      'plain',
      '',
      'a\\b',
      'ends with backslash\\',
      '\\\\double',
      'x\\n is not a newline',
      'multi\nline',
      "single 'quotes'",
      'hash # and ; semicolon',
      '#starts-with-hash',
      ' leading and trailing spaces ',
      'tab\tcr\rbackspace\x08',
      'equals=sign [client] $HOME `cmd`',
      'pässwörd ✓',
      "b\\c\nd 'e' #f;g",
      'a"b',
      'ends with quote"',
    ])('is read back unchanged by my_print_defaults: %j', (pw) => {
      expect(readBack(pw)).toBe(pw);
    });

    // An unescaped `"` inside the value would close the quoted string for MariaDB's comment
    // stripping, so a later `#` would start a comment and cut the password short.
    for (const pw of ["a\"b\\c\nd 'e' #f;g", 'p"#', 'x" #y']) {
      it(`is read back unchanged by my_print_defaults even with a double quote before "#": ${JSON.stringify(pw)}`, () => {
        expect(readBack(pw)).toBe(pw);
      });
    }
  }
});
