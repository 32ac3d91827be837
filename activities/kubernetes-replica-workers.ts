import { Connection } from '@temporalio/client';
import type {
  BatchV1Api,
  CoreV1Api,
  V1EnvFromSource,
  V1EnvVar,
  V1Job,
  V1PersistentVolumeClaim,
  V1ResourceRequirements,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { DNS1123_LABEL } from '../domain/kubernetes-names';
import { replicaClaim, type ReplicaClaim, type VolumeClaimTemplate } from '../domain/volume-claim-template';
import type { EnsuredReplicaWorker, ReplicaWorkerLauncher, ReplicaWorkerSpec } from './replica-workers';
import { WORKER_NODE_FLAGS } from '../domain/worker-node-flags';
import {
  describeJobPods,
  heartbeat,
  jobEnded,
  kubernetesError,
  RESTRICTED_CONTAINER_SECURITY_CONTEXT,
  restrictedPodSecurityContext,
  statusCode,
} from './kubernetes-jobs';

/** Where a replica Job mounts its PVC: the `--volume` of its `dbkeep replica-worker`. */
export const REPLICA_VOLUME_MOUNT_PATH = '/var/lib/dbkeep/volume';

/** The labels on every PVC and Job a restore creates: `kubectl get all,pvc -l dbkeep.io/restore=<id>` finds them. */
export const REPLICA_LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  restore: 'dbkeep.io/restore',
  ordinal: 'dbkeep.io/ordinal',
} as const;
export const MANAGED_BY_DBKEEP = 'dbkeep';

/**
 * Who the replica worker runs as, and so who owns the files it restores: the database server's
 * uid and gid. 999 is the mysql user and group of the official mariadb and mysql images.
 */
export interface ReplicaRunAs {
  uid: number;
  gid: number;
}
export const DEFAULT_REPLICA_RUN_AS: ReplicaRunAs = { uid: 999, gid: 999 };

/** A Secret mounted as a directory of files, one per key. */
export interface SecretMount {
  secretName: string;
  mountPath: string;
}

export interface KubernetesJobReplicaWorkersOptions {
  api: { core: CoreV1Api; batch: BatchV1Api };
  /** Where the PVCs and Jobs go: the namespace of the database they are for. */
  namespace: string;
  /** dbkeep's own image (deploy/Dockerfile): the Job runs the same code as this worker. */
  image: string;
  /** What a restore's own volumeClaimTemplate leaves out (the worker's DBKEEP_REPLICA_CLAIM_TEMPLATE and DBKEEP_REPLICA_STORAGE_*). */
  defaultClaimTemplate?: Partial<VolumeClaimTemplate>;
  /** Default DEFAULT_REPLICA_RUN_AS. */
  runAs?: ReplicaRunAs;
  /** The Temporal frontend as seen from the Job's pod. */
  temporal: { address: string; namespace: string };
  /** Needs "get" on the Secrets the Repository references by secretKeyRef; the namespace's default when omitted. */
  serviceAccountName?: string;
  /** Extra environment of the replica worker, e.g. a Repository's `{ env: ... }` credentials from a Secret. */
  env?: V1EnvVar[];
  /** Secrets whose every key becomes an environment variable of the replica worker (envFrom). */
  envFromSecrets?: string[];
  /**
   * Secrets mounted read-only into the replica worker, each at a path: what `{ file: ... }`
   * references, a TLS CA bundle, age identities or the payload keyring name. The paths must be
   * the ones the resources and the worker's settings give, since those travel unchanged.
   */
  secretMounts?: SecretMount[];
  resources?: V1ResourceRequirements;
  /**
   * How long ensureRunning waits for the replica worker to poll. ensureReplicaWorker runs with a
   * 2-minute start-to-close timeout, so this stays below it; a slow image pull is picked up
   * again (the Job is adopted) by the activity's next attempt.
   */
  readyTimeoutMs?: number;
  pollIntervalMs?: number;
}

const DEFAULT_READY_TIMEOUT_MS = 90_000;
// A replica worker left behind by a main worker that died is ended by Kubernetes after a day
// (population's start-to-close timeout is 24 hours), and the failed Job removed a day later.
const JOB_ACTIVE_DEADLINE_SECONDS = 25 * 3600;
const JOB_TTL_AFTER_FINISHED_SECONDS = 24 * 3600;
const CONTAINER_NAME = 'replica-worker';
/** Owner and group may read (the group is fsGroup, the database's): secret files for one reader. */
const SECRET_FILE_MODE = 0o440;

