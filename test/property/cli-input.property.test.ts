import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotIdSchema, resourceNameSchema } from '../../domain/names';
import { runDbkeep, type CommandResult } from '../support/cli-runner';
import { applyMutation, DOCUMENT_ORDER, invalidMutation, invalidName, render, validDocuments } from './resource-arbitraries';

/**
 * The built `dbkeep` CLI (build first; `npm test` does) given bad resource files and bad flag
 * values: each run exits 1 or 2 with a message that starts `dbkeep <command>: ` and names
 * the field or flag, and never prints a stack trace. Temporal points at a closed port, so a
 * command that got past validation would fail differently and be caught. Each run is a
 * process start (~0.8 s), hence the bounded number of runs.
 */
const RUNS = 30;
let dir: string;
let validFile: string;

async function dbkeep(args: string[]): Promise<CommandResult> {
  // 127.0.0.1:1: nothing listens there, so reaching Temporal would fail at once and visibly.
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    DBKEEP_TASK_QUEUE: 'property',
    DBKEEP_DEV_DIR: path.join(dir, 'no-dev-stack'),
  };
  return runDbkeep(args, { env, cwd: dir });
}

/** What every refusal looks like: the exit code, one `dbkeep <command>: ` message, no stack, nothing on stdout. */
function expectRefusal(result: CommandResult, command: string, codes: number[]): string[] {
  expect(codes).toContain(result.code);
  expect(result.stdout).toBe('');
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toContain('cannot reach Temporal');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(new RegExp(`^dbkeep ${command}: `));
  return lines;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-cli-property-'));
  validFile = path.join(dir, 'valid.yaml');
  const documents = validDocuments();
  writeFileSync(
    validFile,
    render(
      DOCUMENT_ORDER.map((k) => documents[k]),
      'yaml',
    ),
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('dbkeep CLI inputs, property-based', () => {
  it('refuses a resource file with any invalid field, naming file and field, exit 1', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        invalidMutation,
        fc.constantFrom<'yaml' | 'json'>('yaml', 'json'),
        fc.constantFrom('backup', 'apply', 'snapshots'),
        async (change, format, command) => {
          const file = path.join(dir, `bad-${run++}.${format}`);
          const documents = applyMutation(validDocuments(), change);
          writeFileSync(
            file,
            render(
              DOCUMENT_ORDER.map((k) => documents[k]),
              format,
            ),
          );
          const args = command === 'apply' ? ['apply', '-f', file] : [command, '-f', file, '--config', 'shop-nightly'];
          const lines = expectRefusal(await dbkeep(args), command, [1]);
          // The first line carries the first problem; each further line is another one, in the same form.
          expect(lines[0]).toContain(`dbkeep ${command}: ${file} (document `);
          for (const line of lines.slice(1)) expect(line.startsWith(`${file} (document `)).toBe(true);
          expect(lines.join('\n'), change.description).toContain(change.field);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('refuses bad names, snapshot ids, times and limits in flags and arguments, naming the flag, exit 2', async () => {
    // NUL cannot be passed in argv at all; every other character can.
    const argvSafe = (arbitrary: fc.Arbitrary<string>) => arbitrary.filter((s) => !s.includes('\u0000'));
    const badName = argvSafe(invalidName).filter((s) => !resourceNameSchema.safeParse(s).success);
    const badSnapshot = argvSafe(
      fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.constantFrom(
          '../../etc/passwd',
          '20261321T000000000Z-abcdef',
          '20261121T246000000Z-abcdef',
          '20261121T161704123Z-ABCDEF',
          '20261121T161704123Z-3f9a1',
        ),
      ),
    ).filter((s) => !snapshotIdSchema.safeParse(s).success);
    // The CLI's own rules decide what is bad, so a generated value that happens to be valid is never sent.
    const badTime = argvSafe(
      fc.oneof(
        fc.string({ maxLength: 25 }),
        fc.constantFrom('yesterday', '2026-13-01T00:00:00Z', '2026-11-21 16:00', '1700000000', '2026-11-21T16:00:00'),
      ),
    ).filter((s) => !z.iso.datetime({ offset: true }).safeParse(s).success);
    const badLimit = argvSafe(
      fc.oneof(
        fc.integer({ max: 0 }).map(String),
        fc.integer({ min: 1001 }).map(String),
        fc.constantFrom('1.5', 'ten', '', '1e9', '-1', 'Infinity'),
      ),
    ).filter((s) => !z.coerce.number().int().min(1).max(1000).safeParse(s).success);
    const invocation = fc.oneof(
      badName.map((name) => ({ command: 'backup', flag: '--config', args: ['backup', '-f', validFile, `--config=${name}`] })),
      badName.map((name) => ({ command: 'snapshots', flag: '--config', args: ['snapshots', '-f', validFile, `--config=${name}`] })),
      badName.map((name) => ({
        command: 'restore',
        flag: '--to',
        args: ['restore', '-f', validFile, '--config=shop-nightly', `--to=${name}`],
      })),
      badName.map((name) => ({ command: 'prune', flag: '--config', args: ['prune', '-f', validFile, `--config=${name}`] })),
      badName.map((name) => ({ command: 'sessions', flag: 'NAME', args: ['sessions', '--', name] })),
      badName.map((name) => ({ command: 'pause', flag: 'NAME', args: ['pause', '--', name] })),
      badName.map((name) => ({ command: 'delete', flag: 'NAME', args: ['delete', '--', 'valid-name', name] })),
      badSnapshot.map((id) => ({
        command: 'restore',
        flag: '--snapshot',
        args: ['restore', '-f', validFile, '--config=shop-nightly', '--to=shop-db', `--snapshot=${id}`],
      })),
      badTime.map((time) => ({
        command: 'restore',
        flag: '--at',
        args: ['restore', '-f', validFile, '--config=shop-nightly', '--to=shop-db', `--at=${time}`],
      })),
      badLimit.map((limit) => ({
        command: 'snapshots',
        flag: '--limit',
        args: ['snapshots', '-f', validFile, '--config=shop-nightly', `--limit=${limit}`],
      })),
      fc.stringMatching(/^[a-z]{1,8}$/).map((flag) => ({
        command: 'backup',
        flag: `--x${flag}`,
        args: ['backup', '-f', validFile, '--config=shop-nightly', `--x${flag}`],
      })),
    );
    await fc.assert(
      fc.asyncProperty(invocation, async ({ command, flag, args }) => {
        const lines = expectRefusal(await dbkeep(args), command, [2]);
        expect(lines, JSON.stringify(args)).toHaveLength(1);
        expect(lines[0]).toContain(flag);
      }),
      { numRuns: RUNS },
    );
  });
});
