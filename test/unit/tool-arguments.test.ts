import { describe, expect, it } from 'vitest';
import { formatZodIssues, parseResourceSet } from '../../domain/resource-set';
import { backupConfigurationSpecSchema } from '../../domain/resources';
import { toolArgumentProblem, toolArgumentsSchema } from '../../domain/tool-arguments';
import { restoreFilters, storageFilters } from '../../domain/tool-commands';

describe('toolArgumentProblem', () => {
  it('accepts long options that keep the pipeline and the guarantees', () => {
    for (const argument of [
      '--skip-comments',
      '--max-allowed-packet=1G',
      '--net_buffer_length=16384',
      '--skip-tz-utc',
      '--skip-opt',
      '--compress',
      '--force',
      '--ssl-ca=/etc/ca.pem',
    ]) {
      expect(toolArgumentProblem(argument, 'dump'), argument).toBeUndefined();
    }
    for (const argument of ['--parallel=4', '--no-lock', '--compress-threads=2', '--galera-info', '--throttle=10']) {
      expect(toolArgumentProblem(argument, 'physical'), argument).toBeUndefined();
    }
    for (const argument of ['--init-command=SET sql_log_bin=0', '--batch', '--max-allowed-packet=1G', '--show-warnings', '--table']) {
      expect(toolArgumentProblem(argument, 'client'), argument).toBeUndefined();
    }
  });

  it('refuses output redirection, another target, passwords, option files and database selection, saying why', () => {
    expect(toolArgumentProblem('--result-file=/tmp/dump.sql', 'dump')).toBe(
      '--result-file is not allowed: the dump must be SQL on stdout, where dbkeep streams it',
    );
    expect(toolArgumentProblem('--tab=/tmp', 'dump')).toMatch(/^--tab is not allowed/);
    expect(toolArgumentProblem('--host=evil.example', 'dump')).toBe(
      '--host is not allowed: the connection target comes from the Target resource',
    );
    expect(toolArgumentProblem('--password=hunter2', 'client')).toMatch(
      /^--password is not allowed: a password on the command line is visible/,
    );
    expect(toolArgumentProblem('--password1=hunter2', 'client')).toMatch(/^--password1 is not allowed: a password on the command line/);
    expect(toolArgumentProblem('--password_file=x', 'dump')).toMatch(/^--password_file is not allowed: a password/);
    expect(toolArgumentProblem('--defaults-extra-file=/etc/my.cnf', 'dump')).toMatch(
      /^--defaults-extra-file is not allowed: dbkeep passes the Target's password in its own option file/,
    );
    expect(toolArgumentProblem('--all-databases', 'dump')).toMatch(
      /^--all-databases is not allowed: the databases come from spec.databases/,
    );
    expect(toolArgumentProblem('--tables', 'dump')).toMatch(/^--tables is not allowed/);
    expect(toolArgumentProblem('--database=shop', 'client')).toBe("--database is not allowed: use the restore's database option");
  });

  it('refuses any prefix of a refused option, as the tools read one (mariadb-dump --ho=127.0.0.9 connects there)', () => {
    expect(toolArgumentProblem('--ho=127.0.0.9', 'dump')).toBe(
      '--ho is not allowed: the tool reads it as --host (it accepts any unambiguous prefix of an option, and --skip-, --enable-, --disable-, --loose- or --maximum- before it), and the connection target comes from the Target resource',
    );
    expect(toolArgumentProblem('--po=1', 'dump')).toMatch(
      /^--po is not allowed: the tool reads it as --port .*the connection target comes from the Target resource$/,
    );
    expect(toolArgumentProblem('--us=x', 'dump')).toMatch(
      /^--us is not allowed: the tool reads it as --user .*the user comes from the Target resource$/,
    );
    expect(toolArgumentProblem('--so=/path', 'client')).toMatch(/^--so is not allowed: the tool reads it as --socket/);
    expect(toolArgumentProblem('--pass=hunter2', 'dump')).toMatch(/^--pass is not allowed: the tool reads it as --password/);
    expect(toolArgumentProblem('--resul=x', 'dump')).toMatch(/^--resul is not allowed: the tool reads it as --result-file/);
    expect(toolArgumentProblem('--ex=SELECT 1', 'client')).toMatch(/^--ex is not allowed: the tool reads it as --execute/);
    // A prefix of several refused options: the message lists them and says what to do.
    expect(toolArgumentProblem('--d', 'dump')).toMatch(
      /^--d is not allowed: the tool may read it as --databases, --debug, --defaults-extra-file, --defaults-file, … .*write the full name of the option you mean$/,
    );
    expect(toolArgumentProblem('--disable-keys', 'dump')).toBeUndefined();
  });

  it('refuses the --skip-, --enable-, --disable-, --loose- and --maximum- forms, also stacked, and any case or "_" spelling', () => {
    for (const argument of [
      '--loose-host=x',
      '--loose-loose-host=x',
      '--skip-loose-ho=x',
      '--enable-xm',
      '--maximum-port=1',
      '--disable-tab',
      '--HOST=x',
      '--Result_File=x',
    ]) {
      expect(toolArgumentProblem(argument, 'dump'), argument).toMatch(/ is not allowed: /);
    }
    expect(toolArgumentProblem('--loose-skip-host', 'dump')).toMatch(/^--loose-skip-host is not allowed: the tool reads it as --host/);
    expect(toolArgumentProblem('--skip-', 'dump')).toBe('--skip- is not an option');
  });

  it('refuses options that stop the tool or make it succeed without doing its work', () => {
    for (const tool of ['dump', 'physical', 'client'] as const) {
      expect(toolArgumentProblem('--version', tool)).toMatch(
        /^--version is not allowed: the tool would print it and exit 0 without doing its work/,
      );
      expect(toolArgumentProblem('--help', tool)).toMatch(/^--help is not allowed/);
      expect(toolArgumentProblem('--print-defaults', tool)).toMatch(/^--print-defaults is not allowed: dbkeep passes/);
      expect(toolArgumentProblem('--no-defaults', tool)).toMatch(/^--no-defaults is not allowed/);
      expect(toolArgumentProblem('--defaults-group-suffix=_x', tool)).toMatch(/^--defaults-group-suffix is not allowed/);
      expect(toolArgumentProblem('--debug', tool)).toMatch(/^--debug is not allowed: release builds of the tools stop at once/);
    }
    expect(toolArgumentProblem('--xml', 'dump')).toMatch(/^--xml is not allowed: the dump must be SQL on stdout/);
    expect(toolArgumentProblem('--log-error=/tmp/e', 'dump')).toMatch(/stderr, where dbkeep reports them/);
    expect(toolArgumentProblem('--no-create-db', 'dump')).toMatch(
      /^--no-create-db is not allowed: a restore drops the snapshot's databases first/,
    );
    expect(toolArgumentProblem('--print-param', 'physical')).toMatch(/^--print-param is not allowed/);
    expect(toolArgumentProblem('--prepare', 'physical')).toMatch(/backup mode/);
    expect(toolArgumentProblem('--compress', 'physical')).toMatch(/^--compress is not allowed: .*QuickLZ/);
    expect(toolArgumentProblem('--incremental-basedir=/b', 'physical')).toMatch(
      /^--incremental-basedir is not allowed: a snapshot is a full backup/,
    );
    expect(toolArgumentProblem('--databases-exclude=x', 'physical')).toMatch(/whole data directory/);
    expect(toolArgumentProblem('--execute=SELECT 1', 'client')).toMatch(
      /^--execute is not allowed: the client would run that statement instead of reading the dump/,
    );
    expect(toolArgumentProblem('--force', 'client')).toMatch(/^--force is not allowed: the client would go on past a failed statement/);
    expect(toolArgumentProblem('--html', 'client')).toMatch(/^--html is not allowed: output formats/);
    expect(toolArgumentProblem('--delimiter=$$', 'client')).toMatch(/one statement/);
    expect(toolArgumentProblem('--tee=/tmp/out', 'client')).toMatch(/file on the worker/);
  });

  it('refuses short options, clustered or not, and never repeats their value', () => {
    for (const argument of [
      '-h',
      '-h127.0.0.9',
      '-P3306',
      '-uroot',
      '-S',
      '-p',
      '-r/tmp/x',
      '-V',
      '-?',
      '-I',
      '-X',
      '-T/tmp',
      '-e',
      '-qh127.0.0.9',
    ]) {
      expect(toolArgumentProblem(argument, 'dump'), argument).toMatch(/^-.(…)? is not allowed: short options are not accepted/);
    }
    expect(toolArgumentProblem('-psecret', 'client')).toBe(
      '-p… is not allowed: short options are not accepted, because one argument such as -qh… sets several options and the letters mean different options in each tool; use the long form (--name or --name=value)',
    );
    expect(toolArgumentProblem('hunter2', 'client')).toBe(
      'an item that is not an option is not allowed: pass each option as --name or --name=value, its value after "="',
    );
    expect(toolArgumentProblem('', 'client')).toMatch(/not an option/);
    expect(toolArgumentProblem('--', 'dump')).toMatch(/^-- is not allowed: it ends the options/);
    expect(toolArgumentProblem('--x.host=127.0.0.9', 'dump')).toMatch(
      /^--x\.host is not allowed: the tools read the part after "\." as an option/,
    );
    expect(toolArgumentProblem('--opt=a\nb', 'dump')).toBe('--opt: its value holds control characters');
  });

  it('names the offending item in a resource file, for the tool its method runs', () => {
    const parsed = toolArgumentsSchema('client').safeParse(['--show-warnings', '--host=x']);
    expect(parsed.success).toBe(false);
    expect(formatZodIssues(parsed.error!.issues, 'args')).toBe(
      'args.1: --host is not allowed: the connection target comes from the Target resource',
    );
    const configuration = (args: string) => [
      {
        file: 'a.yaml',
        text: `apiVersion: dbkeep.io/v1alpha1\nkind: BackupConfiguration\nmetadata: { name: x }\nspec: { target: t, repository: r, args: ${args} }\n`,
      },
    ];
    expect(() => parseResourceSet(configuration('["--skip-comments", "--ho=elsewhere"]'))).toThrow(
      'a.yaml (document 1): BackupConfiguration "x": spec.args.1: --ho is not allowed: the tool reads it as --host',
    );
    // --compress is the protocol's compression for mariadb-dump, but QuickLZ files for mariadb-backup.
    const spec = (method: string) =>
      backupConfigurationSpecSchema.safeParse({ target: 't', repository: 'r', method, args: ['--compress'] });
    expect(spec('logical').success).toBe(true);
    expect(formatZodIssues(spec('physical').error!.issues, 'spec')).toBe(
      'spec.args.0: --compress is not allowed: it compresses every file in the stream (QuickLZ .qp files), which a restore does not undo; use spec.compression',
    );
  });
});

describe('storage and restore filters', () => {
  it('compress then encrypt on the way in, decrypt then decompress on the way out', () => {
    expect(storageFilters({ compression: { algorithm: 'zstd' }, recipientsFile: '/s/recipients.txt' })).toEqual([
      { command: 'zstd', args: ['-3', '-c', '-q'] },
      { command: 'age', args: ['--encrypt', '--recipients-file', '/s/recipients.txt'] },
    ]);
    expect(restoreFilters({ algorithm: 'zstd', identityFile: '/s/identity' })).toEqual([
      { command: 'age', args: ['--decrypt', '--identity', '/s/identity'] },
      { command: 'zstd', args: ['-d', '-c', '-q'] },
    ]);
    expect(storageFilters({ compression: { algorithm: 'none' } })).toEqual([]);
    expect(restoreFilters({ algorithm: 'none' })).toEqual([]);
  });
});