function secretVolume({ secretName, mountPath }: SecretMount, index: number): { volume: V1Volume; mount: V1VolumeMount } {
  const name = `secret-${index}`;
  return {
    volume: { name, secret: { secretName, defaultMode: SECRET_FILE_MODE } },
    mount: { name, mountPath, readOnly: true },
  };
}
const VOLUME_NAME = 'volume';

/**
 * The Kubernetes mode of replica workers: per replica, a PVC from the restore's claim template
 * (created, or adopted when it exists, so re-running a restore reuses its volumes) and a Job
 * that mounts it and runs `dbkeep replica-worker` from dbkeep's own image, as the database's
 * uid, so that it passes the `restricted` Pod Security Standard. The Job is owned by its PVC,
 * so deleting a restore's PVCs takes its Jobs with them. stop() deletes the Job and keeps the
 * PVC: it holds the restored data directory.
 */
export class KubernetesJobReplicaWorkers implements ReplicaWorkerLauncher {
  constructor(private readonly options: KubernetesJobReplicaWorkersOptions) {}

  async ensureRunning(spec: ReplicaWorkerSpec): Promise<EnsuredReplicaWorker> {
    const claim = this.claimOf(spec);
    const existing = await this.ensureClaim(spec, claim);
    const { job, created } = await this.ensureJob(spec, existing);
    await this.waitUntilPolling(spec, job, claim);
    return { started: created, worker: { kind: 'job', namespace: this.options.namespace, name: job.metadata!.name!, claim: claim.name } };
  }

  async stop(spec: ReplicaWorkerSpec): Promise<void> {
    const name = replicaJobName(spec.taskQueue);
    try {
      // Background: the Job goes at once, and its pod receives SIGTERM and shuts the worker down gracefully.
      await this.options.api.batch.deleteNamespacedJob({ name, namespace: this.options.namespace, propagationPolicy: 'Background' });
    } catch (error) {
      if (statusCode(error) !== 404) throw kubernetesError(error, `deleting Job ${this.options.namespace}/${name}`);
    }
  }

  private labels(spec: ReplicaWorkerSpec): Record<string, string> {
    return {
      [REPLICA_LABELS.managedBy]: MANAGED_BY_DBKEEP,
      [REPLICA_LABELS.restore]: labelValue(spec.restoreId),
      [REPLICA_LABELS.ordinal]: String(spec.ordinal),
    };
  }

  private claimOf(spec: ReplicaWorkerSpec): ReplicaClaim {
    const claim = replicaClaim(spec.volume.claimTemplate, this.options.defaultClaimTemplate ?? {}, spec.ordinal);
    if ('problem' in claim) throw permanentFailure(PermanentFailureType.InvalidInput, `replica ${spec.ordinal}: ${claim.problem}`);
    return claim;
  }

