import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  log,
  patched,
  proxyActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { ReplicaActivities } from '../activities';
import type { PopulateReplicaResult } from '../activities/replica-population';
import type { CopyReplicaVolumeInput, CopyReplicaVolumeResult } from '../activities/replica-copy';
import type { ReplicaVolume } from '../activities/replica-workers';
import type { Manifest } from '../domain/manifest';
import { replicaLayoutProblem } from '../domain/replica-layout';
import { replicaActivityId, replicaTaskQueue, volumeForOrdinal } from '../domain/session-ids';
import type { Named, RepositorySpec } from '../domain/resources';
import type { PointInTimeTarget } from '../domain/point-in-time-target';
import type { SecretRef } from '../domain/secret-ref';
import type { VolumeRestoreSessionInput } from '../domain/session-inputs';
import { quickActivities, quickActivitiesWithId, replicaCopyActivitiesWithId } from './activity-options';
import { runSession } from './session-skeleton';
import { beginSession, failureMessage, runStep, type SessionIdentity } from './session-status';
import { requireInputFields } from './input-guard';

export interface VolumeRestoreSessionResult {
  snapshotId: string;
  replicas: PopulateReplicaResult[];
}

export interface ReplicaPopulationInput {
  repository: Named<RepositorySpec>;
  manifest: Manifest;
  restoreId: string;
  ordinal: number;
  volume: ReplicaVolume;
  overwrite: boolean;
  identity?: SecretRef;
  /** Replay the archived binary log into each prepared volume up to this point. */
  pointInTime?: PointInTimeTarget;
  /** Copy this complete replica's volume instead of downloading and preparing (replica-population.ts). */
  copyFrom?: { ordinal: number; directory: string };
}

const MAX_POPULATION_ATTEMPTS = 5;
/** Replicas on directories: replica 0 from the repository, the others copied from its volume. */
const COPY_FIRST_REPLICA_PATCH = 'copy-first-replica';
/** ...and the copies made by the session's own worker, not by a replica worker started for each. */
const COPIES_BY_SESSION_WORKER_PATCH = 'copies-by-session-worker';

/** When a replica's population starts, and who hears of its volume complete before its worker stops. */
export interface PopulationOrder {
  /** Populate once this settles; fail with it when it fails. */
  after?: Promise<unknown>;
  /** Called with the result as soon as the volume is complete, before the replica's worker is stopped. */
  onPopulated?: (result: PopulateReplicaResult) => void;
}

/** One replica's population: copied from another's volume when `copyFrom` is given. */
type PopulateOne = (
  ordinal: number,
  copyFrom?: ReplicaPopulationInput['copyFrom'],
  order?: PopulationOrder,
) => Promise<PopulateReplicaResult>;

/** A copy of replica 0's complete volume into another replica's directory, by the session's worker. */
type CopyOne = (ordinal: number, from: CopyReplicaVolumeInput['from']) => Promise<CopyReplicaVolumeResult>;

/**
 * A physical restore into N replica volumes (Stash's `.spec.target.replicas`): every replica in
 * parallel, inside this one workflow. A replica that fails is retried on its own; the others are
 * not redone. Replicas are not child workflows: cancelling a child that is completing at that
 * moment fails the child's workflow task (UnhandledCommand), and a session cancels its other
 * replicas exactly when one of them fails for good, often while they fail too.
 */
