import { readFileSync } from 'node:fs';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createActivities, createReplicaWorkerOnlyActivities } from '../activities';
import { KubernetesJobReplicaWorkers } from '../activities/kubernetes-replica-workers';
import { removeOrphanedScratchDirectories } from '../activities/scratch-directory';
import { LocalProcessReplicaWorkers, type ReplicaWorkerLauncher } from '../activities/replica-workers';
import { formatZodIssues } from '../domain/resource-set';
import { POD_ORDINAL_PLACEHOLDER } from '../domain/session-ids';
import type { TemporalSettings } from '../clients/temporal-settings';
import { payloadCodecFromEnvironment } from '../secrets/payload-codec';
import { dbkeepCliCommand, workerIsPolling } from '../stack/dev-stack';
import { createDbkeepWorker } from './dbkeep-worker';
import type { WorkerSettings } from './worker-settings';

/**
 * Runs a worker until SIGINT or SIGTERM (the SDK's runtime installs those handlers), then
 * lets running activities see cancellation and abort their uploads within the grace time.
 */
export async function runWorker(settings: WorkerSettings): Promise<void> {
  if (settings.metricsAddress) {
    // Must come before the first connection: the runtime is created once per process.
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: settings.metricsAddress } } } });
  }
  // A worker killed before us may have left secret files or staged restore segments behind.
  await removeOrphanedScratchDirectories();
  const connection = await NativeConnection.connect({ address: settings.address });
  try {
    const worker = await createDbkeepWorker({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      activities: createActivities({
        pushgatewayUrl: settings.pushgatewayUrl,
        replicaWorkers: await replicaWorkersFromEnvironment(settings),
      }),
      maxConcurrentActivityTaskExecutions: settings.maxConcurrentSessions,
      payloadCodec: payloadCodecFromEnvironment(),
    });
    await worker.run();
  } finally {
    await connection.close();
  }
}

function codecConverter() {
  const codec = payloadCodecFromEnvironment();
  return codec ? { payloadCodecs: [codec] } : undefined;
}

/** The embedded mode's replica workers: local `dbkeep replica-worker` processes on this host. */
export function localReplicaWorkers(settings: TemporalSettings): LocalProcessReplicaWorkers {
  return new LocalProcessReplicaWorkers({
    temporalAddress: settings.address,
    namespace: settings.namespace,
    cli: dbkeepCliCommand(),
    isPolling: (taskQueue, pid) => workerIsPolling(settings.address, settings.namespace, taskQueue, pid, 'activity'),
  });
}

/**
 * Which launcher starts the replica workers of physical restores, from the environment:
 *
 * - DBKEEP_REPLICA_RUNTIME: `local` (default; `dbkeep replica-worker` processes on this host,
 *   volumes are directories) or `kubernetes` (a PVC and a Job per replica, see
 *   activities/kubernetes-replica-workers.ts). With `kubernetes`:
 * - DBKEEP_REPLICA_IMAGE (required): dbkeep's image for the Jobs, normally this worker's own.
 * - DBKEEP_REPLICA_CLAIM_TEMPLATE (required): the PVC name, with `${POD_ORDINAL}`, e.g. `data-galera-${POD_ORDINAL}`.
 * - DBKEEP_REPLICA_STORAGE_SIZE (required): each PVC's request, e.g. `20Gi`.
 * - DBKEEP_REPLICA_STORAGE_CLASS: default the cluster's default class.
 * - DBKEEP_REPLICA_ACCESS_MODES: comma-separated, default `ReadWriteOnce`.
 * - DBKEEP_REPLICA_NAMESPACE: default the pod's own namespace (or the kubeconfig context's).
 * - DBKEEP_REPLICA_SERVICE_ACCOUNT: the Jobs' ServiceAccount (it reads the Secrets a Repository
 *   references by secretKeyRef); default the namespace's `default`.
 * - DBKEEP_REPLICA_TEMPORAL_ADDRESS: Temporal as the Jobs' pods reach it; default TEMPORAL_ADDRESS.
 * The API access is the pod's ServiceAccount in a pod, else KUBECONFIG or ~/.kube/config.
 */
const replicaRuntimeSchema = z.discriminatedUnion('runtime', [
  z.strictObject({ runtime: z.literal('local') }),
  z.strictObject({
    runtime: z.literal('kubernetes'),
    image: z.string().min(1, 'required with DBKEEP_REPLICA_RUNTIME=kubernetes'),
    claimTemplate: z
      .string()
      .min(1, 'required with DBKEEP_REPLICA_RUNTIME=kubernetes')
      .refine((name) => name.includes(POD_ORDINAL_PLACEHOLDER), `must contain ${POD_ORDINAL_PLACEHOLDER}, or every replica would share one PVC`),
    size: z.string().regex(/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/, 'must be a Kubernetes quantity such as 20Gi'),
    storageClassName: z.string().min(1).optional(),
    accessModes: z.array(z.enum(['ReadWriteOnce', 'ReadWriteOncePod', 'ReadWriteMany', 'ReadOnlyMany'])).min(1).default(['ReadWriteOnce']),
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name').max(63).optional(),
    serviceAccountName: z.string().min(1).optional(),
    temporalAddress: z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port').optional(),
  }),
]);

