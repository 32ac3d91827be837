import { z } from 'zod';

/**
 * Extra options users pass to the dump and restore tools (mariadb-operator's `args`). Only
 * long options (`--name` or `--name=value`) are accepted, so combined short flags cannot hide
 * an option, and these are refused because they would break the pipeline or the guarantees:
 * writing somewhere else than stdout, connecting somewhere else, a password on the command
 * line, other option files, or choosing the databases, which dbkeep does itself.
 */
const REFUSED: Record<string, string> = {
  'result-file': 'the output must stay on stdout, where dbkeep streams it',
  tab: 'the output must stay on stdout, where dbkeep streams it',
  'target-dir': 'dbkeep sets the backup tool\'s scratch and target directories',
  stream: 'dbkeep streams xbstream itself',
  host: 'the connection target comes from the Target resource',
  port: 'the connection target comes from the Target resource',
  socket: 'the connection target comes from the Target resource',
  protocol: 'the connection target comes from the Target resource',
  user: 'the user comes from the Target resource',
  password: 'a password on the command line is visible to every user of the worker; use the Target\'s password reference',
  'defaults-file': 'dbkeep passes credentials in its own option file',
  'defaults-extra-file': 'dbkeep passes credentials in its own option file',
  'defaults-group-suffix': 'dbkeep passes credentials in its own option file',
  'login-path': 'dbkeep passes credentials in its own option file',
  'no-defaults': 'dbkeep passes credentials in its own option file',
  databases: 'the databases come from spec.databases (backup) or --database (restore)',
  'all-databases': 'the databases come from spec.databases (backup) or --database (restore)',
  'one-database': 'use the restore\'s database option',
  database: 'use the restore\'s database option',
  datadir: 'the data directory comes from the Target resource',
};

/** Undefined when the option may be passed; otherwise why not. */
export function toolArgumentProblem(argument: string): string | undefined {
  const match = /^--([a-z0-9][a-z0-9-_]*)(=.*)?$/s.exec(argument);
  if (!match) return `"${argument}" is not a long option (--name or --name=value)`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(argument)) return `"${argument.slice(0, 40)}" holds control characters`;
  // The tools read "_" as "-" and accept any unambiguous prefix of an option (--pass, --result).
  const name = match[1]!.replace(/_/g, '-');
  const refused = Object.keys(REFUSED).find((r) => r === name || (name.length >= 3 && r.startsWith(name)));
  if (refused) return `--${name} is not allowed: ${REFUSED[refused]}`;
  if (name.startsWith('password')) return `--${name} is not allowed: ${REFUSED.password}`;
  return undefined;
}

export const toolArgumentsSchema = z
  .array(
    z.string().superRefine((argument, ctx) => {
      const problem = toolArgumentProblem(argument);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  )
  .max(64, 'must hold at most 64 options');
