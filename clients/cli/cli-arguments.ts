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

/** Strict parsing: an unknown flag or a missing value is a usage error naming it, not something ignored. */
export function parseCommandLine<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
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
