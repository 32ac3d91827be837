import { randomBytes } from 'node:crypto';
import { Client, Connection, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Progress } from '../activities/heartbeat';
import type { ListSnapshotsResult } from '../activities/restore-activities';
import { backupWorkflowId, DEFAULT_TASK_QUEUE, restoreWorkflowId, snapshotListingWorkflowId } from '../domain/names';
import type { Named, RepositorySpec, TargetSpec } from '../domain/resources';
import type { ResolvedBackupConfiguration } from '../domain/resource-set';
import { formatSnapshotId } from '../domain/snapshot-id';
import { snapshotSelectorSchema, type SnapshotSelector } from '../domain/snapshot-selection';
import { formatZodIssues, ResourceValidationError } from '../domain/resource-set';
import { searchAttributes } from '../domain/search-attributes';
import type { backupSession, listSnapshotsWorkflow, restoreSession } from '../workflows';
import { statusQuery, type SessionStatus } from '../workflows/session-status';

export interface ConnectOptions {
  /** host:port; defaults to TEMPORAL_ADDRESS, then 127.0.0.1:7233, as the temporal CLI does. */
  address?: string;
  /** Defaults to TEMPORAL_NAMESPACE, then "default". */
  namespace?: string;
  taskQueue?: string;
}

export interface StartRestoreOptions {
  repository: Named<RepositorySpec>;
  configuration: string;
  target: Named<TargetSpec>;
  selector: SnapshotSelector;
  overwrite?: boolean;
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

/** One session as a user sees it: Temporal's run status, dbkeep's status query, and live progress. */
export interface SessionView {
  workflowId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT... */
  runStatus: string;
  status?: SessionStatus;
  /** The activity running now, with the progress it last heartbeated. */
  activity?: { name: string; attempt: number; progress?: Progress; lastFailure?: string };
}

const newSessionId = (now = new Date()) => formatSnapshotId(now, randomBytes(3).toString('hex'));

/**
 * The typed TypeScript client: what the CLI uses, and what services embed to start and watch
 * sessions. Inputs carry resources with secret references only; values stay on the worker.
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
    return new DbkeepClient(new Client({ connection, namespace }), options.taskQueue);
  }

  async close(): Promise<void> {
    await this.temporal.connection.close();
  }

  async startBackup(resolved: ResolvedBackupConfiguration): Promise<WorkflowHandleWithFirstExecutionRunId<typeof backupSession>> {
    const snapshotId = newSessionId();
    const { configuration, target, repository } = resolved;
    return this.temporal.workflow.start<typeof backupSession>('backupSession', {
      taskQueue: this.taskQueue,
      workflowId: backupWorkflowId(configuration.name, snapshotId),
      args: [{ configuration, target, repository, snapshotId }],
      staticSummary: `Backup of ${target.name} (${configuration.name}) to repository ${repository.name}`,
      typedSearchAttributes: [
        { key: searchAttributes.configuration, value: configuration.name },
        { key: searchAttributes.target, value: target.name },
        { key: searchAttributes.repository, value: repository.name },
        { key: searchAttributes.sessionKind, value: 'backup' },
      ],
    });
  }

  async startRestore(options: StartRestoreOptions): Promise<WorkflowHandleWithFirstExecutionRunId<typeof restoreSession>> {
    const { repository, configuration, target } = options;
    const parsed = snapshotSelectorSchema.safeParse(options.selector);
    if (!parsed.success) throw new ResourceValidationError(`restore selector: ${formatZodIssues(parsed.error.issues)}`);
    const selector = parsed.data;
    const what = 'snapshotId' in selector ? selector.snapshotId : `latest at ${selector.targetRecoveryTime ?? 'now'}`;
    return this.temporal.workflow.start<typeof restoreSession>('restoreSession', {
      taskQueue: this.taskQueue,
      workflowId: restoreWorkflowId(target.name, newSessionId()),
      args: [{ repository, configuration, target, selector, overwrite: options.overwrite ?? false }],
      staticSummary: `Restore of ${configuration} (${what}) into ${target.name}`,
      typedSearchAttributes: [
        { key: searchAttributes.configuration, value: configuration },
        { key: searchAttributes.target, value: target.name },
        { key: searchAttributes.repository, value: repository.name },
        { key: searchAttributes.sessionKind, value: 'restore' },
      ],
    });
  }

  async listSnapshots(repository: Named<RepositorySpec>, configuration: string, limit = 100): Promise<ListSnapshotsResult> {
    return this.temporal.workflow.execute<typeof listSnapshotsWorkflow>('listSnapshotsWorkflow', {
      taskQueue: this.taskQueue,
      workflowId: snapshotListingWorkflowId(configuration, newSessionId()),
      args: [{ repository, configuration, limit }],
      staticSummary: `List snapshots of ${configuration} in repository ${repository.name}`,
      typedSearchAttributes: [
        { key: searchAttributes.configuration, value: configuration },
        { key: searchAttributes.repository, value: repository.name },
        { key: searchAttributes.sessionKind, value: 'list' },
      ],
    });
  }

  async status(workflowId: string): Promise<SessionStatus> {
    return this.temporal.workflow.getHandle(workflowId).query(statusQuery);
  }

  async describeSession(workflowId: string): Promise<SessionView> {
    const handle = this.temporal.workflow.getHandle(workflowId);
    const description = await handle.describe();
    // A session whose first workflow task has not run yet cannot answer queries.
    const status = await handle.query(statusQuery).catch(() => undefined);
    const pending = description.raw.pendingActivities?.[0];
    const heartbeat = pending?.heartbeatDetails?.payloads?.[0];
    return {
      workflowId,
      runStatus: description.status.name,
      status,
      activity: pending
        ? {
            name: pending.activityType?.name ?? 'activity',
            attempt: pending.attempt ?? 1,
            progress: heartbeat ? defaultPayloadConverter.fromPayload<Progress>(heartbeat) : undefined,
            lastFailure: pending.lastFailure?.message ?? undefined,
          }
        : undefined,
    };
  }
}
