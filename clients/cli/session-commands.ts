import { z } from 'zod';
import path from 'node:path';
import { resourceNameSchema, snapshotIdSchema } from '../../domain/names';
import { POD_ORDINAL_PLACEHOLDER } from '../../domain/session-ids';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { loadResourceFiles } from '../../domain/resource-files';
import { databaseNameSchema, restoreOptionsSchema } from '../../domain/resources';
import type { SnapshotSelector } from '../../domain/snapshot-selection';
import { pointInTimeTargetSchema, type PointInTimeTarget } from '../../domain/point-in-time-target';
import { accessModesSchema, storageQuantitySchema, volumeClaimTemplateSchema } from '../../domain/volume-claim-template';
import type { ReplayOutcome } from '../../activities/point-in-time-activities';
import type { DbkeepClient, SessionView, StartRestoreOptions, StartVolumeRestoreOptions } from '../dbkeep-client';
import { configurationFlags, connectClient, resolveConfigurationFlag, resourceFiles } from './client-connection';
import { flagValue, parseCommandLine, requireFlag, temporalFlags } from './cli-arguments';
import { ExitCode, UsageError } from './cli-errors';
import { formatBytes, formatTable, printJson } from './output';
import { describeProgress, waitShowingProgress } from './session-progress';

const progressLine = (line: string) => process.stderr.write(`  ${line}\n`);

/**
 * After a session started: without --wait, say how to follow it and return undefined; with
 * --wait, show its progress on stderr (unless --json) and return its result.
 */
async function followSession<R>(
  client: DbkeepClient,
  handle: { workflowId: string; firstExecutionRunId: string; result(): Promise<R> },
  kind: 'backup' | 'restore' | 'bootstrap',
  values: { wait?: boolean; json?: boolean },
): Promise<R | undefined> {
  if (!values.wait) {
    if (values.json) printJson({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
    else console.log(`started ${handle.workflowId}\nfollow it with: dbkeep status ${handle.workflowId} --watch`);
    return undefined;
  }
  if (!values.json) process.stderr.write(`${kind} session ${handle.workflowId} started\n`);
  return waitShowingProgress(
    handle.result(),
    () => client.describeSession(handle.workflowId),
    values.json ? () => undefined : progressLine,
  );
}

/** `dbkeep backup -f FILE... --config NAME [--wait] [--json]` */
export async function backupCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...configurationFlags,
    wait: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const resolved = await resolveConfigurationFlag(values);
  const client = await connectClient(values);
  try {
    const handle = await client.backupNow(resolved);
    const result = await followSession(client, handle, 'backup', values);
    if (!result) return;
    if (values.json) printJson({ workflowId: handle.workflowId, ...result });
    else if (result.outcome === 'skipped') {
      console.log(`skipped: backup session ${result.runningSession} of ${result.configuration} was already running`);
    } else {
      console.log(
        `snapshot ${result.snapshotId} committed to repository ${result.repository}: ` +
          `${result.databases.length} database(s), ${formatBytes(result.storedBytes)} stored (${formatBytes(result.rawBytes)} of SQL)` +
          (result.removedSnapshots.length > 0 ? `; retention removed ${result.removedSnapshots.length} snapshot(s)` : ''),
      );
    }
    if (result.outcome === 'skipped') process.exitCode = ExitCode.failed;
  } finally {
    await client.close();
  }
}

/** `dbkeep snapshots -f FILE... --config NAME [--limit N] [--json]` */
export async function snapshotsCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...configurationFlags,
    limit: { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
  });
  const limit = flagValue('limit', z.coerce.number().int().min(1).max(1000), values.limit);
  const { configuration, repository } = await resolveConfigurationFlag(values);
  const client = await connectClient(values);
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
        ['SNAPSHOT', 'STARTED', 'TARGET', 'DATABASES', 'STORED', 'SQL', 'VERIFIED'],
        listed.snapshots.map((s) => [
          s.snapshotId,
          s.startedAt,
          s.target,
          s.databases.join(','),
          formatBytes(s.storedBytes),
          formatBytes(s.rawBytes),
          s.lastVerification
            ? `${s.lastVerification.passed ? 'passed' : 'FAILED'} ${s.lastVerification.verifiedAt} (restore ${s.lastVerification.restoreSeconds.toFixed(1)} s)`
            : '-',
        ]),
      ),
    );
  } finally {
    await client.close();
  }
}

