import { log } from '@temporalio/activity';
import type { BatchV1Api, CoreV1Api, DiscoveryV1Api, V1Job, V1OwnerReference } from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Engine } from '../domain/resources';
import {
  scratchServerImage,
  scratchServerImageEnv,
  scratchServerRootPasswordEnv,
  scratchServerStorageRequest,
} from '../domain/scratch-server-image';
import {
  describeJobPods,
  heartbeat,
  jobEnded,
  kubernetesError,
  RESTRICTED_CONTAINER_SECURITY_CONTEXT,
  restrictedPodSecurityContext,
  statusCode,
} from './kubernetes-jobs';
import type { ScratchServer, ScratchServerLauncher, ScratchServerRequest } from './scratch-servers';

/** The labels on every Job, Service and Secret of a scratch server: `kubectl get jobs,services,secrets -l dbkeep.io/drill` lists them. */
export const SCRATCH_SERVER_LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  /** A hash of the drill's workflow id: a later attempt of the drill removes what an earlier one left. */
  drill: 'dbkeep.io/drill',
  /** The server's own name, which its headless Service selects its pod by. */
  server: 'dbkeep.io/scratch-server',
} as const;
const MANAGED_BY_DBKEEP = 'dbkeep';
/** The key of root's password in the server's Secret. */
export const ROOT_PASSWORD_KEY = 'root-password';
/** The official images keep their data directory here: the emptyDir's mount. */
const DATA_MOUNT_PATH = '/var/lib/mysql';
const SERVER_PORT = 3306;
const PORT_NAME = 'mysql';
// A drill's activity may run 24 hours (its start-to-close timeout); a server left by a worker
// that died and whose drill never ran again is ended by Kubernetes after that, and removed a
// minute later with its Service and Secret (they are owned by the Job).
const JOB_ACTIVE_DEADLINE_SECONDS = 25 * 3600;
const JOB_TTL_AFTER_FINISHED_SECONDS = 60;
const DEFAULT_READY_TIMEOUT_MS = 10 * 60_000;

/** The API as the worker reaches it, and the namespace where the Jobs, Services and Secrets go. */
export interface ScratchServerApiAccess {
  api: { core: CoreV1Api; batch: BatchV1Api; discovery: DiscoveryV1Api };
  namespace: string;
}

export interface KubernetesJobScratchServersOptions {
  /** Called by each start(): a worker that never drills on Kubernetes never loads the API client. */
  access: () => Promise<ScratchServerApiAccess>;
  /** Image per engine, with `{version}` for the snapshot's release (domain/scratch-server-image.ts). */
  images: Readonly<Record<Engine, string>>;
  /** The server's uid and gid: the official images' mysql user, 999. */
  runAs: { uid: number; gid: number };
  /** Image pull, initialization and the first start; default 10 minutes. */
  readyTimeoutMs?: number;
  pollIntervalMs?: number;
}

/**
 * Scratch servers as Kubernetes Jobs (docs/restore-drills.md): per drill, a Job running the
 * snapshot's engine and release from its image on an emptyDir, root's password a random one in
 * a Secret of its own, and a headless Service whose EndpointSlice gives the pod's address, which
 * the worker connects to directly (no DNS name needed). The Secret and the Service are owned by
 * the Job, so deleting the Job (stop(), or Kubernetes after activeDeadlineSeconds and the TTL)
 * removes all three; the worker needs no right to delete Secrets or Services.
 */
export class KubernetesJobScratchServers implements ScratchServerLauncher {
  constructor(private readonly options: KubernetesJobScratchServersOptions) {}

  async start(request: ScratchServerRequest): Promise<ScratchServer> {
    const image = scratchServerImage(this.options.images, request.engine, request.serverVersion);
    if ('problem' in image) throw permanentFailure(PermanentFailureType.InvalidInput, image.problem);
    return new ScratchServerJobs(this.options, await this.options.access()).start(request, image.image);
  }
}

/** The Jobs of one start(), with the API access it loaded. */
class ScratchServerJobs {
  constructor(
    private readonly options: KubernetesJobScratchServersOptions,
    private readonly access: ScratchServerApiAccess,
  ) {}

