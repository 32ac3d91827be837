import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createActivities, createReplicaWorkerOnlyActivities } from '../activities';
import { DEFAULT_REPLICA_RUN_AS, KubernetesJobReplicaWorkers, REPLICA_VOLUME_MOUNT_PATH } from '../activities/kubernetes-replica-workers';
import { removeOrphanedScratchDirectories } from '../pipeline/scratch-directory';
import { LocalProcessReplicaWorkers, type ReplicaWorkerLauncher } from '../activities/replica-workers';
import { kubernetesNamespaceSchema } from '../domain/kubernetes-names';
import { formatZodIssues } from '../domain/resource-set';
import { POD_ORDINAL_PLACEHOLDER } from '../domain/session-ids';
import { accessModesSchema, storageQuantitySchema } from '../domain/volume-claim-template';
import type { TemporalSettings } from './temporal-settings';
import { kubernetesApiAccessLoader } from '../kubernetes/api-access';
import { payloadCodecFromEnvironment } from '../secrets/payload-codec';
import { dbkeepCliCommand, workerIsPolling } from './worker-processes';
import { createDbkeepWorker } from './dbkeep-worker';
import { scratchServersFromEnvironment } from './scratch-server-settings';
import { dbkeepWorkerInterceptors } from './activity-failures';
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
        scratchServers: scratchServersFromEnvironment(),
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
 * - The defaults of each restore's volumeClaimTemplate, for the fields it leaves out:
 *   DBKEEP_REPLICA_CLAIM_TEMPLATE, the PVC name with `${POD_ORDINAL}`, e.g. `data-galera-${POD_ORDINAL}`;
 *   DBKEEP_REPLICA_STORAGE_SIZE, each PVC's request, e.g. `20Gi`; DBKEEP_REPLICA_STORAGE_CLASS
 *   (else the cluster's default class); DBKEEP_REPLICA_ACCESS_MODES, comma-separated (else `ReadWriteOnce`).
 * - DBKEEP_REPLICA_RUN_AS_USER, DBKEEP_REPLICA_RUN_AS_GROUP: the database server's uid and gid,
 *   which the Jobs run as and the restored files get; default 999 (the official mariadb image's).
 * - DBKEEP_REPLICA_NAMESPACE: default the pod's own namespace (or the kubeconfig context's).
 * - DBKEEP_REPLICA_SERVICE_ACCOUNT: the Jobs' ServiceAccount (it reads the Secrets a Repository
 *   references by secretKeyRef); default the namespace's `default`.
 * - DBKEEP_REPLICA_TEMPORAL_ADDRESS: Temporal as the Jobs' pods reach it; default TEMPORAL_ADDRESS.
 * - What the Jobs need to resolve the references a Repository or this worker's settings hold,
 *   since only references travel to them: DBKEEP_REPLICA_ENV_FROM_SECRETS, comma-separated
 *   Secret names whose keys become environment variables (`{ env: ... }` references), and
 *   DBKEEP_REPLICA_SECRET_MOUNTS, comma-separated `secret:/absolute/path` pairs mounted
 *   read-only (`{ file: ... }` references, `tls.caFile`, age identities, the payload keyring),
 *   at the same paths as on this worker. A worker with DBKEEP_PAYLOAD_KEYRING_FILE passes that
 *   setting on to its Jobs, whose inputs are encrypted with it.
 * The API access is the pod's ServiceAccount in a pod, else KUBECONFIG or ~/.kube/config.
 */
// A Secret's name is a DNS subdomain (RFC 1123).
const kubernetesNameSchema = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a Secret name (lower-case RFC 1123 subdomain)');

const secretMountSchema = z
  .string()
  .regex(/^[^:]+:.+$/, 'must be secret:/absolute/path')
  .transform((pair) => ({ secretName: pair.slice(0, pair.indexOf(':')), mountPath: pair.slice(pair.indexOf(':') + 1) }))
  .pipe(
    z.object({
      secretName: kubernetesNameSchema,
      mountPath: z
        .string()
        .regex(/^\/[^:]*$/, 'must be an absolute path')
        .refine((p) => !p.split('/').includes('..'), 'must not contain ..')
        .refine(
          (p) => p !== REPLICA_VOLUME_MOUNT_PATH && !p.startsWith(`${REPLICA_VOLUME_MOUNT_PATH}/`),
          `must not be under the volume's ${REPLICA_VOLUME_MOUNT_PATH}`,
        ),
    }),
  );

const commaSeparated = (value: string | undefined) =>
  value
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
    : undefined;

const nonRootIdSchema = z.coerce
  .number()
  .int()
  .min(1, 'must not be 0: the Jobs run as non-root')
  .max(2 ** 31 - 1);

const replicaRuntimeSchema = z.discriminatedUnion('runtime', [
  z.strictObject({ runtime: z.literal('local') }),
  z.strictObject({
    runtime: z.literal('kubernetes'),
    image: z.string().min(1, 'required with DBKEEP_REPLICA_RUNTIME=kubernetes'),
    claimTemplate: z
      .string()
      .refine(
        (name) => name.includes(POD_ORDINAL_PLACEHOLDER),
        `must contain ${POD_ORDINAL_PLACEHOLDER}, or every replica would share one PVC`,
      )
      .optional(),
    size: storageQuantitySchema.optional(),
    storageClassName: z.string().min(1).optional(),
    accessModes: accessModesSchema.optional(),
    runAsUser: nonRootIdSchema.default(DEFAULT_REPLICA_RUN_AS.uid),
    runAsGroup: nonRootIdSchema.default(DEFAULT_REPLICA_RUN_AS.gid),
    namespace: kubernetesNamespaceSchema.optional(),
    serviceAccountName: z.string().min(1).optional(),
    temporalAddress: z
      .string()
      .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port')
      .optional(),
    envFromSecrets: z.array(kubernetesNameSchema).optional(),
    secretMounts: z.array(secretMountSchema).optional(),
    payloadKeyringFile: z.string().optional(),
  }),
]);