export async function volumeRestoreSession(input: VolumeRestoreSessionInput): Promise<VolumeRestoreSessionResult> {
  requireInputFields(
    input,
    ['repository.name', 'repository.spec', 'configuration', 'selector', 'replicas', 'overwrite'],
    '`dbkeep restore --replicas` starts a valid session',
  );
  const { repository, configuration } = input;
  const info = workflowInfo();
  const restoreId = input.restoreId ?? info.workflowId.split('/').at(-1)!;
  const identity: SessionIdentity = { kind: 'restore', configuration, repository: repository.name };
  const status = beginSession(identity);
  return runSession(status, identity, async () => {
    const layout = replicaLayoutProblem(input);
    if (layout) throw ApplicationFailure.nonRetryable(`${layout.field}: ${layout.message}`, 'InvalidInput');
    const { pointInTime } = input;
    // The first activity parses the whole input again, as it reached the worker.
    const session = { kind: 'volumeRestore', input } as const;
    // A point in time chooses the newest physical snapshot before it, and is refused here when outside every window.
    const selector = pointInTime
      ? await runStep(status, 'resolve-point-in-time', () =>
          quickActivities.resolvePointInTime({ repository, configuration, pointInTime, method: 'physical', session }),
        )
      : input.selector;
    const manifest = await runStep(status, 'resolve-snapshot', () =>
      quickActivities.resolveSnapshot({ repository, configuration, selector, method: 'physical', ...(pointInTime ? {} : { session }) }),
    );
    status.snapshotId = manifest.snapshotId;
    status.storedBytes = manifest.data.storedBytes;
    const populate: PopulateOne = (ordinal, copyFrom, order) =>
      populateReplica(
        {
          repository,
          manifest,
          restoreId,
          ordinal,
          volume: input.volumeClaimTemplate
            ? { claimTemplate: input.volumeClaimTemplate }
            : { directory: volumeForOrdinal(input.volumeTemplate!, ordinal) },
          overwrite: input.overwrite,
          identity: input.identity,
          ...(pointInTime ? { pointInTime } : {}),
          ...(copyFrom ? { copyFrom } : {}),
        },
        order,
      );
    const copy: CopyOne = (ordinal, from) =>
      replicaCopyActivitiesWithId(replicaActivityId(ordinal, 'copy')).copyReplicaVolume({
        restoreId,
        ordinal,
        overwrite: input.overwrite,
        snapshotId: manifest.snapshotId,
        directory: volumeForOrdinal(input.volumeTemplate!, ordinal),
        from,
      });
    const replicas = await runStep(status, `populate-${input.replicas}-replicas`, () =>
      // Directories are on the worker's host, where a replica's complete volume is copied in a
      // fraction of the time another download, decompression and prepare take.
      input.volumeTemplate !== undefined && input.replicas > 1 && patched(COPY_FIRST_REPLICA_PATCH)
        ? patched(COPIES_BY_SESSION_WORKER_PATCH)
          ? copyFirstReplica(input.replicas, input.volumeTemplate, populate, copy)
          : populateFromFirstReplica(input.replicas, input.volumeTemplate, populate)
        : populateEveryReplica(Array.from({ length: input.replicas }, (_, ordinal) => () => populate(ordinal))),
    );
    status.rawBytes = replicas.reduce((total, r) => total + r.bytesOnVolume, 0);
    return { result: { snapshotId: manifest.snapshotId, replicas }, metrics: { dataSizeBytes: status.rawBytes } };
  });
}

/**
 * Replica 0 from the repository by its replica worker; once its volume is complete (while that
 * worker stops), every other replica as a copy of it by the session's own worker, all at once.
 * No worker process starts for a copy: starting them beside replica 0's population slowed it
 * (bench/README.md, eighteenth session). A copy reports what replica 0 was prepared with and
 * replayed, which its data holds. A session worker that does not see replica 0's volume complete
 * (another host's) makes no copy, and that replica is populated from the repository instead.
 */
async function copyFirstReplica(
  count: number,
  volumeTemplate: string,
  populate: PopulateOne,
  copy: CopyOne,
): Promise<PopulateReplicaResult[]> {
  let populated!: (result: PopulateReplicaResult) => void;
  const complete = new Promise<PopulateReplicaResult>((resolve) => (populated = resolve));
  let first: Promise<PopulateReplicaResult> | undefined;
  const from = { ordinal: 0, directory: volumeForOrdinal(volumeTemplate, 0) };
  // populateEveryReplica starts the replicas in order: replica 0's population exists when the others start.
  return populateEveryReplica(
    Array.from({ length: count }, (_, ordinal) => async () => {
      if (ordinal === 0) return (first = populate(0, undefined, { onPopulated: populated }));
      // Replica 0 failing for good fails the copies with it.
      const source = await Promise.race([complete, first!]);
      const copied = await copy(ordinal, from);
      if (!copied.copied) return populate(ordinal);
      const { volume, bytesOnVolume, durationSeconds } = copied;
      return {
        ordinal,
        volume,
        bytesOnVolume,
        durationSeconds,
        preparedWith: source.preparedWith,
        copiedFrom: from.ordinal,
        ...(source.replayed ? { replayed: source.replayed } : {}),
      };
    }),
  );
}

/**
 * Replica 0 from the repository, then every other replica as a copy of its volume, all at once.
 * The others' workers start beside replica 0's (populateReplica's `after`), so they are polling
 * when its volume is complete. A copy reports replica 0's replay, which its data holds. Sessions
 * started before the patch `copies-by-session-worker` replay this way.
 */