/** The flags that say what to restore where; `dbkeep input restore` takes the same. */
export const restoreFlags = {
  ...temporalFlags,
  file: { type: 'string', short: 'f', multiple: true },
  config: { type: 'string' },
  to: { type: 'string' },
  snapshot: { type: 'string' },
  at: { type: 'string' },
  'to-gtid': { type: 'string' },
  latest: { type: 'boolean', default: false },
  overwrite: { type: 'boolean', default: false },
  database: { type: 'string' },
  arg: { type: 'string', multiple: true },
  parallel: { type: 'string' },
} as const;

function selectorFrom(values: { snapshot?: string; at?: string }): SnapshotSelector {
  if (values.snapshot !== undefined && values.at !== undefined) throw new UsageError('--snapshot and --at are mutually exclusive');
  if (values.snapshot !== undefined) return { snapshotId: flagValue('snapshot', snapshotIdSchema, values.snapshot) };
  return {
    targetRecoveryTime:
      values.at === undefined
        ? undefined
        : flagValue('at', z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time, e.g. 2026-11-21T16:00:00Z' }), values.at),
  };
}

/**
 * With point-in-time recovery on, `--at` is a point in time the archived binary log is replayed
 * to; `--to-gtid` (just before that transaction) and `--latest` need it. Without it `--at`
 * chooses the newest snapshot at or before the time, as it always has.
 */
function pointInTimeFrom(
  values: { snapshot?: string; at?: string; 'to-gtid'?: string; latest?: boolean },
  pitrEnabled: boolean,
): PointInTimeTarget | undefined {
  const asked = [values.at !== undefined && pitrEnabled, values['to-gtid'] !== undefined, values.latest === true].filter(Boolean).length;
  if (asked === 0) return undefined;
  if (!pitrEnabled) throw new UsageError('--to-gtid and --latest need spec.pointInTimeRecovery enabled on the configuration');
  if (asked > 1 || values.snapshot !== undefined) throw new UsageError('--snapshot, --at, --to-gtid and --latest are mutually exclusive');
  if (values.latest) return { latest: true };
  if (values['to-gtid'] !== undefined) return flagValue('to-gtid', pointInTimeTargetSchema, { beforeGtid: values['to-gtid'] });
  return flagValue('at', pointInTimeTargetSchema, { at: values.at });
}

export async function restoreRequestFrom(values: {
  file?: string[];
  config?: string;
  to?: string;
  snapshot?: string;
  at?: string;
  'to-gtid'?: string;
  latest?: boolean;
  overwrite?: boolean;
  database?: string;
  arg?: string[];
  parallel?: string;
}): Promise<StartRestoreOptions> {
  const name = flagValue('config', resourceNameSchema, requireFlag('config', values.config));
  const targetName = flagValue('to', resourceNameSchema, requireFlag('to', values.to));
  const resources = await loadResourceFiles(resourceFiles(values));
  const { configuration, repository } = resolveBackupConfiguration(resources, name);
  const pointInTime = pointInTimeFrom(values, configuration.spec.pointInTimeRecovery?.enabled ?? false);
  const selector = pointInTime ? {} : selectorFrom(values);
  return {
    repository,
    configuration: configuration.name,
    target: resolveTarget(resources, targetName),
    selector,
    ...(pointInTime ? { pointInTime } : {}),
    overwrite: values.overwrite ?? false,
    identity: configuration.spec.encryption?.age.identity,
    database: values.database === undefined ? undefined : flagValue('database', databaseNameSchema, values.database),
    args: values.arg === undefined ? undefined : flagValue('arg', restoreOptionsSchema.shape.args.unwrap(), values.arg),
    parallel:
      values.parallel === undefined
        ? undefined
        : flagValue('parallel', z.coerce.number().pipe(restoreOptionsSchema.shape.parallel.unwrap()), values.parallel),
  };
}

/**
 * `dbkeep restore -f FILE... --config NAME --to TARGET [--snapshot ID | --at TIME] [--overwrite] [--parallel N] [--wait] [--json]`,
 * or, for a physical snapshot, `--replicas N --volume-dir DIR` (directories on the worker) or
 * `--replicas N --volume-claim NAME [--storage-class C] [--storage-size S] [--access-modes M,...]`
 * (a PVC each, on Kubernetes) instead of `--to`.
 */
export async function restoreCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...restoreFlags,
    replicas: { type: 'string' },
    'volume-dir': { type: 'string' },
    'volume-claim': { type: 'string' },
    'storage-class': { type: 'string' },
    'storage-size': { type: 'string' },
    'access-modes': { type: 'string' },
    wait: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  if (values.replicas !== undefined || values['volume-dir'] !== undefined || values['volume-claim'] !== undefined)
    return restoreIntoVolumes(values);
  const request = await restoreRequestFrom(values);
  const client = await connectClient(values);
  try {
    const handle = await client.restore(request);
    const result = await followSession(client, handle, 'restore', values);
    if (!result) return;
    if (values.json) printJson({ workflowId: handle.workflowId, ...result });
    else {
      console.log(
        `snapshot ${result.snapshotId} restored into ${result.target}: ${result.databases.join(', ')} (${formatBytes(result.rawBytes)} of SQL applied)`,
      );
      if (result.replayed) console.log(describeReplay(result.replayed));
    }
  } finally {
    await client.close();
  }
}

