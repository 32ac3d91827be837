import { z } from 'zod';
import { snapshotIdSchema, resourceNameSchema } from '../../domain/names';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { loadResourceFiles } from '../../domain/resource-files';
import type { SnapshotSelector } from '../../domain/snapshot-selection';
import { DbkeepClient } from '../dbkeep-client';
import { resolveTemporalSettings } from '../temporal-settings';
import { flagValue, parseCommandLine, requireFlag, temporalFlags } from './cli-arguments';
import { UsageError } from './cli-errors';
import { formatBytes, formatTable, printJson } from './output';
import { describeProgress, waitShowingProgress } from './session-progress';

const progressLine = (line: string) => process.stderr.write(`  ${line}\n`);

async function connect(values: { address?: string; namespace?: string; 'task-queue'?: string }): Promise<DbkeepClient> {
  const settings = resolveTemporalSettings({
    address: values.address,
    namespace: values.namespace,
    taskQueue: values['task-queue'],
  });
  return DbkeepClient.connect(settings);
}

function resourceFiles(values: { file?: string[] }): string[] {
  if (!values.file || values.file.length === 0) throw new UsageError('-f/--file is required (resource YAML files)');
  return values.file;
}

/** `dbkeep backup -f FILE... --config NAME [--wait] [--json]` */
export async function backupCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...temporalFlags,
    file: { type: 'string', short: 'f', multiple: true },
    config: { type: 'string' },
    wait: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const name = flagValue('config', resourceNameSchema, requireFlag('config', values.config));
  const resolved = resolveBackupConfiguration(await loadResourceFiles(resourceFiles(values)), name);
  const client = await connect(values);
  try {
    const handle = await client.startBackup(resolved);
    if (!values.wait) {
      if (values.json) printJson({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
      else console.log(`started ${handle.workflowId}\nfollow it with: dbkeep status ${handle.workflowId}`);
      return;
    }
    if (!values.json) process.stderr.write(`backup session ${handle.workflowId} started\n`);
    const result = await waitShowingProgress(
      handle.result(),
      () => client.describeSession(handle.workflowId),
      values.json ? () => undefined : progressLine,
    );
    if (values.json) printJson({ workflowId: handle.workflowId, ...result });
    else {
      console.log(
        `snapshot ${result.snapshotId} committed to repository ${result.repository}: ` +
          `${result.databases.length} database(s), ${formatBytes(result.storedBytes)} stored (${formatBytes(result.rawBytes)} of SQL)`,
      );
    }
  } finally {
    await client.close();
  }
}

/** `dbkeep snapshots -f FILE... --config NAME [--limit N] [--json]` */
export async function snapshotsCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...temporalFlags,
    file: { type: 'string', short: 'f', multiple: true },
    config: { type: 'string' },
    limit: { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
  });
  const name = flagValue('config', resourceNameSchema, requireFlag('config', values.config));
  const limit = flagValue('limit', z.coerce.number().int().min(1).max(1000), values.limit);
  const { configuration, repository } = resolveBackupConfiguration(await loadResourceFiles(resourceFiles(values)), name);
  const client = await connect(values);
  try {
    const listed = await client.listSnapshots(repository, configuration.name, limit);
    for (const problem of listed.problems) {
      process.stderr.write(`dbkeep: skipped damaged snapshot ${problem.snapshotId}: ${problem.reason}\n`);
    }
    if (values.json) return printJson(listed);
    if (listed.snapshots.length === 0) {
      console.log(`no snapshots of ${configuration.name} in repository ${repository.name}`);
      return;
    }
    console.log(
      formatTable(
        ['SNAPSHOT', 'STARTED', 'TARGET', 'DATABASES', 'STORED', 'SQL'],
        listed.snapshots.map((s) => [
          s.snapshotId,
          s.startedAt,
          s.target,
          s.databases.join(','),
          formatBytes(s.storedBytes),
          formatBytes(s.rawBytes),
        ]),
      ),
    );
  } finally {
    await client.close();
  }
}

/** `dbkeep restore -f FILE... --config NAME --to TARGET [--snapshot ID | --at TIME] [--overwrite] [--wait] [--json]` */
export async function restoreCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...temporalFlags,
    file: { type: 'string', short: 'f', multiple: true },
    config: { type: 'string' },
    to: { type: 'string' },
    snapshot: { type: 'string' },
    at: { type: 'string' },
    overwrite: { type: 'boolean', default: false },
    wait: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const name = flagValue('config', resourceNameSchema, requireFlag('config', values.config));
  const targetName = flagValue('to', resourceNameSchema, requireFlag('to', values.to));
  if (values.snapshot !== undefined && values.at !== undefined) throw new UsageError('--snapshot and --at are mutually exclusive');
  const selector: SnapshotSelector =
    values.snapshot !== undefined
      ? { snapshotId: flagValue('snapshot', snapshotIdSchema, values.snapshot) }
      : {
          targetRecoveryTime:
            values.at === undefined
              ? undefined
              : flagValue('at', z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time, e.g. 2026-11-21T16:00:00Z' }), values.at),
        };
  const resources = await loadResourceFiles(resourceFiles(values));
  const { configuration, repository } = resolveBackupConfiguration(resources, name);
  const target = resolveTarget(resources, targetName);
  const client = await connect(values);
  try {
    const handle = await client.startRestore({
      repository,
      configuration: configuration.name,
      target,
      selector,
      overwrite: values.overwrite,
    });
    if (!values.wait) {
      if (values.json) printJson({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
      else console.log(`started ${handle.workflowId}\nfollow it with: dbkeep status ${handle.workflowId}`);
      return;
    }
    if (!values.json) process.stderr.write(`restore session ${handle.workflowId} started\n`);
    const result = await waitShowingProgress(
      handle.result(),
      () => client.describeSession(handle.workflowId),
      values.json ? () => undefined : progressLine,
    );
    if (values.json) printJson({ workflowId: handle.workflowId, ...result });
    else {
      console.log(
        `snapshot ${result.snapshotId} restored into ${result.target}: ${result.databases.join(', ')} (${formatBytes(result.rawBytes)} of SQL applied)`,
      );
    }
  } finally {
    await client.close();
  }
}

/** `dbkeep status SESSION [--json]`: the status query of a backup or restore session, with live progress. */
export async function statusCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv, { ...temporalFlags, json: { type: 'boolean', default: false } });
  const [workflowId, ...extra] = positionals;
  if (!workflowId || extra.length > 0) throw new UsageError('usage: dbkeep status SESSION (a workflow id such as backup/NAME/SNAPSHOT-ID)');
  const client = await connect(values);
  try {
    const view = await client.describeSession(workflowId);
    if (values.json) return printJson(view);
    const { status } = view;
    console.log(`${workflowId}: ${status?.phase ?? view.runStatus} (${view.runStatus.toLowerCase()})`);
    if (status?.snapshotId) console.log(`  snapshot: ${status.snapshotId}`);
    if (status?.storedBytes !== undefined) console.log(`  stored:   ${formatBytes(status.storedBytes)}`);
    if (status?.rawBytes !== undefined) console.log(`  sql:      ${formatBytes(status.rawBytes)}`);
    for (const step of status?.steps ?? []) {
      const outcome = step.failed ? 'failed' : step.endedAt ? 'done' : 'running';
      console.log(`  step ${step.name}: ${outcome}, ${step.startedAt} → ${step.endedAt ?? '…'}`);
    }
    if (view.runStatus === 'RUNNING') console.log(`  now: ${describeProgress(view)}`);
    if (status?.error) console.log(`  error: ${status.error}`);
  } finally {
    await client.close();
  }
}