const REPLICA_ENV_NAMES: Record<string, string> = {
  runtime: 'DBKEEP_REPLICA_RUNTIME',
  image: 'DBKEEP_REPLICA_IMAGE',
  claimTemplate: 'DBKEEP_REPLICA_CLAIM_TEMPLATE',
  size: 'DBKEEP_REPLICA_STORAGE_SIZE',
  storageClassName: 'DBKEEP_REPLICA_STORAGE_CLASS',
  accessModes: 'DBKEEP_REPLICA_ACCESS_MODES',
  namespace: 'DBKEEP_REPLICA_NAMESPACE',
  serviceAccountName: 'DBKEEP_REPLICA_SERVICE_ACCOUNT',
  temporalAddress: 'DBKEEP_REPLICA_TEMPORAL_ADDRESS',
};

/** Where a pod's ServiceAccount namespace is mounted. */
const POD_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export async function replicaWorkersFromEnvironment(settings: TemporalSettings, env: NodeJS.ProcessEnv = process.env): Promise<ReplicaWorkerLauncher> {
  const parsed = replicaRuntimeSchema.safeParse({
    runtime: env.DBKEEP_REPLICA_RUNTIME || 'local',
    ...(env.DBKEEP_REPLICA_RUNTIME === 'kubernetes'
      ? {
          image: env.DBKEEP_REPLICA_IMAGE ?? '',
          claimTemplate: env.DBKEEP_REPLICA_CLAIM_TEMPLATE ?? '',
          size: env.DBKEEP_REPLICA_STORAGE_SIZE ?? '',
          storageClassName: env.DBKEEP_REPLICA_STORAGE_CLASS || undefined,
          accessModes: env.DBKEEP_REPLICA_ACCESS_MODES ? env.DBKEEP_REPLICA_ACCESS_MODES.split(',').map((mode) => mode.trim()) : undefined,
          namespace: env.DBKEEP_REPLICA_NAMESPACE || undefined,
          serviceAccountName: env.DBKEEP_REPLICA_SERVICE_ACCOUNT || undefined,
          temporalAddress: env.DBKEEP_REPLICA_TEMPORAL_ADDRESS || undefined,
        }
      : {}),
  });
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => `${REPLICA_ENV_NAMES[String(issue.path[0])] ?? String(issue.path[0])}: ${formatZodIssues([{ ...issue, path: [] }])}`);
    throw new Error(`replica worker settings: ${messages.join('; ')}`);
  }
  const replica = parsed.data;
  if (replica.runtime === 'local') return localReplicaWorkers(settings);

  // Loaded only here: the package is ESM and large, and local workers never need it.
  const kubernetes = await import('@kubernetes/client-node');
  const config = new kubernetes.KubeConfig();
  // In a pod, the pod's ServiceAccount; elsewhere KUBECONFIG or ~/.kube/config.
  config.loadFromDefault();
  const namespace =
    replica.namespace ?? (env.KUBERNETES_SERVICE_HOST ? readFileSync(POD_NAMESPACE_FILE, 'utf8').trim() : undefined) ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  return new KubernetesJobReplicaWorkers({
    api: { core: config.makeApiClient(kubernetes.CoreV1Api), batch: config.makeApiClient(kubernetes.BatchV1Api) },
    namespace,
    image: replica.image,
    claimTemplate: { name: replica.claimTemplate, size: replica.size, storageClassName: replica.storageClassName, accessModes: replica.accessModes },
    temporal: { address: replica.temporalAddress ?? settings.address, namespace: settings.namespace },
    serviceAccountName: replica.serviceAccountName,
  });
}

/**
 * A replica worker: activities only, bound to one volume, polling the replica's own task
 * queue. Started by the main worker (embedded mode) or as a Kubernetes Job that mounts the PVC.
 */
export async function runReplicaWorker(settings: TemporalSettings & { volumeDir: string }): Promise<void> {
  const connection = await NativeConnection.connect({ address: settings.address });
  try {
    const worker = await Worker.create({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      activities: createReplicaWorkerOnlyActivities({ volumeDir: settings.volumeDir }),
      dataConverter: codecConverter(),
      maxConcurrentActivityTaskExecutions: 1,
      shutdownGraceTime: '20 seconds',
      maxHeartbeatThrottleInterval: '2 seconds',
    });
    await worker.run();
  } finally {
    await connection.close();
  }
}
