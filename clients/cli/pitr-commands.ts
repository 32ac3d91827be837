import { configurationFlags, connectClient, resolveConfigurationFlag } from './client-connection';
import { parseCommandLine } from './cli-arguments';
import { UsageError } from './cli-errors';
import { formatBytes, formatTable, printJson } from './output';

const USAGE = 'usage: dbkeep pitr status -f FILE... --config NAME [--json]';

/** `dbkeep pitr status`: the recoverable windows of a configuration with point-in-time recovery, its lag and gaps. */
export async function pitrCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action !== 'status') throw new UsageError(USAGE);
  const { values } = parseCommandLine(rest, { ...configurationFlags, json: { type: 'boolean', default: false } });
  const resolved = await resolveConfigurationFlag(values);
  const name = resolved.configuration.name;
  const client = await connectClient(values);
  try {
    const status = await client.pointInTimeStatus(resolved);
    for (const problem of status.problems) process.stderr.write(`dbkeep: skipped archived piece ${problem.key}: ${problem.reason}\n`);
    if (values.json) return printJson(status);
    const archive = status.archive;
    console.log(
      `${name}: archive ${archive.running ? 'running' : archive.enabled ? 'enabled but not running (run dbkeep apply)' : 'off'}` +
        `, ${status.pieces} piece(s), ${formatBytes(status.archivedBytes)}` +
        (status.lagSeconds === null ? '' : `, lag ${status.lagSeconds} s`),
    );
    if (archive.progress?.file)
      console.log(`  position: ${archive.progress.file} at ${archive.progress.offset} (${archive.progress.gtids ?? ''})`);
    if (archive.progress?.lastProblem ?? archive.lastFailure)
      console.log(`  last problem: ${archive.progress?.lastProblem ?? archive.lastFailure}`);
    if (status.windows.length === 0) console.log('  no recoverable window yet: it opens with the first snapshot the archive continues');
    else
      console.log(
        formatTable(
          ['FROM', 'TO'],
          status.windows.map((w) => [w.from, w.to]),
        ),
      );
    if (status.gaps.length > 0) {
      console.log('gaps (no restore crosses them):');
      console.log(
        formatTable(
          ['AFTER', 'BEFORE', 'MISSING'],
          status.gaps.map((g) => [g.after, g.before, g.missing]),
        ),
      );
    }
  } finally {
    await client.close();
  }
}
