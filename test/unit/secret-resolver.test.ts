import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PermanentFailure } from '../../domain/failures';
import { createSecretResolver } from '../../secrets/secret-resolver';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-secrets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function secretFile(name: string, contents: string): string {
  const file = join(scratch, name);
  writeFileSync(file, contents, { mode: 0o600 });
  return file;
}

async function failureOf(promise: Promise<unknown>): Promise<PermanentFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PermanentFailure);
  return err as PermanentFailure;
}

describe('createSecretResolver: environment references', () => {
  const resolver = createSecretResolver({ DB_PASSWORD: 'p@ss\nword ', EMPTY: '' });

  it('reads the variable from the given environment, unchanged', async () => {
    await expect(resolver.resolve({ env: 'DB_PASSWORD' }, 'Target "prod-db" password')).resolves.toBe('p@ss\nword ');
  });

  it('defaults to process.env', async () => {
    const name = `DBKEEP_TEST_SECRET_${process.pid}`;
    process.env[name] = 'from-process-env';
    try {
      await expect(createSecretResolver().resolve({ env: name }, 'test')).resolves.toBe('from-process-env');
    } finally {
      delete process.env[name];
    }
  });

  it('fails permanently with SecretUnavailable naming the variable and the purpose when it is unset', async () => {
    const failure = await failureOf(resolver.resolve({ env: 'MISSING_PW' }, 'Target "prod-db" password'));
    expect(failure.type).toBe('SecretUnavailable');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe('Target "prod-db" password: environment variable MISSING_PW is not set in the worker\'s environment');
  });

  it('treats an empty variable as unset', async () => {
    const failure = await failureOf(resolver.resolve({ env: 'EMPTY' }, 'p'));
    expect(failure.type).toBe('SecretUnavailable');
    expect(failure.message).toContain('environment variable EMPTY is not set');
  });
});

describe('createSecretResolver: file references', () => {
  const resolver = createSecretResolver({});

  it('reads the file and strips exactly one trailing newline', async () => {
    await expect(resolver.resolve({ file: secretFile('lf', 's3cret\n') }, 'p')).resolves.toBe('s3cret');
    await expect(resolver.resolve({ file: secretFile('crlf', 's3cret\r\n') }, 'p')).resolves.toBe('s3cret');
    await expect(resolver.resolve({ file: secretFile('two', 's3cret\n\n') }, 'p')).resolves.toBe('s3cret\n');
    await expect(resolver.resolve({ file: secretFile('none', 's3cret') }, 'p')).resolves.toBe('s3cret');
  });

  it('fails permanently with SecretUnavailable when the file is empty or holds only a newline', async () => {
    for (const [name, content] of [
      ['empty', ''],
      ['newline', '\n'],
    ] as const) {
      const failure = await failureOf(resolver.resolve({ file: secretFile(name, content) }, 'Target "db" password'));
      expect(failure.type).toBe('SecretUnavailable');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toContain('is empty');
    }
  });

  it('keeps other whitespace and inner newlines', async () => {
    await expect(resolver.resolve({ file: secretFile('ws', ' a\nb \t\n') }, 'p')).resolves.toBe(' a\nb \t');
  });

  it('fails permanently with SecretUnavailable naming the file and the error code when it is missing', async () => {
    const missing = join(scratch, 'does-not-exist');
    const failure = await failureOf(resolver.resolve({ file: missing }, 'Repository "offsite" secretAccessKey'));
    expect(failure.type).toBe('SecretUnavailable');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(`Repository "offsite" secretAccessKey: cannot read file ${missing} on the worker: ENOENT`);
  });

  it('reports a directory as unreadable', async () => {
    const dir = join(scratch, 'a-dir');
    mkdirSync(dir);
    const failure = await failureOf(resolver.resolve({ file: dir }, 'p'));
    expect(failure.type).toBe('SecretUnavailable');
    expect(failure.message).toBe(`p: cannot read file ${dir} on the worker: EISDIR`);
  });
});