const REPLICA_ENV_NAMES: Record<string, string> = {
  runtime: 'DBKEEP_REPLICA_RUNTIME',
  image: 'DBKEEP_REPLICA_IMAGE',
  claimTemplate: 'DBKEEP_REPLICA_CLAIM_TEMPLATE',
  size: 'DBKEEP_REPLICA_STORAGE_SIZE',
  storageClassName: 'DBKEEP_REPLICA_STORAGE_CLASS',
  accessModes: 'DBKEEP_REPLICA_ACCESS_MODES',
  runAsUser: 'DBKEEP_REPLICA_RUN_AS_USER',
  runAsGroup: 'DBKEEP_REPLICA_RUN_AS_GROUP',
  namespace: 'DBKEEP_REPLICA_NAMESPACE',
  serviceAccountName: 'DBKEEP_REPLICA_SERVICE_ACCOUNT',
  temporalAddress: 'DBKEEP_REPLICA_TEMPORAL_ADDRESS',
  envFromSecrets: 'DBKEEP_REPLICA_ENV_FROM_SECRETS',
  secretMounts: 'DBKEEP_REPLICA_SECRET_MOUNTS',
  payloadKeyringFile: 'DBKEEP_PAYLOAD_KEYRING_FILE',
};

export async function replicaWorkersFromEnvironment(
  settings: TemporalSettings,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReplicaWorkerLauncher> {
  const parsed = replicaRuntimeSchema.safeParse({
    runtime: env.DBKEEP_REPLICA_RUNTIME || 'local',
    ...(env.DBKEEP_REPLICA_RUNTIME === 'kubernetes'
      ? {
          image: env.DBKEEP_REPLICA_IMAGE ?? '',
          claimTemplate: env.DBKEEP_REPLICA_CLAIM_TEMPLATE || undefined,
          size: env.DBKEEP_REPLICA_STORAGE_SIZE || undefined,
          storageClassName: env.DBKEEP_REPLICA_STORAGE_CLASS || undefined,
          accessModes: commaSeparated(env.DBKEEP_REPLICA_ACCESS_MODES),
          namespace: env.DBKEEP_REPLICA_NAMESPACE || undefined,
          serviceAccountName: env.DBKEEP_REPLICA_SERVICE_ACCOUNT || undefined,
          temporalAddress: env.DBKEEP_REPLICA_TEMPORAL_ADDRESS || undefined,
          runAsUser: env.DBKEEP_REPLICA_RUN_AS_USER || undefined,
          runAsGroup: env.DBKEEP_REPLICA_RUN_AS_GROUP || undefined,
          envFromSecrets: commaSeparated(env.DBKEEP_REPLICA_ENV_FROM_SECRETS),
          secretMounts: commaSeparated(env.DBKEEP_REPLICA_SECRET_MOUNTS),
          payloadKeyringFile: env.DBKEEP_PAYLOAD_KEYRING_FILE || undefined,
        }
      : {}),
  });
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => {
      const [field, index] = issue.path;
      const item = typeof index === 'number' ? ` item ${index + 1}` : '';
      return `${REPLICA_ENV_NAMES[String(field)] ?? String(field)}${item}: ${formatZodIssues([{ ...issue, path: [] }])}`;
    });
    throw new Error(`replica worker settings: ${messages.join('; ')}`);
  }
  const replica = parsed.data;
  if (replica.runtime === 'local') return localReplicaWorkers(settings);

  // In a pod, the pod's ServiceAccount and namespace; elsewhere KUBECONFIG or ~/.kube/config.
  const { config, client, defaultNamespace } = await kubernetesApiAccessLoader(env)();
  return new KubernetesJobReplicaWorkers({
    api: { core: config.makeApiClient(client.CoreV1Api), batch: config.makeApiClient(client.BatchV1Api) },
    namespace: replica.namespace ?? defaultNamespace,
    image: replica.image,
    defaultClaimTemplate: {
      name: replica.claimTemplate,
      size: replica.size,
      storageClassName: replica.storageClassName,
      accessModes: replica.accessModes,
    },
    runAs: { uid: replica.runAsUser, gid: replica.runAsGroup },
    temporal: { address: replica.temporalAddress ?? settings.address, namespace: settings.namespace },
    serviceAccountName: replica.serviceAccountName,
    envFromSecrets: replica.envFromSecrets,
    secretMounts: replica.secretMounts,
    env: replica.payloadKeyringFile ? [{ name: 'DBKEEP_PAYLOAD_KEYRING_FILE', value: replica.payloadKeyringFile }] : undefined,
  });
}

/**
 * A replica worker: activities only, bound to one volume, polling the replica's own task
 * queue. Started by the main worker (embedded mode) or as a Kubernetes Job that mounts the PVC.
 */
export async function runReplicaWorker(settings: TemporalSettings & { volumeDir: string }): Promise<void> {
  // A killed replica worker may have left the socket directory of its own server, or secret files.
  await removeOrphanedScratchDirectories();
  const connection = await NativeConnection.connect({ address: settings.address });
  try {
    const worker = await Worker.create({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      activities: createReplicaWorkerOnlyActivities({ volumeDir: settings.volumeDir }),
      interceptors: dbkeepWorkerInterceptors,
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
