import { resourceNameSchema } from '../../domain/names';
import { loadResourceFiles } from '../../domain/resource-files';
import { flagValue, parseCommandLine, requireFlag, temporalFlags } from './cli-arguments';
import { UsageError } from './cli-errors';
import { configurationFlags, connectClient, resolveConfigurationFlag, resourceFiles } from './client-connection';
import { formatBytes, formatTable, printJson } from './output';

/** `dbkeep prune -f FILE... NAME [--dry-run] [--json]`: the configuration's retention policy, now. */
export async function pruneCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv, {
    ...configurationFlags,
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const resolved = await resolveConfigurationFlag(values, values.config ?? positionals[0]);
  const name = resolved.configuration.name;
  const client = await connectClient(values);
  try {
    const result = await client.prune(resolved, { dryRun: values['dry-run'] || undefined });
    if (values.json) return printJson(result);
    const verb = result.dryRun ? 'would remove' : 'removed';
    for (const kept of result.kept) console.log(`keep    ${kept.snapshotId}  ${kept.reasons.join(', ')}`);
    for (const removed of result.removed) console.log(`${result.dryRun ? 'remove?' : 'removed'} ${removed.snapshotId}  ${removed.reason}`);
    for (const folder of result.abandoned)
      console.log(`${result.dryRun ? 'remove?' : 'removed'} ${folder}  abandoned: no manifest, untouched for a day`);
    if (result.binlogFilesRemoved > 0)
      console.log(`${verb} ${result.binlogFilesRemoved} archived binary log file(s) no kept snapshot needs`);
    console.log(
      `${name}: kept ${result.keptCount}, ${verb} ${result.removedCount}; ${result.snapshotCount} snapshot(s), ` +
        `${formatBytes(result.storedBytes)} stored${result.dryRun ? ' (dry run: nothing deleted)' : ''}`,
    );
  } finally {
    await client.close();
  }
}

/** `dbkeep import -f FILE... --config NAME [--json]`: external dumps under the configuration's prefix become snapshots. */
export async function importCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, { ...configurationFlags, json: { type: 'boolean', default: false } });
  const resolved = await resolveConfigurationFlag(values);
  const client = await connectClient(values);
  try {
    const result = await client.importDumps(resolved);
    if (values.json) return printJson(result);
    for (const imported of result.imported)
      console.log(`imported ${imported.file} as snapshot ${imported.snapshotId} (${imported.databases.join(', ')})`);
    for (const skipped of result.skipped) console.log(`skipped  ${skipped.file}: ${skipped.reason}`);
    if (result.imported.length + result.skipped.length === 0)
      console.log(
        `no backup.<time>.sql[.gz|.bz2|.zst] files under ${resolved.configuration.name}/ in repository ${resolved.repository.name}`,
      );
  } finally {
    await client.close();
  }
}

/** `dbkeep repo status -f FILE... --repository NAME [--json]`: derived from manifests. */
export async function repoCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action !== 'status') throw new UsageError('usage: dbkeep repo status -f FILE... --repository NAME [--json]');
  const { values } = parseCommandLine(rest, {
    ...temporalFlags,
    file: { type: 'string', short: 'f', multiple: true },
    repository: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const name = flagValue('repository', resourceNameSchema, requireFlag('repository', values.repository));
  const set = await loadResourceFiles(resourceFiles(values));
  const repository = set.repositories.get(name);
  if (!repository) throw new UsageError(`--repository: no Repository named "${name}" in the given files`);
  const client = await connectClient(values);
  try {
    const status = await client.repositoryStatus(repository);
    if (values.json) return printJson(status);
    console.log(
      `repository ${status.repository} (${status.location}): ${status.snapshotCount} snapshot(s), ${formatBytes(status.storedBytes)}`,
    );
    if (status.damaged > 0) console.log(`  ${status.damaged} damaged snapshot(s) not counted; see dbkeep snapshots`);
    if (status.entries.length === 0) return;
    console.log(
      formatTable(
        ['CONFIGURATION', 'TARGET', 'SNAPSHOTS', 'SIZE', 'FIRST BACKUP', 'LAST BACKUP'],
        status.entries.map((e) => [
          e.configuration,
          e.target,
          String(e.snapshotCount),
          formatBytes(e.storedBytes),
          e.firstBackupAt,
          e.lastBackupAt,
        ]),
      ),
    );
  } finally {
    await client.close();
  }
}
