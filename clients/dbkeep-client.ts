import { randomBytes } from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { ImportDumpsResult } from '../activities/import-activities';
import type { RepositoryStatus } from '../activities/repository-status';
import type { ListSnapshotsResult } from '../activities/restore-activities';
import type { ApplyRetentionResult } from '../activities/retention-activities';
import type { ArchiveProgress } from '../activities/binlog-archive-activities';
import type { ArchiveGap } from '../domain/recoverable-window';
import type { PointInTimeTarget } from '../domain/point-in-time-target';
import { resourceNameSchema, snapshotIdSchema } from '../domain/names';
import type { Progress } from '../domain/progress';
import {
  backupWorkflowId,
  binlogArchiveWorkflowId,
  bootstrapWorkflowId,
  DEFAULT_TASK_QUEUE,
  drillWorkflowId,
  pruneWorkflowId,
  repositoryQueryWorkflowId,
  restoreWorkflowId,
  volumeRestoreWorkflowId,
} from '../domain/session-ids';
import { repositorySpecSchema, type Named, type RepositorySpec, type TargetSpec } from '../domain/resources';
import { formatZodIssues, ResourceValidationError, type ResolvedBackupConfiguration, type ResourceSet } from '../domain/resource-set';
import {
  parseBackupSessionInput,
  parseBootstrapSessionInput,
  parsePruneSessionInput,
  parseRestoreSessionInput,
  parseVolumeRestoreSessionInput,
} from '../domain/session-inputs';
import { formatSnapshotId } from '../domain/snapshot-id';
import { scratchPlacementInput } from '../domain/scratch-placement';
import type { SecretRef } from '../domain/secret-ref';
import type { SnapshotSelector } from '../domain/snapshot-selection';
import type { VolumeClaimTemplate } from '../domain/volume-claim-template';
import { configurationSessionsQuery, identitySearchAttributes, runningBackupSessionsQuery } from '../domain/search-attributes';
import { searchAttributePairs, searchAttributes } from '../workflows/search-attributes';
import type {
  backupSession,
  bootstrapSession,
  importDumpsWorkflow,
  listSnapshotsWorkflow,
  pruneSession,
  recoverableWindowWorkflow,
  repositoryStatusWorkflow,
  restoreDrill,
  restoreSession,
  volumeRestoreSession,
} from '../workflows';
import { statusQuery, type SessionKind, type SessionStatus } from '../workflows/session-status';
import {
  applyBackupSchedules,
  deleteBackupSchedule,
  listBackupSchedules,
  listDbkeepSchedules,
  requireBackupSchedule,
  triggerBackupSchedule,
  type ApplyOutcome,
  type ScheduleListing,
} from './backup-schedules';
import { applyDrillSchedules, deleteDrillSchedule } from './drill-schedules';
import { applyStaleWatch, endStaleWatch } from './stale-watches';
import { applyBinlogArchive, stopBinlogArchive, type ArchiveOutcome } from './binlog-archives';
import { listRunningConfigurationWorkflows } from './running-configuration-workflows';

export interface ConnectOptions {
  /** host:port; defaults to TEMPORAL_ADDRESS, then 127.0.0.1:7233, as the temporal CLI does. */
  address?: string;
  /** Defaults to TEMPORAL_NAMESPACE, then "default". */
  namespace?: string;
  taskQueue?: string;
  /** Encrypts payloads; must match the worker's keyring (secrets/payload-codec.ts). */
  payloadCodec?: PayloadCodec;
}

export interface StartRestoreOptions {
  repository: Named<RepositorySpec>;
  configuration: string;
  target: Named<TargetSpec>;
  selector: SnapshotSelector;
  overwrite?: boolean;
  /** The configuration's age identity, for encrypted snapshots. */
  identity?: SecretRef;
  /** Restore one database out of the snapshot; it is dropped and recreated on the target. */
  database?: string;
  /** Extra options for the mariadb client. */
  args?: string[];
  /** Client sessions applying tables at once (restoreOptionsSchema); 1 or omitted: serial. */
  parallel?: number;
  /** Restore to this point with the archived binary log; `selector` is then left empty (`{}`). */
  pointInTime?: PointInTimeTarget;
}

