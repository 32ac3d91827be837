import { describe, expect, it } from 'vitest';
import { formatZodIssues, parseResourceSet } from '../../domain/resource-set';
import { toolArgumentProblem, toolArgumentsSchema } from '../../domain/tool-arguments';
import { restoreFilters, storageFilters } from '../../domain/tool-commands';

describe('toolArgumentProblem', () => {
  it('accepts long options that keep the pipeline and the guarantees', () => {
    for (const argument of ['--skip-comments', '--max-allowed-packet=1G', '--net_buffer_length=16384', '--skip-tz-utc', '--parallel=4']) {
      expect(toolArgumentProblem(argument), argument).toBeUndefined();
    }
  });

  it('refuses output redirection, another target, passwords, option files and database selection, saying why', () => {
    expect(toolArgumentProblem('--result-file=/tmp/dump.sql')).toBe('--result-file is not allowed: the output must stay on stdout, where dbkeep streams it');
    expect(toolArgumentProblem('--tab=/tmp')).toMatch(/^--tab is not allowed/);
    expect(toolArgumentProblem('--host=evil.example')).toBe('--host is not allowed: the connection target comes from the Target resource');
    expect(toolArgumentProblem('--password=hunter2')).toMatch(/^--password is not allowed: a password on the command line is visible/);
    expect(toolArgumentProblem('--pass=hunter2')).toMatch(/^--pass is not allowed/);
    expect(toolArgumentProblem('--password_file=x')).toMatch(/^--password-file is not allowed/);
    expect(toolArgumentProblem('--defaults-extra-file=/etc/my.cnf')).toMatch(/option file/);
    expect(toolArgumentProblem('--all-databases')).toMatch(/^--all-databases is not allowed/);
    expect(toolArgumentProblem('--resul=x')).toMatch(/^--resul is not allowed/);
  });

  it('accepts only long options, so short flags cannot hide one', () => {
    expect(toolArgumentProblem('-uroot')).toBe('"-uroot" is not a long option (--name or --name=value)');
    expect(toolArgumentProblem('-r/tmp/x')).toMatch(/not a long option/);
    expect(toolArgumentProblem('')).toMatch(/not a long option/);
    expect(toolArgumentProblem('--opt=a\nb')).toMatch(/control characters/);
  });

  it('names the offending item in a resource file', () => {
    const parsed = toolArgumentsSchema.safeParse(['--skip-comments', '--result-file=x']);
    expect(parsed.success).toBe(false);
    expect(formatZodIssues(parsed.error!.issues, 'spec.args')).toBe('spec.args.1: --result-file is not allowed: the output must stay on stdout, where dbkeep streams it');
    expect(() =>
      parseResourceSet([
        {
          file: 'a.yaml',
          text: 'apiVersion: dbkeep.io/v1alpha1\nkind: BackupConfiguration\nmetadata: { name: x }\nspec: { target: t, repository: r, args: ["--host=elsewhere"] }\n',
        },
      ]),
    ).toThrow('a.yaml (document 1): BackupConfiguration "x": spec.args.0: --host is not allowed');
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
