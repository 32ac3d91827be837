import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sessionTools } from '../../domain/tool-commands';
import { requireToolsOnPath, stderrSummary } from '../../pipeline/tool-process';

describe('requireToolsOnPath', () => {
  const root = mkdtempSync(join(tmpdir(), 'dbkeep-tools-'));
  const image = join(root, 'image-bin');
  const other = join(root, 'other-bin');
  mkdirSync(image);
  mkdirSync(other);
  for (const [dir, name, mode] of [
    [image, 'mysql', 0o755],
    [image, 'zstd', 0o755],
    // Not executable, and a directory: neither is a tool spawn could run.
    [other, 'age', 0o644],
  ] as const) {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), mode);
  }
  mkdirSync(join(other, 'mysqldump'));
  const searchPath = ['', other, image].join(delimiter);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const commands = (params: Parameters<typeof sessionTools>[0]) => sessionTools(params).map((tool) => tool.command);

  async function failureOf(promise: Promise<void>): Promise<{ type?: string; nonRetryable?: boolean; message: string }> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeDefined();
    return error as { type?: string; nonRetryable?: boolean; message: string };
  }

  it("passes when every tool is an executable file in a directory of the worker's PATH", async () => {
    await requireToolsOnPath(sessionTools({ engine: 'mysql', tool: 'client', compression: 'zstd' }), searchPath);
    await requireToolsOnPath([{ command: join(image, 'mysql'), role: 'a tool named by its path' }], '');
  });

  it('fails with ToolNotFound, non-retryable, naming the tool, the engine and what provides it', async () => {
    const failure = await failureOf(requireToolsOnPath(sessionTools({ engine: 'mysql', tool: 'dump' }), searchPath));
    expect(failure).toMatchObject({ type: 'ToolNotFound', nonRetryable: true });
    expect(failure.message).toBe(
      "mysqldump (the mysql dump tool) is not on the worker's PATH: its image needs MySQL's client tools, for engines mysql and percona-xtradb (Debian: mysql-client-core)",
    );
  });

  it("asks for dbkeep-tee and mkfifo only for a zstd dump recording a drill's fingerprint, which copies the dump through them", async () => {
    expect(commands({ engine: 'mariadb', tool: 'dump', compression: 'zstd', fingerprinted: true })).toEqual([
      'mariadb-dump',
      'zstd',
      'dbkeep-tee',
      'mkfifo',
    ]);
    expect(commands({ engine: 'mariadb', tool: 'dump', compression: 'gzip', fingerprinted: true })).toEqual(['mariadb-dump', 'gzip']);
    expect(commands({ engine: 'mariadb', tool: 'physical', compression: 'zstd', fingerprinted: true })).toEqual([
      'mariadb-backup',
      'zstd',
      'dbkeep-relay',
    ]);
    const failure = await failureOf(
      requireToolsOnPath(
        sessionTools({ engine: 'mysql', tool: 'client', compression: 'zstd' }).concat(
          sessionTools({ engine: 'mysql', tool: 'dump', compression: 'zstd', fingerprinted: true }).slice(3),
        ),
        searchPath,
      ),
    );
    expect(failure.message).toContain(
      "mkfifo (the scan of the dump for the drill's fingerprint) is not on the worker's PATH: its image needs coreutils",
    );
  });

  it('asks for dbkeep-relay for every zstd backup whose dump no scan reads, and for nothing else', () => {
    expect(commands({ engine: 'mysql', tool: 'dump', compression: 'zstd' })).toEqual(['mysqldump', 'zstd', 'dbkeep-relay']);
    expect(commands({ engine: 'mariadb', tool: 'physical', compression: 'zstd' })).toEqual(['mariadb-backup', 'zstd', 'dbkeep-relay']);
    expect(commands({ engine: 'mysql', tool: 'dump', compression: 'gzip' })).toEqual(['mysqldump', 'gzip']);
    expect(commands({ engine: 'mysql', tool: 'dump', compression: 'none' })).toEqual(['mysqldump']);
    expect(commands({ engine: 'mysql', tool: 'client', compression: 'zstd' })).toEqual(['mysql', 'zstd']);
  });

  it('asks for dbkeep-sink for a zstd backup into a directory repository that no age encrypts, and for nothing else', () => {
    expect(commands({ engine: 'mariadb', tool: 'physical', compression: 'zstd', intoDirectory: true })).toEqual([
      'mariadb-backup',
      'zstd',
      'dbkeep-relay',
      'dbkeep-sink',
    ]);
    expect(commands({ engine: 'mariadb', tool: 'dump', compression: 'zstd', fingerprinted: true, intoDirectory: true })).toEqual([
      'mariadb-dump',
      'zstd',
      'dbkeep-tee',
      'mkfifo',
      'dbkeep-sink',
    ]);
    expect(commands({ engine: 'mariadb', tool: 'dump', compression: 'zstd', encrypted: true, intoDirectory: true })).toEqual([
      'mariadb-dump',
      'zstd',
      'age',
      'dbkeep-relay',
    ]);
    expect(commands({ engine: 'mariadb', tool: 'dump', compression: 'gzip', intoDirectory: true })).toEqual(['mariadb-dump', 'gzip']);
    expect(commands({ engine: 'mariadb', tool: 'client', compression: 'zstd', intoDirectory: true })).toEqual(['mariadb', 'zstd']);
  });

  it('finds dbkeep-tee, dbkeep-relay and dbkeep-sink where the build puts them, whatever PATH says', async () => {
    const nativeTools = [
      ...sessionTools({ engine: 'mysql', tool: 'dump', compression: 'zstd', fingerprinted: true }),
      ...sessionTools({ engine: 'mysql', tool: 'dump', compression: 'zstd', intoDirectory: true }),
    ].filter((tool) => tool.command.startsWith('dbkeep-'));
    expect(nativeTools.map((tool) => tool.command)).toEqual(['dbkeep-tee', 'dbkeep-relay', 'dbkeep-sink']);
    await requireToolsOnPath(nativeTools, '');
  });

  it("names every missing tool of the session, a non-executable file counting as missing, and the snapshot's filters", async () => {
    const failure = await failureOf(
      requireToolsOnPath(sessionTools({ engine: 'mariadb', tool: 'client', compression: 'zstd', encrypted: true }), searchPath),
    );
    expect(failure.type).toBe('ToolNotFound');
    expect(failure.message).toBe(
      "mariadb (the mariadb client) is not on the worker's PATH: its image needs MariaDB's client tools, for engine mariadb (Debian: mariadb-client); " +
        "age (the snapshot's age encryption) is not on the worker's PATH: its image needs age, for encrypted snapshots (Debian: age)",
    );
  });

  it('says to install a tool it knows no provider for, and finds nothing on an empty PATH', async () => {
    const failure = await failureOf(requireToolsOnPath([{ command: 'bzip2', role: "the snapshot's bzip2 compression" }], ''));
    expect(failure.message).toBe(
      "bzip2 (the snapshot's bzip2 compression) is not on the worker's PATH: install bzip2 on the worker's image",
    );
  });
});