async function populateFromFirstReplica(count: number, volumeTemplate: string, populate: PopulateOne): Promise<PopulateReplicaResult[]> {
  let first: Promise<PopulateReplicaResult> | undefined;
  const copyFrom = { ordinal: 0, directory: volumeForOrdinal(volumeTemplate, 0) };
  // populateEveryReplica starts the replicas in order: replica 0's population exists when the others start.
  return populateEveryReplica(
    Array.from({ length: count }, (_, ordinal) => async () => {
      if (ordinal === 0) return (first = populate(0));
      const copied = await populate(ordinal, copyFrom, { after: first });
      const source = await first!;
      return copied.copiedFrom === undefined || source.replayed === undefined ? copied : { ...copied, replayed: source.replayed };
    }),
  );
}

/**
 * Every replica at once. A replica that fails for good cancels the others, and the session waits
 * until every one has ended before it fails: each replica stops its worker in its own `finally`,
 * and a session that ended first would leave those worker processes or Jobs behind.
 */
async function populateEveryReplica(replicas: Array<() => Promise<PopulateReplicaResult>>): Promise<PopulateReplicaResult[]> {
  const scope = new CancellationScope();
  let firstFailure: { error: unknown } | undefined;
  const settled = await scope.run(() =>
    Promise.allSettled(
      replicas.map((populate) =>
        populate().catch((error: unknown) => {
          if (!firstFailure) {
            firstFailure = { error };
            scope.cancel();
          }
          throw error;
        }),
      ),
    ),
  );
  if (firstFailure) throw firstFailure.error;
  return settled.map((result) => (result as PromiseFulfilledResult<PopulateReplicaResult>).value);
}

/**
 * One replica: make sure a worker bound to its volume runs (a local process, or a Kubernetes
 * Job mounting its PVC), then have that worker populate the volume. If the worker dies, its
 * heartbeat stops, the attempt fails within the heartbeat timeout, and the loop starts a new
 * worker and populates again from a clean volume. Its activities' ids say whose they are
 * (`replica-1/populate/2`), so one replica's attempts can be told apart in the session's history.
 */
export async function populateReplica(input: ReplicaPopulationInput, order: PopulationOrder = {}): Promise<PopulateReplicaResult> {
  const taskQueue = replicaTaskQueue(input.restoreId, input.ordinal);
  const spec = { taskQueue, volume: input.volume, restoreId: input.restoreId, ordinal: input.ordinal };
  const replicaActivity = (attempt: number) =>
    proxyActivities<ReplicaActivities>({
      activityId: replicaActivityId(input.ordinal, 'populate', attempt),
      taskQueue,
      startToCloseTimeout: '24 hours',
      heartbeatTimeout: '20 seconds',
      // A worker that never polls (crashed at start, Job unschedulable) fails the attempt too.
      scheduleToStartTimeout: '2 minutes',
      // Retries are this loop's: each one first makes sure a worker runs.
      retry: { maximumAttempts: 1 },
      // A cancelled population waits for its worker to confirm (its tools stopped), and the
      // session never completes while the activity's own end is still on its way (a workflow
      // task failed with UnhandledCommand when a cancelled attempt had already been handed out).
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    });
  try {
    for (let attempt = 1; ; attempt++) {
      // Not cancellable: the session never ends while a worker it asked for may still be starting.
      await CancellationScope.nonCancellable(() =>
        quickActivitiesWithId(replicaActivityId(input.ordinal, 'ensure-worker', attempt)).ensureReplicaWorker(spec),
      );
      // Outside the try: when what this replica waits for fails, it fails with it, not retried.
      if (attempt === 1) await order.after;
      try {
        const result = await replicaActivity(attempt).populateReplicaVolume({
          repository: input.repository,
          manifest: input.manifest,
          restoreId: input.restoreId,
          ordinal: input.ordinal,
          overwrite: input.overwrite,
          identity: input.identity,
          ...(input.pointInTime ? { pointInTime: input.pointInTime } : {}),
          ...(input.copyFrom ? { copyFrom: input.copyFrom } : {}),
        });
        order.onPopulated?.(result);
        return result;
      } catch (err) {
        const cause = err instanceof Error ? err.cause : undefined;
        if ((cause instanceof ApplicationFailure && cause.nonRetryable) || attempt >= MAX_POPULATION_ATTEMPTS) throw err;
        log.warn('replica population attempt failed; retrying this replica', {
          ordinal: input.ordinal,
          attempt,
          error: failureMessage(err),
        });
        await sleep(`${Math.min(2 ** attempt, 30)} seconds`);
      }
    }
  } finally {
    await CancellationScope.nonCancellable(() =>
      quickActivitiesWithId(replicaActivityId(input.ordinal, 'stop-worker')).stopReplicaWorker(spec),
    );
  }
}
