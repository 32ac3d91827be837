import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { z } from 'zod';
import { formatZodIssues } from '../../domain/resource-set';
import { UsageError } from './cli-errors';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags every command that talks to Temporal accepts, named as the `temporal` CLI names them. */
export const temporalFlags = {
  address: { type: 'string' },
  namespace: { type: 'string' },
  'task-queue': { type: 'string' },
} as const satisfies Options;

/**
 * Flags whose value is itself a tool's long option (`--arg --skip-comments`, as the README
 * writes it). parseArgs takes a value that starts with a dash only as `--arg=--skip-comments`
 * and refuses the spaced form as ambiguous, so that form is joined into the other first.
 */
const TOOL_OPTION_FLAGS = new Set(['arg']);

function joinToolOptionValues(argv: string[], options: Options): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') return [...joined, ...argv.slice(i)];
    const flag = token.startsWith('--') ? token.slice(2) : undefined;
    if (flag !== undefined && TOOL_OPTION_FLAGS.has(flag) && flag in options && i + 1 < argv.length) joined.push(`${token}=${argv[++i]}`);
    else joined.push(token);
  }
  return joined;
}

/** Strict parsing: an unknown flag or a missing value is a usage error naming it, not something ignored. */
export function parseCommandLine<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: joinToolOptionValues(argv, options), options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Validates one flag's value with its schema; the error names the flag. */
export function flagValue<S extends z.ZodType>(flag: string, schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(`--${flag}: ${formatZodIssues(parsed.error.issues)}`);
  return parsed.data;
}

export function requireFlag(flag: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`--${flag} is required`);
  return value;
}