  async start(request: ScratchServerRequest, image: string): Promise<ScratchServer> {
    const drill = drillLabel(request.drillId);
    await this.removeServersOfDrill(drill);
    // Unique per attempt: the objects of an earlier attempt may still be on their way out.
    const name = `dbkeep-drill-${drill}-${randomBytes(3).toString('hex')}`;
    const labels = { [SCRATCH_SERVER_LABELS.managedBy]: MANAGED_BY_DBKEEP, [SCRATCH_SERVER_LABELS.drill]: drill };
    const rootPassword = randomBytes(24).toString('base64url');
    const job = await this.create(`Job ${name}`, () =>
      this.access.api.batch.createNamespacedJob({
        namespace: this.access.namespace,
        body: this.jobManifest(name, labels, image, request),
      }),
    );
    const stop = () => this.deleteJob(name);
    try {
      const owner: V1OwnerReference = { apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata!.uid! };
      await this.create(`Secret ${name}`, () =>
        this.access.api.core.createNamespacedSecret({
          namespace: this.access.namespace,
          body: { metadata: { name, labels, ownerReferences: [owner] }, type: 'Opaque', stringData: { [ROOT_PASSWORD_KEY]: rootPassword } },
        }),
      );
      await this.create(`Service ${name}`, () =>
        this.access.api.core.createNamespacedService({
          namespace: this.access.namespace,
          body: {
            metadata: { name, labels, ownerReferences: [owner] },
            spec: {
              clusterIP: 'None',
              selector: { [SCRATCH_SERVER_LABELS.server]: name },
              ports: [{ name: PORT_NAME, port: SERVER_PORT, targetPort: SERVER_PORT }],
            },
          },
        }),
      );
      const address = await this.waitUntilServing(name, rootPassword, request.signal);
      log.info('scratch server started', { job: `${this.access.namespace}/${name}`, image });
      return { address, rootPassword, description: `Job ${this.access.namespace}/${name} (${image})`, stop };
    } catch (error) {
      await stop().catch((stopError: unknown) => log.warn('scratch server Job not deleted', { job: name, error: String(stopError) }));
      throw error;
    }
  }