  /** Creates the replica's PVC, or adopts the one there (labelling it for this restore). */
  private async ensureClaim(spec: ReplicaWorkerSpec, claim: ReplicaClaim): Promise<V1PersistentVolumeClaim> {
    const { core } = this.options.api;
    const { namespace } = this.options;
    const { name } = claim;
    const labels = this.labels(spec);
    try {
      return await core.createNamespacedPersistentVolumeClaim({
        namespace,
        body: {
          metadata: { name, labels },
          spec: {
            accessModes: claim.accessModes,
            storageClassName: claim.storageClassName,
            resources: { requests: { storage: claim.size } },
          },
        },
      });
    } catch (error) {
      if (statusCode(error) !== 409) throw kubernetesError(error, `creating PVC ${namespace}/${name}`);
    }
    const existing = await core.readNamespacedPersistentVolumeClaim({ name, namespace }).catch((error: unknown) => {
      throw kubernetesError(error, `reading PVC ${namespace}/${name}`);
    });
    if (existing.metadata?.deletionTimestamp) {
      // Retryable: once it is gone, the next attempt creates it anew.
      throw new Error(`PVC ${namespace}/${name} (replica ${spec.ordinal}) is being deleted; it is created again once it is gone`);
    }
    const current = existing.metadata?.labels ?? {};
    if (Object.entries(labels).every(([key, value]) => current[key] === value)) return existing;
    const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
    return core
      .patchNamespacedPersistentVolumeClaim(
        { name, namespace, body: { metadata: { labels } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch((error: unknown) => {
        throw kubernetesError(error, `labelling PVC ${namespace}/${name} for restore ${spec.restoreId}`);
      });
  }

  /**
   * Creates the replica's Job, or adopts this task queue's Job when it still runs. A Job that
   * has ended (its worker crashed, or was stopped) is replaced: the caller wants a worker now.
   */
  private async ensureJob(spec: ReplicaWorkerSpec, claim: V1PersistentVolumeClaim): Promise<{ job: V1Job; created: boolean }> {
    const { batch } = this.options.api;
    const { namespace } = this.options;
    const name = replicaJobName(spec.taskQueue);
    const body = this.jobManifest(spec, claim);
    for (;;) {
      try {
        return { job: await batch.createNamespacedJob({ namespace, body }), created: true };
      } catch (error) {
        if (statusCode(error) !== 409) throw kubernetesError(error, `creating Job ${namespace}/${name}`);
      }
      const existing = await batch.readNamespacedJob({ name, namespace }).catch((error: unknown) => {
        // Deleted between our create and read: create again.
        if (statusCode(error) === 404) return undefined;
        throw kubernetesError(error, `reading Job ${namespace}/${name}`);
      });
      if (existing === undefined) continue;
      if (!existing.metadata?.deletionTimestamp && jobEnded(existing) === undefined) return { job: existing, created: false };
      if (!existing.metadata?.deletionTimestamp) {
        await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }).catch((error: unknown) => {
          if (statusCode(error) !== 404) throw kubernetesError(error, `deleting ended Job ${namespace}/${name}`);
        });
      }
      heartbeat({ phase: 'replacing ended replica Job', job: name });
      await sleep(this.options.pollIntervalMs ?? 1_000);
    }
  }

  private jobManifest(spec: ReplicaWorkerSpec, claim: V1PersistentVolumeClaim): V1Job {
    const { options } = this;
    const labels = this.labels(spec);
    const claimMetadata = claim.metadata!;
    const runAs = options.runAs ?? DEFAULT_REPLICA_RUN_AS;
    const secretVolumes = (options.secretMounts ?? []).map(secretVolume);
    return {
      metadata: {
        name: replicaJobName(spec.taskQueue),
        labels,
        annotations: { 'dbkeep.io/task-queue': spec.taskQueue },
        // Owned by its PVC: deleting a restore's PVCs deletes its Jobs (and their pods) too.
        ownerReferences: [{ apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: claimMetadata.name!, uid: claimMetadata.uid! }],
      },
      spec: {
        // Retries are the workflow's: a worker that dies fails its Job, and the next attempt replaces the Job.
        backoffLimit: 0,
        activeDeadlineSeconds: JOB_ACTIVE_DEADLINE_SECONDS,
        ttlSecondsAfterFinished: JOB_TTL_AFTER_FINISHED_SECONDS,
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'Never',
            serviceAccountName: options.serviceAccountName,
            // Above the replica worker's 20 s shutdownGraceTime, as for the main worker.
            terminationGracePeriodSeconds: 60,
            // The `restricted` Pod Security Standard. The worker runs as the database's uid, so
            // the files it restores are the database's without any chown; fsGroup makes the
            // kubelet give the volume to the database's group, writable, whoever provisioned it.
            securityContext: restrictedPodSecurityContext(runAs),
            containers: [
              {
                name: CONTAINER_NAME,
                image: options.image,
                // tini as PID 1 forwards SIGTERM to node and reaps mbstream/mariadb-backup children.
                command: ['/usr/bin/tini', '--', 'node', ...WORKER_NODE_FLAGS, '/app/bin/dbkeep.js'],
                args: replicaWorkerArgs(spec.taskQueue, options.temporal),
                env: options.env,
                envFrom: options.envFromSecrets?.map((name): V1EnvFromSource => ({ secretRef: { name } })),
                resources: options.resources,
                securityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT,
                volumeMounts: [{ name: VOLUME_NAME, mountPath: REPLICA_VOLUME_MOUNT_PATH }, ...secretVolumes.map(({ mount }) => mount)],
              },
            ],
            volumes: [
              { name: VOLUME_NAME, persistentVolumeClaim: { claimName: claimMetadata.name! } },
              ...secretVolumes.map(({ volume }) => volume),
            ],
          },
        },
      },
    };
  }

  /** Until the replica worker polls its task queue; a Job that ends first fails the wait at once. */
  private async waitUntilPolling(spec: ReplicaWorkerSpec, job: V1Job, claim: ReplicaClaim): Promise<void> {
    const { batch } = this.options.api;
    const { namespace } = this.options;
    const name = job.metadata!.name!;
    // A poller seen before this Job existed belongs to a worker that is gone.
    const since = job.metadata?.creationTimestamp ? new Date(job.metadata.creationTimestamp).getTime() : 0;
    const timeoutMs = this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const connection = await Connection.connect({ address: this.options.temporal.address, connectTimeout: 5_000 });
    try {
      for (;;) {
        const current = await batch.readNamespacedJob({ name, namespace }).catch((error: unknown) => {
          throw kubernetesError(error, `reading Job ${namespace}/${name}`);
        });
        const ended = jobEnded(current);
        if (ended !== undefined) {
          throw new Error(`replica ${spec.ordinal}: Job ${namespace}/${name} ended before its worker polled ${spec.taskQueue}: ${ended}`);
        }
        // A Temporal hiccup is not the worker's failure: ask again on the next round.
        const polling = await hasActivityPollerSince(connection, this.options.temporal.namespace, spec.taskQueue, since).catch(() => false);
        if (polling) return;
        if (Date.now() > deadline) {
          throw new Error(
            `replica ${spec.ordinal}: the worker of Job ${namespace}/${name} did not poll ${spec.taskQueue} within ${timeoutMs} ms` +
              `${await describeJobPods(this.options.api.core, this.options.namespace, name)}; check \`kubectl -n ${namespace} describe job ${name}\` and its pod's log`,
          );
        }
        heartbeat({ phase: 'starting replica worker', job: name, claim: claim.name });
        await sleep(this.options.pollIntervalMs ?? 1_000);
      }
    } finally {
      await connection.close();
    }
  }
}