export interface StartVolumeRestoreOptions {
  repository: Named<RepositorySpec>;
  configuration: string;
  selector: SnapshotSelector;
  replicas: number;
  /** A directory per replica on the worker's host; `${POD_ORDINAL}` becomes 0, 1, 2… */
  volumeTemplate?: string;
  /** Instead, on Kubernetes: a PVC per replica (Stash's volumeClaimTemplate); the worker's settings fill what it leaves out. */
  volumeClaimTemplate?: VolumeClaimTemplate;
  overwrite?: boolean;
  identity?: SecretRef;
  /** Replay the archived binary log into each volume up to this point; `selector` then stays empty. */
  pointInTime?: PointInTimeTarget;
}

/** `dbkeep pitr status --json`: `windows`, `lagSeconds` and `gaps` are the documented shape; the rest adds detail. */
export interface PointInTimeStatus {
  /** Times a restore can reach, oldest first: a snapshot's consistent point to the last archived event, split at gaps. */
  windows: Array<{ from: string; to: string }>;
  /** How far the archive trails the source: since it last had everything stored. Null when nothing is archived yet. */
  lagSeconds: number | null;
  gaps: ArchiveGap[];
  archive: { enabled: boolean; running: boolean; progress?: ArchiveProgress; lastFailure?: string };
  lastArchivedEventAt?: string;
  pieces: number;
  archivedBytes: number;
  problems: Array<{ key: string; reason: string }>;
}