/** `dbkeep status SESSION [--watch] [--json]`: the status query of a session, with live progress. */
export async function statusCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv, {
    ...temporalFlags,
    watch: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const [workflowId, ...extra] = positionals;
  if (!workflowId || extra.length > 0) {
    throw new UsageError('usage: dbkeep status SESSION [--watch] (a workflow id such as backup/NAME/SNAPSHOT-ID)');
  }
  const client = await connectClient(values);
  try {
    let view = await client.describeSession(workflowId);
    if (values.watch) {
      // One progress line whenever it changes, then the final status once the session closed.
      let last = '';
      while (view.runStatus === 'RUNNING') {
        const line = describeProgress(view);
        if (line !== last && !values.json) process.stderr.write(`  ${(last = line)}\n`);
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        view = await client.describeSession(workflowId);
      }
    }
    if (values.json) return printJson(view);
    printSessionView(view);
  } finally {
    await client.close();
  }
}

function printSessionView(view: SessionView): void {
  const { status } = view;
  console.log(`${view.workflowId}: ${status?.phase ?? view.runStatus} (${view.runStatus.toLowerCase()})`);
  if (status?.snapshotId) console.log(`  snapshot: ${status.snapshotId}`);
  if (status?.storedBytes !== undefined) console.log(`  stored:   ${formatBytes(status.storedBytes)}`);
  if (status?.rawBytes !== undefined) console.log(`  sql:      ${formatBytes(status.rawBytes)}`);
  for (const step of status?.steps ?? []) {
    const outcome = step.failed ? 'failed' : step.endedAt ? 'done' : 'running';
    console.log(`  step ${step.name}: ${outcome}, ${step.startedAt} → ${step.endedAt ?? '…'}`);
  }
  if (view.runStatus === 'RUNNING') console.log(`  now: ${describeProgress(view)}`);
  if (status?.skippedFor) console.log(`  skipped: ${status.skippedFor} was running`);
  if (status?.warning) console.log(`  warning: ${status.warning}`);
  if (status?.error) console.log(`  error: ${status.error}`);
}