/** The replica worker's argv after the image's `node /app/bin/dbkeep.js`. */
export function replicaWorkerArgs(taskQueue: string, temporal: { address: string; namespace: string }): string[] {
  return [
    'replica-worker',
    '--volume',
    REPLICA_VOLUME_MOUNT_PATH,
    '--task-queue',
    taskQueue,
    '--address',
    temporal.address,
    '--namespace',
    temporal.namespace,
  ];
}

/** The Job of a replica task queue: Job names are DNS-1123 labels of at most 63 characters. */
export function replicaJobName(taskQueue: string): string {
  return dns1123Label(taskQueue);
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * text itself when it is a DNS-1123 label; otherwise a lowercased, shortened form with a hash of
 * text appended, so that two task queues never share a name (session ids have uppercase T and Z).
 */
export function dns1123Label(text: string, maxLength = 63): string {
  if (DNS1123_LABEL.test(text) && text.length <= maxLength) return text;
  const hash = shortHash(text);
  const readable = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, maxLength - hash.length - 1)
    .replace(/^-+|-+$/g, '');
  return readable === '' ? hash : `${readable}-${hash}`;
}

/** text when it is a valid label value, else a shortened form with its hash. */
export function labelValue(text: string): string {
  if (LABEL_VALUE.test(text) && text.length <= 63) return text;
  const hash = shortHash(text);
  const readable = text
    .replace(/[^-A-Za-z0-9_.]+/g, '-')
    .slice(0, 63 - hash.length - 1)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return readable === '' ? hash : `${readable}-${hash}`;
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 10);
}

async function hasActivityPollerSince(connection: Connection, namespace: string, taskQueue: string, sinceMs: number): Promise<boolean> {
  const described = await connection.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    // TASK_QUEUE_TYPE_ACTIVITY: replica workers poll activities only.
    taskQueueType: 2,
  });
  return (described.pollers ?? []).some((poller) => {
    const seconds = Number(poller.lastAccessTime?.seconds ?? 0);
    // creationTimestamp has whole seconds: compare at that precision.
    return seconds * 1000 >= Math.floor(sinceMs / 1000) * 1000;
  });
}
