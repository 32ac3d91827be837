import { z } from 'zod';

/** The tool a list of `args` goes to: the logical dump, the physical backup, or the restore's client. */
export type ArgumentTool = 'dump' | 'physical' | 'client';

interface Refusal {
  /** The option name, or the start of a family of them with `family`. */
  name: string;
  family: boolean;
  reason: string;
}

/** A trailing `*` refuses every option whose name starts so (the tools have several). */
const refuse = (options: readonly string[], reason: string): Refusal[] =>
  options.map((option) => ({ name: option.replace(/\*$/, ''), family: option.endsWith('*'), reason }));

/**
 * The options users may not pass in `args` (mariadb-operator's `args`), for each tool they go
 * to: mariadb-dump/mysqldump (`dump`), mariadb-backup/xtrabackup (`physical`), mariadb/mysql
 * (`client`). User args come after all of dbkeep's own options (for mariadb-dump after
 * --databases, just before `--` and the names) and the last occurrence of an option wins, so
 * everything dbkeep sets for a reason is refused here; so is anything that makes the tool stop,
 * succeed without doing its work, or write something other than what dbkeep reads. Placed so,
 * an option written without its value (`--where`), which takes the next argument as its value,
 * takes `--` or nothing, never one of dbkeep's options.
 * The names are those of the MariaDB 10.11 tools' `--help` (`dns-srv-name` is MySQL 8's), and
 * the reasons what these options did, run against a real server where dbkeep places them.
 *
 * Left allowed on purpose: `--batch` (dbkeep passes it already; `--skip-batch` makes the client
 * stop with an error), `--force` for mariadb-dump (it still exits non-zero after an error),
 * `--init-command` (e.g. `SET sql_log_bin=0`: the user's call, see logicalRestoreCommand), the
 * ssl options, and everything that only tunes the dump (`--skip-comments` only turns off the
 * parallel restore's split, which then applies the dump in one session).
 */
const EVERY_TOOL: readonly Refusal[] = [
  ...refuse(['host', 'port', 'socket', 'protocol', 'dns-srv-name'], 'the connection target comes from the Target resource'),
  ...refuse(['user'], 'the user comes from the Target resource'),
  ...refuse(['password*'], "a password on the command line is visible to every user of the worker; use the Target's password reference"),
  // tool-commands.ts: optionFileContents.
  ...refuse(
    ['defaults-file', 'defaults-extra-file', 'defaults-group', 'defaults-group-suffix', 'no-defaults', 'print-defaults', 'login-path'],
    "dbkeep passes the Target's password in its own option file with --defaults-file, the first argument; option file options count only there, and elsewhere stop the tool",
  ),
  ...refuse(
    ['help', 'version'],
    'the tool would print it and exit 0 without doing its work: a snapshot holding no backup, or a restore applying nothing, would count as a success',
  ),
  ...refuse(['debug'], 'release builds of the tools stop at once on it (mariadb-dump with exit status 0 and no output)'),
];

const REFUSALS: Record<ArgumentTool, readonly Refusal[]> = {
  dump: [
    ...EVERY_TOOL,
    ...refuse(['result-file', 'tab', 'xml'], 'the dump must be SQL on stdout, where dbkeep streams it'),
    ...refuse(['log-error'], "the tool's errors must stay on stderr, where dbkeep reports them"),
    // `--tables` would turn dbkeep's `--databases` off: all names but the first would be read as tables.
    ...refuse(['databases', 'all-databases', 'tables'], 'the databases come from spec.databases'),
    ...refuse(
      ['no-create-db', 'no-create-info'],
      "a restore drops the snapshot's databases first, then recreates them and their tables from the dump's CREATE statements",
    ),
    ...refuse(
      ['delete-master-logs'],
      "it purges the server's binary logs, which its replicas and point-in-time recovery need; a backup leaves the server as it was",
    ),
  ],
  physical: [
    ...EVERY_TOOL,
    ...refuse(['print-param'], 'the tool would print its parameters and exit 0: the snapshot would hold them instead of a backup'),
    ...refuse(['target-dir', 'extra-lsndir'], "dbkeep sets the backup tool's scratch and target directories"),
    ...refuse(['stream'], 'dbkeep streams xbstream itself'),
    ...refuse(['datadir'], 'the data directory comes from the Target resource'),
    ...refuse(
      ['backup', 'prepare', 'apply-log', 'copy-back', 'move-back', 'decompress'],
      'dbkeep runs the tool in backup mode; restores prepare the copy themselves',
    ),
    ...refuse(
      ['compress'],
      'it compresses every file in the stream (QuickLZ .qp files), which a restore does not undo; use spec.compression',
    ),
    ...refuse(['incremental*'], 'a snapshot is a full backup: an incremental one cannot be restored on its own'),
    ...refuse(['databases*', 'tables*'], 'a physical snapshot is the whole data directory: a partial copy does not start as a server'),
  ],
  client: [
    ...EVERY_TOOL,
    ...refuse(['execute'], 'the client would run that statement instead of reading the dump, and exit 0 with nothing applied'),
    ...refuse(['database', 'one-database'], "use the restore's database option"),
    ...refuse(['force'], 'the client would go on past a failed statement and exit 0: a restore missing data would count as a success'),
    ...refuse(
      ['delimiter'],
      'the dump\'s statements end with ";": with another delimiter the client would read the whole dump as one statement',
    ),
    ...refuse(['html', 'xml'], "output formats for reading query results: a restore has none, and dbkeep discards the client's output"),
    ...refuse(['tee'], 'it copies the output into a file on the worker; the tools write only to the pipes dbkeep reads'),
  ],
};