/** The Temporal frontend did not answer at all; distinct from a session that failed. */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(
    readonly address: string,
    cause: unknown,
  ) {
    super(`cannot reach Temporal at ${address}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** A one-off backup asked for while a session of the same configuration runs: refused, never run in parallel. */
export class SessionConflictError extends Error {
  override readonly name = 'SessionConflictError';
  constructor(
    readonly configuration: string,
    readonly runningSession: string,
  ) {
    super(
      `refused: backup session ${runningSession} of "${configuration}" is running; ` +
        `wait for it (dbkeep status ${runningSession}) or cancel it, then try again`,
    );
  }
}

/** One session as a user sees it: Temporal's run status, dbkeep's status query, and live progress. */
export interface SessionView {
  workflowId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT... */
  runStatus: string;
  status?: SessionStatus;
  /** The activity running now, with the progress it last heartbeated. */
  activity?: { name: string; attempt: number; progress?: Progress; lastFailure?: string };
}

/** A session in `dbkeep sessions`: read from visibility (search attributes), no query per session. */
export interface SessionSummary {
  workflowId: string;
  kind: SessionKind;
  phase: string;
  startedAt: string;
  durationSeconds?: number;
  sizeBytes?: number;
  snapshotId?: string;
}

/**
 * What a caller hands the client is checked here, before anything is sent: a workflow re-checks
 * its input only once it runs, and names reach workflow ids, search attributes and visibility
 * queries (quoted literals) on the way. The error names the method and the field.
 */
function checkInput<S extends z.ZodType>(method: string, schema: S, input: unknown, field?: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ResourceValidationError(`${method}: ${formatZodIssues(parsed.error.issues, field)}`);
  return parsed.data;
}

/** A session's input, parsed by its kind's parse function (domain/session-inputs.ts); the error names the method and the field. */
function parseSessionInput<T>(method: string, parse: (input: unknown) => T, input: unknown): T {
  try {
    return parse(input);
  } catch (error) {
    if (error instanceof ResourceValidationError) throw new ResourceValidationError(`${method}: ${error.message}`);
    throw error;
  }
}

const repositorySchema = z.strictObject({ name: resourceNameSchema, spec: repositorySpecSchema });

const bootstrapInputSchema = z.strictObject({
  targetName: resourceNameSchema,
  // The bound of `dbkeep bootstrap --wait-seconds`.
  options: z.strictObject({ waitSeconds: z.number().int().min(0).max(86_400).optional() }),
});

/** The bound of `dbkeep snapshots --limit` and `dbkeep sessions --limit`. */
const listLimitSchema = z.number().int().min(1).max(1000);
const snapshotListingInputSchema = z.strictObject({
  repository: repositorySchema,
  configuration: resourceNameSchema,
  limit: listLimitSchema,
});
const sessionListingInputSchema = z.strictObject({ configuration: resourceNameSchema, limit: listLimitSchema });

const pruneOptionsSchema = z.strictObject({ dryRun: z.boolean().optional() });

/** Shown in the Temporal UI and in a cell of `dbkeep schedules`: one line of text. */
const scheduleNoteSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1000, 'must be at most 1000 characters')
  // eslint-disable-next-line no-control-regex
  .refine((note) => !/[\u0000-\u001f\u007f]/.test(note), 'must be one line without control characters');

const scheduleNoteInputSchema = z.strictObject({ configuration: resourceNameSchema, note: scheduleNoteSchema.optional() });

/**
 * A session's workflow id as domain/session-ids.ts spells them (backup/NAME/SNAPSHOT-ID, a
 * schedule's backup/NAME/scheduled-TIME, restore-volumes/NAME/ID); Temporal's own
 * limit on ids is 1000 bytes.
 */
const sessionWorkflowIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1000, 'must be at most 1000 characters')
  .regex(
    /^[A-Za-z0-9._:+-]+(\/[A-Za-z0-9._:+-]+)*$/,
    'must be "/"-separated segments of letters, digits, ".", "_", ":", "+" and "-", such as backup/NAME/SNAPSHOT-ID',
  )
  .refine((id) => id.split('/').every((segment) => segment !== '.' && segment !== '..'), 'must not have "." or ".." segments');

const newSessionId = (now = new Date()) => formatSnapshotId(now, randomBytes(3).toString('hex'));

/**
 * The typed TypeScript client: what the CLI uses, and what services embed to start and watch
 * sessions and manage schedules. Inputs carry resources with secret references only; values
 * stay on the worker.
 */
export class DbkeepClient {
  constructor(
    readonly temporal: Client,
    readonly taskQueue: string = DEFAULT_TASK_QUEUE,
  ) {}

  static async connect(options: ConnectOptions = {}): Promise<DbkeepClient> {
    const address = options.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
    const namespace = options.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default';
    const connection = await Connection.connect({ address }).catch((error: unknown) => {
      throw new TemporalUnreachableError(address, error);
    });
    const dataConverter = options.payloadCodec ? { payloadCodecs: [options.payloadCodec] } : undefined;
    return new DbkeepClient(new Client({ connection, namespace, dataConverter }), options.taskQueue);
  }

  async close(): Promise<void> {
    await this.temporal.connection.close();
  }

  /**
   * Creates, updates or deletes the schedule of every BackupConfiguration in the set, and starts,
   * restarts or stops its binary log archive (spec.pointInTimeRecovery).
   */
  async applyResources(
    set: ResourceSet,
  ): Promise<Array<{ configuration: string; outcome: ApplyOutcome; drillSchedule: ApplyOutcome; archive: ArchiveOutcome }>> {
    const configurations = [...set.backupConfigurations.values()].map((configuration) => ({
      configuration,
      target: set.targets.get(configuration.spec.target)!,
      repository: set.repositories.get(configuration.spec.repository)!,
    }));
    const schedules = await listDbkeepSchedules(this.temporal);
    const outcomes = await applyBackupSchedules(this.temporal, configurations, this.taskQueue, schedules);
    const drillOutcomes = await applyDrillSchedules(this.temporal, configurations, this.taskQueue, schedules);
    const running = await listRunningConfigurationWorkflows(this.temporal);
    const archiveOutcomes: ArchiveOutcome[] = [];
    for (const resolved of configurations) {
      archiveOutcomes.push(await applyBinlogArchive(this.temporal, resolved, this.taskQueue, running.archives));
      await applyStaleWatch(
        this.temporal,
        { configuration: resolved.configuration, repository: resolved.repository.name, target: resolved.target.name },
        running.staleWatches,
      );
    }
    return configurations.map(({ configuration }, i) => ({
      configuration: configuration.name,
      outcome: outcomes[i]!,
      drillSchedule: drillOutcomes[i]!,
      archive: archiveOutcomes[i]!,
    }));
  }

  /** Stops a configuration's binary log archive (its pieces stay); false when none was running. */
  async stopArchive(configuration: string): Promise<boolean> {
    checkInput('stopArchive', resourceNameSchema, configuration, 'configuration');
    return stopBinlogArchive(this.temporal, configuration);
  }

  /**
   * Starts a backup session now. Refused with SessionConflictError while another session of the
   * configuration runs (the session itself also checks, for sessions started elsewhere).
   */
  async backupNow(resolved: ResolvedBackupConfiguration): Promise<WorkflowHandleWithFirstExecutionRunId<typeof backupSession>> {
    const { configuration, target, repository } = parseSessionInput('backupNow', parseBackupSessionInput, resolved);
    const running = await this.runningBackupSession(configuration.name);
    if (running) throw new SessionConflictError(configuration.name, running);
    const snapshotId = newSessionId();
    return this.temporal.workflow.start<typeof backupSession>('backupSession', {
      taskQueue: this.taskQueue,
      workflowId: backupWorkflowId(configuration.name, snapshotId),
      args: [{ configuration, target, repository, snapshotId }],
      staticSummary: `Backup of ${target.name} (${configuration.name}) to repository ${repository.name}`,
      typedSearchAttributes: searchAttributePairs(
        identitySearchAttributes({ kind: 'backup', configuration: configuration.name, repository: repository.name, target: target.name }),
      ),
    });
  }

  /**
   * Starts a restore drill (`dbkeep verify`): the snapshot, or the configuration's newest one,
   * restored into a scratch server and compared with the fingerprint its backup recorded
   * (logical), or checked table by table and read row by row (physical).
   */
  async verify(
    resolved: ResolvedBackupConfiguration,
    options: { snapshotId?: string } = {},
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof restoreDrill>> {
    const { configuration, repository } = parseSessionInput('verify', parseBackupSessionInput, resolved);
    checkInput('verify', z.strictObject({ snapshotId: snapshotIdSchema.optional() }), options, 'options');
    const snapshotId = options.snapshotId ?? (await this.listSnapshots(repository, configuration.name, 1)).snapshots[0]?.snapshotId;
    if (!snapshotId) throw new ResourceValidationError(`configuration ${configuration.name} has no snapshot to verify`);
    return this.temporal.workflow.start<typeof restoreDrill>('restoreDrill', {
      taskQueue: this.taskQueue,
      workflowId: drillWorkflowId(configuration.name, snapshotId),
      args: [
        {
          repository,
          configuration: configuration.name,
          snapshotId,
          identity: configuration.spec.encryption?.age.identity,
          ...(configuration.spec.notifications ? { webhooks: configuration.spec.notifications.webhooks } : {}),
          ...scratchPlacementInput(configuration.spec),
        },
      ],
      staticSummary: `Restore drill of snapshot ${snapshotId} of ${configuration.name}`,
      typedSearchAttributes: searchAttributePairs(
        identitySearchAttributes({ configuration: configuration.name, repository: repository.name }),
      ),
    });
  }

  async restore(options: StartRestoreOptions): Promise<WorkflowHandleWithFirstExecutionRunId<typeof restoreSession>> {
    const input = parseSessionInput('restore', parseRestoreSessionInput, {
      ...options,
      overwrite: options.overwrite === undefined ? false : options.overwrite,
    });
    const { repository, configuration, target, selector, pointInTime } = input;
    const what = pointInTime
      ? `point in time ${'at' in pointInTime ? pointInTime.at : 'beforeGtid' in pointInTime ? `before ${pointInTime.beforeGtid}` : 'latest'}`
      : 'snapshotId' in selector
        ? selector.snapshotId
        : `latest at ${selector.targetRecoveryTime ?? 'now'}`;
    return this.temporal.workflow.start<typeof restoreSession>('restoreSession', {
      taskQueue: this.taskQueue,
      workflowId: restoreWorkflowId(target.name, newSessionId()),
      args: [input],
      staticSummary: `Restore of ${configuration} (${what}) into ${target.name}`,
      typedSearchAttributes: searchAttributePairs(
        identitySearchAttributes({ kind: 'restore', configuration, repository: repository.name, target: target.name }),
      ),
    });
  }

  /** A physical snapshot into N replica volumes, every replica in parallel within one session. */
  async restoreIntoVolumes(
    options: StartVolumeRestoreOptions,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof volumeRestoreSession>> {
    const input = parseSessionInput('restoreIntoVolumes', parseVolumeRestoreSessionInput, {
      ...options,
      overwrite: options.overwrite === undefined ? false : options.overwrite,
      restoreId: newSessionId(),
    });
    return this.temporal.workflow.start<typeof volumeRestoreSession>('volumeRestoreSession', {
      taskQueue: this.taskQueue,
      workflowId: volumeRestoreWorkflowId(input.configuration, input.restoreId!),
      args: [input],
      staticSummary: `Physical restore of ${options.configuration} into ${options.replicas} replica volume(s) ${options.volumeClaimTemplate ? `PVC ${options.volumeClaimTemplate.name}` : options.volumeTemplate}`,
      typedSearchAttributes: searchAttributePairs(
        identitySearchAttributes({ kind: 'restore', configuration: options.configuration, repository: options.repository.name }),
      ),
    });
  }

  /** Populates a new instance from the snapshot its `bootstrapFrom` names (mariadb-operator's bootstrapFrom). */
  async bootstrap(set: ResourceSet, targetName: string, options: { waitSeconds?: number } = {}) {
    checkInput('bootstrap', bootstrapInputSchema, { targetName, options });
    const target = set.targets.get(targetName);
    if (!target) throw new ResourceValidationError(`no Target named "${targetName}" in the given files`);
    const from = target.spec.bootstrapFrom;
    if (!from) throw new ResourceValidationError(`Target "${targetName}": spec.bootstrapFrom is not set`);
    const configuration = set.backupConfigurations.get(from.configuration);
    if (!configuration) {
      throw new ResourceValidationError(
        `Target "${targetName}": spec.bootstrapFrom.configuration: no BackupConfiguration named "${from.configuration}" in the given files`,
      );
    }
    const repository = set.repositories.get(configuration.spec.repository)!;
    const selector: SnapshotSelector = from.snapshotId
      ? { snapshotId: from.snapshotId }
      : from.targetRecoveryTime
        ? { targetRecoveryTime: from.targetRecoveryTime }
        : {};
    return this.temporal.workflow.start<typeof bootstrapSession>('bootstrapSession', {
      taskQueue: this.taskQueue,
      workflowId: bootstrapWorkflowId(targetName, newSessionId()),
      args: [
        parseSessionInput('bootstrap', parseBootstrapSessionInput, {
          target,
          repository,
          configuration: configuration.name,
          selector,
          ...(from.pointInTime ? { pointInTime: from.pointInTime } : {}),
          waitSeconds: options.waitSeconds ?? 600,
          identity: configuration.spec.encryption?.age.identity,
        }),
      ],
      staticSummary: `Bootstrap of ${targetName} from ${configuration.name}`,
      typedSearchAttributes: searchAttributePairs(
        identitySearchAttributes({ kind: 'restore', configuration: configuration.name, repository: repository.name, target: targetName }),
      ),
    });
  }

  /** Applies the configuration's retention policy now; with dryRun, reports what it would remove. */
  async prune(resolved: ResolvedBackupConfiguration, options: { dryRun?: boolean } = {}): Promise<ApplyRetentionResult> {
    const { configuration, repository } = parseSessionInput('prune', parseBackupSessionInput, resolved);
    checkInput('prune', pruneOptionsSchema, options, 'options');
    const dryRun = options.dryRun ?? configuration.spec.retention?.dryRun ?? false;
    const input = parseSessionInput('prune', parsePruneSessionInput, {
      repository,
      configuration: configuration.name,
      policy: configuration.spec.retention,
      dryRun,
    });
    return this.temporal.workflow.execute<typeof pruneSession>('pruneSession', {
      taskQueue: this.taskQueue,
      workflowId: pruneWorkflowId(configuration.name, newSessionId()),
      args: [input],
      staticSummary: `${dryRun ? 'Dry-run prune' : 'Prune'} of ${configuration.name} in repository ${repository.name}`,
      typedSearchAttributes: searchAttributePairs(
        identitySearchAttributes({ kind: 'prune', configuration: configuration.name, repository: repository.name }),
      ),
    });
  }

  async listSnapshots(repository: Named<RepositorySpec>, configuration: string, limit = 100): Promise<ListSnapshotsResult> {
    checkInput('listSnapshots', snapshotListingInputSchema, { repository, configuration, limit });
    return this.temporal.workflow.execute<typeof listSnapshotsWorkflow>('listSnapshotsWorkflow', {
      taskQueue: this.taskQueue,
      workflowId: repositoryQueryWorkflowId('snapshots', configuration, newSessionId()),
      args: [{ repository, configuration, limit }],
      staticSummary: `List snapshots of ${configuration} in repository ${repository.name}`,
    });
  }

  /**
   * `dbkeep pitr status`: the configuration's recoverable windows and gaps, read from the
   * repository (what a restore will use), and the running archive's position and lag, read from
   * its last heartbeat.
   */
  async pointInTimeStatus(resolved: ResolvedBackupConfiguration): Promise<PointInTimeStatus> {
    const { configuration, repository } = parseSessionInput('pointInTimeStatus', parseBackupSessionInput, resolved);
    const recoverable = await this.temporal.workflow.execute<typeof recoverableWindowWorkflow>('recoverableWindowWorkflow', {
      taskQueue: this.taskQueue,
      workflowId: repositoryQueryWorkflowId('pitr-status', configuration.name, newSessionId()),
      args: [{ repository, configuration: configuration.name }],
      staticSummary: `Recoverable window of ${configuration.name} in repository ${repository.name}`,
    });
    const archive = await this.archiveProgress(configuration.name);
    const now = Date.now();
    const caughtUpAt = archive?.progress?.caughtUpAt ?? recoverable.lastArchivedEventAt;
    return {
      windows: recoverable.windows.map(({ from, to }) => ({ from, to })),
      lagSeconds: caughtUpAt === undefined ? null : Math.max(0, Math.round((now - Date.parse(caughtUpAt)) / 1000)),
      gaps: recoverable.gaps,
      archive: {
        enabled: configuration.spec.pointInTimeRecovery?.enabled ?? false,
        running: archive !== undefined,
        ...(archive?.progress ? { progress: archive.progress } : {}),
        ...(archive?.lastFailure ? { lastFailure: archive.lastFailure } : {}),
      },
      ...(recoverable.lastArchivedEventAt ? { lastArchivedEventAt: recoverable.lastArchivedEventAt } : {}),
      pieces: recoverable.pieces,
      archivedBytes: recoverable.archivedBytes,
      problems: recoverable.problems,
    };
  }

  /** The running archive's last heartbeat, undefined when it does not run. */
  private async archiveProgress(configuration: string): Promise<{ progress?: ArchiveProgress; lastFailure?: string } | undefined> {
    const description = await this.temporal.workflow
      .getHandle(binlogArchiveWorkflowId(configuration))
      .describe()
      .catch((error: unknown) => {
        if (error instanceof WorkflowNotFoundError) return undefined;
        throw error;
      });
    if (description?.status.name !== 'RUNNING') return undefined;
    const pending = description.raw.pendingActivities?.[0];
    const heartbeats = pending?.heartbeatDetails?.payloads;
    const progress = heartbeats?.length
      ? await decodeFromPayloadsAtIndex<ArchiveProgress>(this.temporal.options.loadedDataConverter, 0, heartbeats).catch(() => undefined)
      : undefined;
    return { ...(progress ? { progress } : {}), ...(pending?.lastFailure?.message ? { lastFailure: pending.lastFailure.message } : {}) };
  }

  /** Makes snapshots of the external dumps (backup.<time>.sql[.gz|.bz2|.zst]) under the configuration's prefix. */
  async importDumps(resolved: ResolvedBackupConfiguration): Promise<ImportDumpsResult> {
    const { configuration, repository, target } = parseSessionInput('importDumps', parseBackupSessionInput, resolved);
    return this.temporal.workflow.execute<typeof importDumpsWorkflow>('importDumpsWorkflow', {
      taskQueue: this.taskQueue,
      workflowId: repositoryQueryWorkflowId('import', configuration.name, newSessionId()),
      args: [{ repository, configuration: configuration.name, target: { name: target.name, engine: target.spec.engine } }],
      staticSummary: `Import external dumps into ${configuration.name} in repository ${repository.name}`,
    });
  }

  async repositoryStatus(repository: Named<RepositorySpec>): Promise<RepositoryStatus> {
    checkInput('repositoryStatus', repositorySchema, repository, 'repository');
    return this.temporal.workflow.execute<typeof repositoryStatusWorkflow>('repositoryStatusWorkflow', {
      taskQueue: this.taskQueue,
      workflowId: repositoryQueryWorkflowId('repository-status', repository.name, newSessionId()),
      args: [{ repository }],
      staticSummary: `Status of repository ${repository.name}`,
    });
  }

  /** Recent backup, restore and prune sessions of a configuration, newest first. */
  async listSessions(configuration: string, limit = 20): Promise<SessionSummary[]> {
    // The name goes into the query's quoted literal.
    checkInput('listSessions', sessionListingInputSchema, { configuration, limit });
    const sessions: SessionSummary[] = [];
    for await (const execution of this.temporal.workflow.list({ query: configurationSessionsQuery(configuration) })) {
      const attributes = execution.typedSearchAttributes;
      const started = execution.startTime.getTime();
      sessions.push({
        workflowId: execution.workflowId,
        kind: (attributes.get(searchAttributes.sessionKind) ?? 'backup') as SessionKind,
        phase: attributes.get(searchAttributes.phase) ?? execution.status.name,
        startedAt: execution.startTime.toISOString(),
        durationSeconds: execution.closeTime ? (execution.closeTime.getTime() - started) / 1000 : undefined,
        sizeBytes: attributes.get(searchAttributes.sizeBytes),
        snapshotId: attributes.get(searchAttributes.snapshot),
      });
    }
    return sessions.sort((a, b) => b.startedAt.localeCompare(a.startedAt)).slice(0, limit);
  }

  async listSchedules(): Promise<ScheduleListing[]> {
    return listBackupSchedules(this.temporal);
  }

  /** Deletes the configuration's backup schedule and its drill schedule, and ends its stale watch; false when it had none of them. */
  async deleteSchedule(configuration: string): Promise<boolean> {
    checkInput('deleteSchedule', resourceNameSchema, configuration, 'configuration');
    const backups = await deleteBackupSchedule(this.temporal, configuration);
    const drills = await deleteDrillSchedule(this.temporal, configuration);
    const watch = await endStaleWatch(this.temporal, configuration);
    return backups || drills || watch;
  }

  /** The note shows in the Temporal UI next to the paused schedule. */
  async pause(configuration: string, note?: string): Promise<void> {
    checkInput('pause', scheduleNoteInputSchema, { configuration, note });
    await (await requireBackupSchedule(this.temporal, configuration)).handle.pause(note ?? 'paused with dbkeep pause');
  }

  async resume(configuration: string, note?: string): Promise<void> {
    checkInput('resume', scheduleNoteInputSchema, { configuration, note });
    await (await requireBackupSchedule(this.temporal, configuration)).handle.unpause(note ?? 'resumed with dbkeep resume');
  }

  /** Runs the schedule's action now, under its overlap policy (Skip by default). */
  async trigger(configuration: string): Promise<void> {
    checkInput('trigger', resourceNameSchema, configuration, 'configuration');
    await triggerBackupSchedule(this.temporal, configuration);
  }

  async status(workflowId: string): Promise<SessionStatus> {
    checkInput('status', sessionWorkflowIdSchema, workflowId, 'workflowId');
    return this.temporal.workflow.getHandle(workflowId).query(statusQuery);
  }

  async describeSession(workflowId: string): Promise<SessionView> {
    checkInput('describeSession', sessionWorkflowIdSchema, workflowId, 'workflowId');
    const handle = this.temporal.workflow.getHandle(workflowId);
    const description = await handle.describe();
    // A session whose first workflow task has not run yet cannot answer queries.
    const status = await handle.query(statusQuery).catch(() => undefined);
    const pending = description.raw.pendingActivities?.[0];
    // Through the client's converter, so heartbeats encrypted by the payload codec decode too.
    const heartbeats = pending?.heartbeatDetails?.payloads;
    const progress = heartbeats?.length
      ? await decodeFromPayloadsAtIndex<Progress>(this.temporal.options.loadedDataConverter, 0, heartbeats).catch(() => undefined)
      : undefined;
    return {
      workflowId,
      runStatus: description.status.name,
      status,
      activity: pending
        ? {
            name: pending.activityType?.name ?? 'activity',
            attempt: pending.attempt ?? 1,
            progress,
            lastFailure: pending.lastFailure?.message ?? undefined,
          }
        : undefined,
    };
  }

  private async runningBackupSession(configuration: string): Promise<string | undefined> {
    const query = runningBackupSessionsQuery(configuration);
    for await (const execution of this.temporal.workflow.list({ query })) return execution.workflowId;
    return undefined;
  }
}