/** `dbkeep sessions NAME [--limit N] [--json]`: recent backup, restore and prune sessions of a configuration. */
export async function sessionsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv, {
    ...temporalFlags,
    limit: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  });
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new UsageError('usage: dbkeep sessions NAME [--limit N] [--json]');
  const configuration = flagValue('NAME', resourceNameSchema, name);
  const limit = flagValue('limit', z.coerce.number().int().min(1).max(1000), values.limit);
  const client = await connectClient(values);
  try {
    const sessions = await client.listSessions(configuration, limit);
    if (values.json) return printJson(sessions);
    if (sessions.length === 0) return console.log(`no sessions of ${configuration}`);
    console.log(
      formatTable(
        ['STARTED', 'KIND', 'PHASE', 'DURATION', 'SIZE', 'SNAPSHOT', 'SESSION'],
        sessions.map((s) => [
          s.startedAt,
          s.kind,
          s.phase,
          s.durationSeconds === undefined ? 'running' : `${s.durationSeconds.toFixed(1)}s`,
          formatBytes(s.sizeBytes),
          s.snapshotId ?? '-',
          s.workflowId,
        ]),
      ),
    );
  } finally {
    await client.close();
  }
}

interface ReplicaVolumeFlags {
  'volume-dir'?: string;
  'volume-claim'?: string;
  'storage-class'?: string;
  'storage-size'?: string;
  'access-modes'?: string;
}

/** `--volume-dir DIR` (directories on the worker's host) or `--volume-claim NAME` and its storage flags (a PVC per replica). */
function replicaVolumesFrom(
  values: ReplicaVolumeFlags,
  replicas: number,
): Pick<StartVolumeRestoreOptions, 'volumeTemplate' | 'volumeClaimTemplate'> {
  const directory = values['volume-dir'];
  const claim = values['volume-claim'];
  if ((directory === undefined) === (claim === undefined)) {
    throw new UsageError(
      'give exactly one of --volume-dir DIR (directories on the worker) or --volume-claim NAME (a PVC per replica, on Kubernetes)',
    );
  }
  const [flag, template, example] =
    claim !== undefined ? ['volume-claim', claim, 'data-galera-'] : ['volume-dir', directory!, '/data/replica-'];
  if (replicas > 1 && !template.includes(POD_ORDINAL_PLACEHOLDER)) {
    throw new UsageError(
      `--${flag}: with --replicas ${replicas} it must contain ${POD_ORDINAL_PLACEHOLDER} (e.g. ${example}${POD_ORDINAL_PLACEHOLDER})`,
    );
  }
  const { 'storage-class': storageClass, 'storage-size': size, 'access-modes': accessModes } = values;
  if (claim === undefined) {
    if (storageClass !== undefined || size !== undefined || accessModes !== undefined) {
      throw new UsageError('--storage-class, --storage-size and --access-modes describe PVCs: use them with --volume-claim');
    }
    return {
      volumeTemplate: flagValue(
        'volume-dir',
        z.string().refine((p) => path.isAbsolute(p), 'must be an absolute directory path'),
        directory,
      ),
    };
  }
  return {
    volumeClaimTemplate: {
      name: flagValue('volume-claim', volumeClaimTemplateSchema.shape.name, claim),
      storageClassName:
        storageClass === undefined ? undefined : flagValue('storage-class', volumeClaimTemplateSchema.shape.storageClassName, storageClass),
      size: size === undefined ? undefined : flagValue('storage-size', storageQuantitySchema, size),
      accessModes:
        accessModes === undefined
          ? undefined
          : flagValue(
              'access-modes',
              accessModesSchema,
              accessModes.split(',').map((mode) => mode.trim()),
            ),
    },
  };
}