  private jobManifest(name: string, labels: Record<string, string>, image: string, request: ScratchServerRequest): V1Job {
    const { engine } = request;
    const { runAs } = this.options;
    return {
      metadata: { name, labels },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: JOB_ACTIVE_DEADLINE_SECONDS,
        ttlSecondsAfterFinished: JOB_TTL_AFTER_FINISHED_SECONDS,
        template: {
          metadata: { labels: { ...labels, [SCRATCH_SERVER_LABELS.server]: name } },
          spec: {
            restartPolicy: 'Never',
            // The server needs nothing from the API.
            automountServiceAccountToken: false,
            securityContext: restrictedPodSecurityContext(runAs),
            containers: [
              {
                name: 'server',
                image,
                env: [
                  { name: scratchServerRootPasswordEnv(engine), valueFrom: { secretKeyRef: { name, key: ROOT_PASSWORD_KEY } } },
                  ...scratchServerImageEnv(engine),
                ],
                ports: [{ name: PORT_NAME, containerPort: SERVER_PORT }],
                resources: { requests: { 'ephemeral-storage': scratchServerStorageRequest(request.dataBytes) } },
                securityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT,
                volumeMounts: [{ name: 'data', mountPath: DATA_MOUNT_PATH }],
              },
            ],
            volumes: [{ name: 'data', emptyDir: {} }],
          },
        },
      },
    };
  }

  private async create<T>(what: string, call: () => Promise<T>): Promise<T> {
    return call().catch((error: unknown) => {
      throw kubernetesError(error, `creating scratch server ${what} in ${this.access.namespace}`);
    });
  }

  /** The Jobs an earlier attempt of this drill left (its worker was killed), deleted with what they own. */
  private async removeServersOfDrill(drill: string): Promise<void> {
    const { batch } = this.access.api;
    const jobs = await batch
      .listNamespacedJob({ namespace: this.access.namespace, labelSelector: `${SCRATCH_SERVER_LABELS.drill}=${drill}` })
      .catch((error: unknown) => {
        throw kubernetesError(error, `listing scratch server Jobs in ${this.access.namespace}`);
      });
    for (const job of jobs.items) {
      if (job.metadata?.deletionTimestamp) continue;
      log.info('removing the scratch server an earlier attempt of the drill left', { job: job.metadata?.name });
      await this.deleteJob(job.metadata!.name!);
    }
  }

  private async deleteJob(name: string): Promise<void> {
    try {
      // Background: the Job goes at once; its pod, Service and Secret follow (garbage collection).
      await this.access.api.batch.deleteNamespacedJob({ name, namespace: this.access.namespace, propagationPolicy: 'Background' });
    } catch (error) {
      if (statusCode(error) !== 404) throw kubernetesError(error, `deleting scratch server Job ${this.access.namespace}/${name}`);
    }
  }

  /**
   * Until root can log in at the address the Service's EndpointSlice gives: the images start a
   * server without networking to initialize the data directory first, so a ready endpoint is not
   * yet a server with root's password. A Job that ends first fails the wait at once.
   */
  private async waitUntilServing(name: string, rootPassword: string, signal: AbortSignal): Promise<{ host: string; port: number }> {
    const { namespace } = this.access;
    const timeoutMs = this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    let lastRefusal = '';
    for (;;) {
      signal.throwIfAborted();
      const job = await this.access.api.batch.readNamespacedJob({ name, namespace }).catch((error: unknown) => {
        throw kubernetesError(error, `reading scratch server Job ${namespace}/${name}`);
      });
      const ended = jobEnded(job);
      if (ended !== undefined) throw new Error(`scratch server Job ${namespace}/${name} ended before it served: ${ended}`);
      const address = await this.readyAddress(name);
      if (address !== undefined) {
        const refusal = await loginRefusal(address, rootPassword);
        if (refusal === undefined) return address;
        lastRefusal = `; ${address.host}:${address.port} answers: ${refusal}`;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `scratch server Job ${namespace}/${name} did not serve within ${timeoutMs / 1000} s` +
            `${address === undefined ? ' (no ready endpoint)' : lastRefusal}` +
            `${await describeJobPods(this.access.api.core, namespace, name)}; check \`kubectl -n ${namespace} describe job ${name}\``,
        );
      }
      heartbeat({ phase: 'starting the scratch server', job: name });
      await sleep(this.options.pollIntervalMs ?? 1_000, undefined, { signal });
    }
  }

  /** The first ready endpoint of the server's Service, from its EndpointSlices. */
  private async readyAddress(name: string): Promise<{ host: string; port: number } | undefined> {
    const slices = await this.access.api.discovery
      .listNamespacedEndpointSlice({ namespace: this.access.namespace, labelSelector: `kubernetes.io/service-name=${name}` })
      .catch((error: unknown) => {
        throw kubernetesError(error, `listing the EndpointSlices of scratch server Service ${this.access.namespace}/${name}`);
      });
    for (const slice of slices.items) {
      const port = slice.ports?.find((candidate) => candidate.name === PORT_NAME)?.port;
      const endpoint = slice.endpoints.find((candidate) => candidate.conditions?.ready !== false && candidate.addresses.length > 0);
      if (port !== undefined && endpoint) return { host: endpoint.addresses[0]!, port };
    }
    return undefined;
  }
}

/** The label of a drill's workflow id: a hash, as ids hold "/" and may be long. */
export function drillLabel(drillId: string): string {
  return createHash('sha256').update(drillId).digest('hex').slice(0, 16);
}

/** Why root cannot log in yet, or undefined once it can. TLS when the server has it, without verifying: the image's certificate is its own. */
async function loginRefusal(address: { host: string; port: number }, rootPassword: string): Promise<string | undefined> {
  const attempt = (ssl: boolean) =>
    mysql.createConnection({
      host: address.host,
      port: address.port,
      user: 'root',
      password: rootPassword,
      connectTimeout: 5_000,
      ...(ssl ? { ssl: { rejectUnauthorized: false } } : {}),
    });
  try {
    const connection = await attempt(true).catch((error: unknown) => {
      if ((error as { code?: string }).code === 'HANDSHAKE_NO_SSL_SUPPORT') return attempt(false);
      throw error;
    });
    await connection.end();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? 'no answer';
  }
}