/**
 * MariaDB's option parser (my_getopt) reads these before a name and tries them, in any order and
 * repeated, when the whole name is no option: `--loose-skip-host` sets --host.
 */
const SPECIAL_PREFIXES = ['skip-', 'disable-', 'enable-', 'loose-', 'maximum-'];

/** The option names `name` may stand for once the tool has stripped its special prefixes. */
function namesReadFrom(name: string): string[] {
  const names = [name];
  for (let i = 0; i < names.length; i++) {
    for (const prefix of SPECIAL_PREFIXES) {
      if (names[i]!.startsWith(prefix)) names.push(names[i]!.slice(prefix.length));
    }
  }
  return names;
}

/**
 * The tools accept any unambiguous prefix of a long option (`--ho` is `--host`), so a name is
 * refused when it is a refused option or a prefix of one; in a family, also when it starts with it.
 */
function refusalsMatching(name: string, tool: ArgumentTool): Array<Refusal & { readAs: string }> {
  return REFUSALS[tool]
    .filter((refusal) => refusal.name.startsWith(name) || (refusal.family && name.startsWith(refusal.name)))
    .map((refusal) => ({ ...refusal, readAs: refusal.family && name.startsWith(refusal.name) ? name : refusal.name }));
}

// Never the value: it may be a password (`--password=…`, `-psecret`).
const shortOptionShown = (argument: string) => (argument.length > 2 ? `${argument.slice(0, 2)}…` : argument);

/** Undefined when the option may be passed to `tool`; otherwise why not, naming the option. */
export function toolArgumentProblem(argument: string, tool: ArgumentTool): string | undefined {
  if (argument === '--') return '-- is not allowed: it ends the options, and dbkeep places the database names after it itself';
  if (!argument.startsWith('--')) {
    if (/^-[^-]/.test(argument)) {
      return (
        `${shortOptionShown(argument)} is not allowed: short options are not accepted, because one argument such as -qh… sets several ` +
        'options and the letters mean different options in each tool; use the long form (--name or --name=value)'
      );
    }
    return 'an item that is not an option is not allowed: pass each option as --name or --name=value, its value after "="';
  }
  const written = argument.slice(2).split('=', 1)[0]!;
  if (written.includes('.')) {
    return `--${written} is not allowed: the tools read the part after "." as an option of its own (--name.host sets --host); write it without "."`;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(written)) return `--${written} is not an option name (letters, digits, "-" and "_")`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(argument)) return `--${written}: its value holds control characters`;
  // The tools read "_" as "-" and ignore case in option names.
  const name = written.replace(/_/g, '-').toLowerCase();
  if (namesReadFrom(name).includes('')) return `--${written} is not an option`;
  const matches = [
    ...new Map(
      namesReadFrom(name)
        .flatMap((n) => refusalsMatching(n, tool))
        .map((m) => [m.readAs, m]),
    ).values(),
  ];
  if (matches.length === 0) return undefined;
  if (matches.length > 1) {
    const names = matches.map((m) => `--${m.readAs}`).sort();
    const listed = names.length > 4 ? `${names.slice(0, 4).join(', ')}, …` : names.join(', ');
    return `--${written} is not allowed: the tool may read it as ${listed} (it accepts any unambiguous prefix of an option), which dbkeep refuses; write the full name of the option you mean`;
  }
  const [match] = matches;
  if (match!.readAs === name) return `--${written} is not allowed: ${match!.reason}`;
  return `--${written} is not allowed: the tool reads it as --${match!.readAs} (it accepts any unambiguous prefix of an option, and --skip-, --enable-, --disable-, --loose- or --maximum- before it), and ${match!.reason}`;
}

/** `args` before the tool they go to is known; a BackupConfiguration's depends on its method (addToolArgumentIssues). */
export const toolArgumentListSchema = z.array(z.string()).max(64, 'must hold at most 64 options');

/** One issue per refused argument, at `path` and its index. */
export function addToolArgumentIssues(
  ctx: z.RefinementCtx,
  args: readonly string[],
  tool: ArgumentTool,
  path: Array<string | number> = [],
): void {
  args.forEach((argument, index) => {
    const problem = toolArgumentProblem(argument, tool);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [...path, index] });
  });
}

export function toolArgumentsSchema(tool: ArgumentTool) {
  return toolArgumentListSchema.superRefine((args, ctx) => addToolArgumentIssues(ctx, args, tool));
}