/** A physical snapshot into N volumes (directories or PVCs), one replica worker each. */
async function restoreIntoVolumes(
  values: {
    file?: string[];
    config?: string;
    to?: string;
    snapshot?: string;
    at?: string;
    'to-gtid'?: string;
    latest?: boolean;
    overwrite?: boolean;
    replicas?: string;
    database?: string;
    arg?: string[];
    parallel?: string;
    wait?: boolean;
    json?: boolean;
    address?: string;
    namespace?: string;
    'task-queue'?: string;
  } & ReplicaVolumeFlags,
): Promise<void> {
  if (values.to !== undefined)
    throw new UsageError(
      '--to restores into a running server; --replicas with --volume-dir or --volume-claim restores into volumes: use one or the other',
    );
  if (values.database !== undefined || values.arg !== undefined || values.parallel !== undefined) {
    throw new UsageError('--database, --arg and --parallel apply to logical restores (--to TARGET)');
  }
  const name = flagValue('config', resourceNameSchema, requireFlag('config', values.config));
  const replicas = flagValue('replicas', z.coerce.number().int().min(1).max(64), values.replicas ?? '1');
  const volumes = replicaVolumesFrom(values, replicas);
  const { configuration, repository } = resolveBackupConfiguration(await loadResourceFiles(resourceFiles(values)), name);
  const pointInTime = pointInTimeFrom(values, configuration.spec.pointInTimeRecovery?.enabled ?? false);
  const client = await connectClient(values);
  try {
    const handle = await client.restoreIntoVolumes({
      repository,
      configuration: configuration.name,
      selector: pointInTime ? {} : selectorFrom(values),
      ...(pointInTime ? { pointInTime } : {}),
      replicas,
      ...volumes,
      overwrite: values.overwrite,
      identity: configuration.spec.encryption?.age.identity,
    });
    const result = await followSession(client, handle, 'restore', values);
    if (!result) return;
    if (values.json) return printJson({ workflowId: handle.workflowId, ...result });
    console.log(`snapshot ${result.snapshotId} restored into ${result.replicas.length} volume(s):`);
    for (const replica of result.replicas) {
      console.log(
        `  replica ${replica.ordinal}: ${replica.volume}, ${formatBytes(replica.bytesOnVolume)}, ${replica.durationSeconds.toFixed(1)}s`,
      );
      if (replica.replayed) console.log(`    ${describeReplay(replica.replayed)}; its data is at GTID ${replica.replayed.reachedGtids}`);
    }
  } finally {
    await client.close();
  }
}

/** The line after a point-in-time restore's: how much of the archived binary log was replayed, up to where. */
function describeReplay(replayed: ReplayOutcome): string {
  return (
    `then ${replayed.transactions} transaction(s) of the archived binary log replayed` +
    (replayed.lastAppliedAt ? `, up to ${replayed.lastAppliedAt} (${replayed.lastAppliedGtid})` : '')
  );
}

/** `dbkeep bootstrap -f FILE... --target NAME [--wait-seconds N] [--wait] [--json]`: the target's bootstrapFrom. */
export async function bootstrapCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...temporalFlags,
    file: { type: 'string', short: 'f', multiple: true },
    target: { type: 'string' },
    'wait-seconds': { type: 'string', default: '600' },
    wait: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const targetName = flagValue('target', resourceNameSchema, requireFlag('target', values.target));
  const waitSeconds = flagValue('wait-seconds', z.coerce.number().int().min(0).max(86_400), values['wait-seconds']);
  const set = await loadResourceFiles(resourceFiles(values));
  const client = await connectClient(values);
  try {
    const handle = await client.bootstrap(set, targetName, { waitSeconds });
    const result = await followSession(client, handle, 'bootstrap', values);
    if (!result) return;
    if (values.json) return printJson({ workflowId: handle.workflowId, ...result });
    console.log(`${result.target} bootstrapped from ${result.method} snapshot ${result.snapshotId}`);
    if (result.replayed) console.log(describeReplay(result.replayed));
  } finally {
    await client.close();
  }
}