describe('stderrSummary', () => {
  it('keeps at most three lines, preferring those that report an error, from the head and the tail', () => {
    const head = 'mysql: [Warning] Using a password on the command line\nERROR 1273 (HY000) at line 24: Unknown collation\n';
    const tail = 'some progress\nmysql: error while loading\nERROR 2013 (HY000) at line 99: Lost connection\nbye\n';
    expect(stderrSummary(head, tail)).toBe(
      'ERROR 1273 (HY000) at line 24: Unknown collation | mysql: error while loading | ERROR 2013 (HY000) at line 99: Lost connection',
    );
  });

  it('bounds a statement of megabytes the client echoed after its error to 300 characters a line', () => {
    const statement = `INSERT INTO b VALUES (1, '${'x'.repeat(4 * 1024 * 1024)}')`;
    const head = `ERROR 2006 (HY000) at line 40: MySQL server has gone away\n${statement.slice(0, 4000)}`;
    const tail = statement.slice(-4096);
    const summary = stderrSummary(head, tail);
    expect(summary).toBe('ERROR 2006 (HY000) at line 40: MySQL server has gone away');
    const noError = stderrSummary(statement.slice(0, 4096), '');
    expect(noError).toBe(`${statement.slice(0, 300)}…`);
  });

  it('says each line once when head and tail overlap, falls back to the last lines, and is empty for no output', () => {
    const all = 'one\ntwo\nthree\nfour\n';
    expect(stderrSummary(all, all)).toBe('two | three | four');
    expect(stderrSummary('', '\n  \n')).toBe('');
  });
});
