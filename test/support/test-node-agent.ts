import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  BatchV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
  type V1Container,
  type V1Secret,
  type V1Service,
  type V1EnvVar,
  type V1SecretVolumeSource,
  type V1Job,
  type V1JobCondition,
} from '@kubernetes/client-node';
import { projectRoot } from '../../pipeline/project-root';
import { startDatabaseInstance, type DatabaseRelease } from '../../stack/database-instance';
import { startPodNetworkRelay } from './pod-network-relay';
import { writeServiceAccountKubeconfig } from './service-account-kubeconfig';

/**
 * TEST DOUBLE of the kube-scheduler, the Job controller and the kubelet, for a cluster that is
 * only a kube-apiserver (stack/kube-apiserver.ts): no node exists here, so nothing would ever
 * run a Job's pod. This agent watches the Jobs dbkeep creates (label
 * app.kubernetes.io/managed-by=dbkeep) through the real API server and runs each Job's single
 * container as a local process:
 *
 * - every PersistentVolumeClaim the pod mounts becomes the directory `<dir>/pvc/<claim>` and
 *   is marked Bound through the PVC's status subresource (as a provisioner and the PV
 *   controller would); every Secret volume becomes a directory `<dir>/secrets/<job>/<volume>`
 *   holding a file per key, with the volume's defaultMode;
 * - the command is the container's with the image's paths mapped to this checkout
 *   (`node` → this Node, `/app/bin/dbkeep.js` → bin/dbkeep.js, the image's tini dropped: the
 *   agent is the parent) and each volume's mountPath replaced by its directory;
 * - the environment is the image's PATH and HOME plus the container's `envFrom` Secrets and its
 *   `env`, with `valueFrom.secretKeyRef` / `configMapKeyRef` read from the API server as the
 *   kubelet does, and each volume's mountPath replaced by its directory in the values;
 * - the pod's ServiceAccount (`serviceAccountName`, else `default`) is the process's identity
 *   in the API, as the kubelet's projected token makes it: a TokenRequest token for it in a
 *   kubeconfig `<dir>/serviceaccounts/<job>.kubeconfig` whose context's namespace is the Job's,
 *   given as KUBECONFIG (the in-cluster files' paths cannot be mapped) and readable by the
 *   process's user only. So the process has that ServiceAccount's RBAC, not the agent's; a
 *   ServiceAccount that does not exist fails the Job, and automountServiceAccountToken: false
 *   gives no access;
 * - the security context's users, as far as a local process can have them: runAsNonRoot refuses
 *   a container that would run as root (no runAsUser counts as root: there is no image to read
 *   a USER from); when the agent runs as root, the process runs as runAsUser and runAsGroup, and
 *   fsGroup is applied to each claim's directory as the kubelet does (group, group rw, setgid
 *   directories). The process has runAsGroup as its only group (Node's spawn cannot add
 *   supplementary ones), so an fsGroup other than runAsGroup is refused;
 * - the Job's status (startTime, active, then succeeded or failed with the matching
 *   conditions) is written through the Job's status subresource;
 * - deleting the Job (or the agent's stop) sends SIGTERM, then SIGKILL after the pod's
 *   terminationGracePeriodSeconds.
 *
 * A Job whose image `serverImages` maps to a database release (a drill's scratch server,
 * activities/kubernetes-scratch-servers.ts) runs that release's server instead, as the image's
 * entrypoint would: on a new data directory in the directory of its `emptyDir`, root's password
 * from MARIADB_ROOT_PASSWORD or MYSQL_ROOT_PASSWORD (a secretKeyRef is read again until its
 * Secret exists, as the kubelet retries), on a free port of 127.0.0.1 and as the agent's own
 * user (stack/database-instance.ts). Playing the endpoint controller, it then writes an
 * EndpointSlice for every Service selecting the pod's labels, with the address and port of a
 * relay to it on this machine's non-loopback address (test/support/pod-network-relay.ts: the API
 * server refuses loopback endpoints), the pod's IP here; its port is not the container's.
 *
 * Playing the garbage collector, it deletes the Secrets and Services a Job owns
 * (ownerReferences) once the Job is deleted.
 *
 * It is not a kubelet: no Pod objects, no images, no resource limits, no capabilities or
 * seccomp, one container per Job, no restarts (dbkeep's replica Jobs have backoffLimit 0 anyway).
 */
export interface TestNodeAgent {
  /** Where the agent keeps a claim's data: what a PV of that claim would hold. */
  claimDirectory(claimName: string): string;
  /** Every Job the agent has run, as it first saw it, by name. */
  readonly jobsRun: ReadonlyMap<string, V1Job>;
  /** The names of the Jobs whose process or server runs now. */
  running(): string[];
  stop(): Promise<void>;
}

export interface TestNodeAgentOptions {
  kubeconfigPath: string;
  namespace: string;
  /**
   * Claims under `<dir>/pvc/`, process logs under `<dir>/logs/`. The parents of dir must be
   * searchable by the users the Jobs run as (a mkdtemp directory is not: chmod it 0755).
   */
  dir: string;
  /** The database release an image runs, for Jobs of database images; undefined: the image is dbkeep's. */
  serverImages?: (image: string) => DatabaseRelease | undefined;
}

const IMAGE_CLI = '/app/bin/dbkeep.js';
const IMAGE_INIT = ['/usr/bin/tini', '--'];
const LABEL_SELECTOR = 'app.kubernetes.io/managed-by=dbkeep';

interface RunningJob {
  uid: string;
  name: string;
  /** Ends what runs: SIGTERM, then SIGKILL after the grace period; a server's clean shutdown. */
  stop(): Promise<void>;
}

const SERVER_PASSWORD_ENV = ['MARIADB_ROOT_PASSWORD', 'MYSQL_ROOT_PASSWORD'];
/** How long a secretKeyRef whose Secret does not exist yet is read again, as the kubelet retries a pod's start. */
const SECRET_WAIT_MS = 60_000;

/** Only root can run a process as another user, or give a directory to a group. */
const runsAsRoot = process.getuid?.() === 0;

/**
 * Who the container runs as, from the pod's and the container's securityContext (the
 * container's wins), refused with the kubelet's words when runAsNonRoot cannot hold.
 */
function containerUser(job: V1Job, container: V1Container): { uid?: number; gid: number; fsGroup?: number } {
  const pod = job.spec?.template.spec?.securityContext;
  const uid = container.securityContext?.runAsUser ?? pod?.runAsUser;
  const gid = container.securityContext?.runAsGroup ?? pod?.runAsGroup ?? 0;
  if ((container.securityContext?.runAsNonRoot ?? pod?.runAsNonRoot) && (uid ?? 0) === 0) {
    throw new Error(
      uid === undefined ? 'container has runAsNonRoot and image will run as root' : "container's runAsUser breaks non-root policy",
    );
  }
  const fsGroup = pod?.fsGroup;
  if (fsGroup !== undefined && fsGroup !== gid)
    throw new Error(`fsGroup ${fsGroup} differs from runAsGroup ${gid}, which this agent cannot run`);
  return { uid, gid, fsGroup };
}

/** The kubelet's fsGroup ownership: the group on everything, rw for it, and directories searchable and setgid. */
function giveToGroup(entry: string, gid: number): void {
  const stat = lstatSync(entry);
  if (stat.isSymbolicLink()) return;
  chownSync(entry, stat.uid, gid);
  chmodSync(entry, (stat.mode & 0o7777) | (stat.isDirectory() ? 0o2770 : 0o660));
  if (stat.isDirectory()) for (const child of readdirSync(entry)) giveToGroup(path.join(entry, child), gid);
}

/** A server's EndpointSlices: one per Service selecting its pod, published once. */
interface ServedEndpoints {
  publish(service: V1Service): Promise<void>;
}

async function publishEndpoints(endpoints: ServedEndpoints, service: V1Service, job: string): Promise<void> {
  await endpoints.publish(service).catch((error: unknown) => console.error(`test node agent: endpoints of Job ${job}:`, error));
}

async function stopProcess(child: ChildProcess, exited: Promise<number | null>, gracePeriodMs: number): Promise<void> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), gracePeriodMs);
  await exited;
  clearTimeout(timer);
}

export async function startTestNodeAgent(options: TestNodeAgentOptions): Promise<TestNodeAgent> {
  const { namespace } = options;
  const config = new KubeConfig();
  config.loadFromFile(options.kubeconfigPath);
  const core = config.makeApiClient(CoreV1Api);
  const batch = config.makeApiClient(BatchV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  for (const dir of [
    options.dir,
    path.join(options.dir, 'pvc'),
    path.join(options.dir, 'logs'),
    path.join(options.dir, 'serviceaccounts'),
    path.join(options.dir, 'emptydir'),
  ]) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
  }

  const claimDirectory = (claimName: string) => path.join(options.dir, 'pvc', claimName);
  const jobsRun = new Map<string, V1Job>();
  /** By Job uid: a Job seen again (its status updates, a relist) is started only once. */
  const started = new Set<string>();
  /** By Job uid: deleted before or while its process started. */
  const deleted = new Set<string>();
  const running = new Map<string, RunningJob>();
  let stopped = false;

  const patchJobStatus = (name: string, status: V1Job['status']) =>
    batch.patchNamespacedJobStatus({ name, namespace, body: { status } }, mergePatch).catch((error: unknown) => {
      // Deleted meanwhile: nothing left to report to.
      if ((error as { code?: number }).code !== 404) console.error(`test node agent: updating status of Job ${name}:`, error);
    });

  async function bindClaims(job: V1Job, fsGroup: number | undefined): Promise<Map<string, string>> {
    const directories = new Map<string, string>();
    for (const volume of job.spec?.template.spec?.volumes ?? []) {
      if (volume.secret) {
        directories.set(volume.name, await materializeSecret(job.metadata!.name!, volume.name, volume.secret, fsGroup));
        continue;
      }
      const claimName = volume.persistentVolumeClaim?.claimName;
      if (!claimName) throw new Error(`volume ${volume.name}: the test node agent supports persistentVolumeClaim and secret volumes only`);
      const claim = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace });
      const directory = claimDirectory(claimName);
      mkdirSync(directory, { recursive: true });
      if (fsGroup !== undefined && runsAsRoot) giveToGroup(directory, fsGroup);
      if (claim.status?.phase !== 'Bound') {
        await core.patchNamespacedPersistentVolumeClaimStatus(
          {
            name: claimName,
            namespace,
            body: { status: { phase: 'Bound', accessModes: claim.spec?.accessModes, capacity: claim.spec?.resources?.requests } },
          },
          mergePatch,
        );
      }
      directories.set(volume.name, directory);
    }
    return directories;
  }

  /** A Secret volume as the kubelet writes it: a file per key, owned by fsGroup when there is one. */
  async function materializeSecret(
    jobName: string,
    volumeName: string,
    source: V1SecretVolumeSource,
    fsGroup: number | undefined,
  ): Promise<string> {
    const secret = await core.readNamespacedSecret({ name: source.secretName!, namespace });
    const directory = path.join(options.dir, 'secrets', jobName, volumeName);
    mkdirSync(directory, { recursive: true });
    for (const [key, encoded] of Object.entries(secret.data ?? {})) {
      const file = path.join(directory, key);
      writeFileSync(file, Buffer.from(encoded, 'base64'), { mode: source.defaultMode ?? 0o644 });
      if (fsGroup !== undefined && runsAsRoot) chownSync(file, 0, fsGroup);
    }
    return directory;
  }

  /** The kubeconfig of the pod's ServiceAccount, owned by the container's user; undefined when the pod mounts no token. */
  async function podServiceAccountKubeconfig(job: V1Job, user: { uid?: number; gid: number }): Promise<string | undefined> {
    const pod = job.spec?.template.spec;
    if (pod?.automountServiceAccountToken === false) return undefined;
    const name = pod?.serviceAccountName || 'default';
    const file = path.join(options.dir, 'serviceaccounts', `${job.metadata!.name!}.kubeconfig`);
    try {
      await writeServiceAccountKubeconfig(config, { namespace, name, file });
    } catch (error) {
      throw new Error(`no token for the pod's ServiceAccount ${namespace}/${name}: ${(error as Error).message}`);
    }
    if (runsAsRoot && user.uid !== undefined) chownSync(file, user.uid, user.gid);
    return file;
  }

  async function resolveEnv(
    container: V1Container,
    mountedPath: (value: string) => string,
    kubeconfig: string | undefined,
  ): Promise<NodeJS.ProcessEnv> {
    // What the image's environment would give: its PATH (with the database tools) and a HOME.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: options.dir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    if (kubeconfig !== undefined) env.KUBECONFIG = kubeconfig;
    for (const source of container.envFrom ?? []) {
      if (!source.secretRef?.name || source.prefix) throw new Error('envFrom: the test node agent supports secretRef without prefix only');
      const secret = await core.readNamespacedSecret({ name: source.secretRef.name, namespace });
      for (const [key, encoded] of Object.entries(secret.data ?? {})) env[key] = Buffer.from(encoded, 'base64').toString('utf8');
    }
    for (const variable of container.env ?? []) env[variable.name] = mountedPath(await envValue(variable));
    return env;
  }

  async function envValue(variable: V1EnvVar): Promise<string> {
    if (variable.value !== undefined) return variable.value;
    const secretKey = variable.valueFrom?.secretKeyRef;
    if (secretKey) {
      const secret = await readSecretOnceItExists(secretKey.name!);
      const encoded = secret.data?.[secretKey.key];
      if (encoded === undefined) throw new Error(`env ${variable.name}: Secret ${secretKey.name} has no key ${secretKey.key}`);
      return Buffer.from(encoded, 'base64').toString('utf8');
    }
    const configMapKey = variable.valueFrom?.configMapKeyRef;
    if (configMapKey) {
      const configMap = await core.readNamespacedConfigMap({ name: configMapKey.name!, namespace });
      const value = configMap.data?.[configMapKey.key];
      if (value === undefined) throw new Error(`env ${variable.name}: ConfigMap ${configMapKey.name} has no key ${configMapKey.key}`);
      return value;
    }
    throw new Error(`env ${variable.name}: the test node agent supports value, secretKeyRef and configMapKeyRef only`);
  }

  /** A Secret from the watched ones; one that does not exist yet is waited for (its add event), as the kubelet retries. */
  function readSecretOnceItExists(name: string): Promise<V1Secret> {
    const known = secrets.get(name, namespace);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        secretWaiters.get(name)?.delete(arrived);
        reject(new Error(`Secret ${namespace}/${name} did not appear within ${SECRET_WAIT_MS / 1000} s`));
      }, SECRET_WAIT_MS);
      const arrived = (secret: V1Secret) => {
        clearTimeout(timer);
        resolve(secret);
      };
      secretWaiters.set(name, (secretWaiters.get(name) ?? new Set()).add(arrived));
    });
  }

  /** The container's argv as it would run in dbkeep's image, mapped to this checkout and the claims' directories. */
  function localArgv(container: V1Container, mountedPath: (value: string) => string): string[] {
    let argv = [...(container.command ?? []), ...(container.args ?? [])];
    if (IMAGE_INIT.every((part, index) => argv[index] === part)) argv = argv.slice(IMAGE_INIT.length);
    return argv.map((arg, index) => {
      if (index === 0 && arg === 'node') return process.execPath;
      if (arg === IMAGE_CLI) return path.join(projectRoot(), 'bin', 'dbkeep.js');
      return mountedPath(arg);
    });
  }

  /** Maps a path inside the container to the directory of the volume mounted there. */
  function mountedPathMapper(container: V1Container, directories: Map<string, string>): (value: string) => string {
    const mounts = (container.volumeMounts ?? []).map((mount) => ({ from: mount.mountPath, to: directories.get(mount.name)! }));
    return (value) => {
      const mount = mounts.find((m) => value === m.from || value.startsWith(`${m.from}/`));
      return mount ? mount.to + value.slice(mount.from.length) : value;
    };
  }

  async function runJob(job: V1Job): Promise<void> {
    const name = job.metadata!.name!;
    const uid = job.metadata!.uid!;
    const containers = job.spec?.template.spec?.containers ?? [];
    // The API server keeps whole seconds, and startTime may not change once set.
    const startTime = new Date(Math.floor(Date.now() / 1000) * 1000);
    try {
      if (containers.length !== 1)
        throw new Error(`the test node agent runs Jobs of exactly one container, ${name} has ${containers.length}`);
      const container = containers[0]!;
      const release = options.serverImages?.(container.image ?? '');
      if (release !== undefined) {
        await runServerJob(job, container, release, startTime);
        return;
      }
      const user = containerUser(job, container);
      const directories = await bindClaims(job, user.fsGroup);
      const mountedPath = mountedPathMapper(container, directories);
      const [command, ...args] = localArgv(container, mountedPath);
      const env = await resolveEnv(container, mountedPath, await podServiceAccountKubeconfig(job, user));
      if (stopped || deleted.has(uid)) return;
      const logFd = openSync(path.join(options.dir, 'logs', `${name}.log`), 'a');
      const child = spawn(command!, args, {
        env,
        stdio: ['ignore', logFd, logFd],
        ...(runsAsRoot && user.uid !== undefined ? { uid: user.uid, gid: user.gid } : {}),
      });
      closeSync(logFd);
      const exited = new Promise<number | null>((resolve) => {
        child.once('error', () => resolve(127));
        child.once('exit', (code, signal) => resolve(signal ? 128 : code));
      });
      const gracePeriodMs = (job.spec?.template.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
      running.set(uid, { uid, name, stop: () => stopProcess(child, exited, gracePeriodMs) });
      await patchJobStatus(name, { startTime, active: 1, ready: 1 });
      const code = await exited;
      running.delete(uid);
      await finishJob(name, code === 0 ? undefined : `the container exited with ${code}`);
    } catch (error) {
      running.delete(uid);
      await finishJob(name, `the test node agent could not run it: ${(error as Error).message}`);
    }
  }

  /**
   * A database image's Job: the release's server on the emptyDir's directory with root's
   * password from the container's environment, then an EndpointSlice for each Service that
   * selects the pod, now and as Services are added while it runs.
   */
  async function runServerJob(job: V1Job, container: V1Container, release: DatabaseRelease, startTime: Date): Promise<void> {
    const name = job.metadata!.name!;
    const uid = job.metadata!.uid!;
    const volumes = job.spec?.template.spec?.volumes ?? [];
    const emptyDir = volumes.find((volume) => volume.emptyDir !== undefined);
    if (volumes.length !== 1 || !emptyDir) throw new Error('a database image Job here has exactly one volume, an emptyDir');
    const passwordVariable = (container.env ?? []).find((variable) => SERVER_PASSWORD_ENV.includes(variable.name));
    if (!passwordVariable) throw new Error(`a database image Job here gives root's password in ${SERVER_PASSWORD_ENV.join(' or ')}`);
    const rootPassword = await envValue(passwordVariable);
    // Short: the server's socket lives in it, and socket paths are limited.
    const dir = path.join(options.dir, 'emptydir', uid.slice(0, 8));
    const instance = await startDatabaseInstance({ release, rootPassword, dir });
    if (stopped || deleted.has(uid)) {
      await instance.stop();
      return;
    }
    const relay = await startPodNetworkRelay(instance.port);
    const published = new Set<string>();
    const podLabels = job.spec?.template.metadata?.labels ?? {};
    const endpoints: ServedEndpoints = {
      async publish(service) {
        const selector = service.spec?.selector;
        const serviceName = service.metadata!.name!;
        if (!selector || published.has(serviceName) || !Object.entries(selector).every(([key, value]) => podLabels[key] === value)) return;
        published.add(serviceName);
        await discovery.createNamespacedEndpointSlice({
          namespace,
          body: {
            metadata: { name: `${serviceName}-agent`, labels: { 'kubernetes.io/service-name': serviceName } },
            addressType: 'IPv4',
            endpoints: [{ addresses: [relay.host], conditions: { ready: true } }],
            ports: (service.spec?.ports ?? []).map((port) => ({ name: port.name, port: relay.port, protocol: 'TCP' })),
          },
        });
      },
    };
    servedEndpoints.set(uid, endpoints);
    // The Services there now; those created later come as the informer's add events.
    for (const service of services.list(namespace)) await publishEndpoints(endpoints, service, name);
    running.set(uid, {
      uid,
      name,
      stop: async () => {
        servedEndpoints.delete(uid);
        relay.close();
        await instance.stop();
        for (const serviceName of published) {
          await discovery
            .deleteNamespacedEndpointSlice({ name: `${serviceName}-agent`, namespace })
            .catch((error: unknown) => console.error(`test node agent: deleting EndpointSlice of ${serviceName}:`, error));
        }
      },
    });
    await patchJobStatus(name, { startTime, active: 1, ready: 1 });
  }

  /** The garbage collector's part: what a deleted Job owned goes with it. */
  async function collectOwnedBy(jobUid: string): Promise<void> {
    const owned = (references: Array<{ uid: string }> | undefined) => (references ?? []).some((reference) => reference.uid === jobUid);
    const [secrets, services] = await Promise.all([core.listNamespacedSecret({ namespace }), core.listNamespacedService({ namespace })]);
    for (const secret of secrets.items.filter((item) => owned(item.metadata?.ownerReferences))) {
      await core.deleteNamespacedSecret({ name: secret.metadata!.name!, namespace }).catch(() => undefined);
    }
    for (const service of services.items.filter((item) => owned(item.metadata?.ownerReferences))) {
      await core.deleteNamespacedService({ name: service.metadata!.name!, namespace }).catch(() => undefined);
    }
  }

  /** The terminal status a Job controller would write: Complete, or Failed after its one pod failed (backoffLimit 0). */
  async function finishJob(name: string, failure: string | undefined): Promise<void> {
    const now = new Date();
    const condition = (type: string, reason: string, message = ''): V1JobCondition => ({
      type,
      status: 'True',
      reason,
      message,
      lastProbeTime: now,
      lastTransitionTime: now,
    });
    await patchJobStatus(
      name,
      failure === undefined
        ? {
            active: 0,
            ready: 0,
            succeeded: 1,
            completionTime: now,
            conditions: [condition('SuccessCriteriaMet', 'CompletionsReached'), condition('Complete', 'CompletionsReached')],
          }
        : {
            active: 0,
            ready: 0,
            failed: 1,
            conditions: [condition('FailureTarget', 'BackoffLimitExceeded', failure), condition('Failed', 'BackoffLimitExceeded', failure)],
          },
    );
  }

  async function terminate(uid: string): Promise<void> {
    deleted.add(uid);
    const job = running.get(uid);
    if (!job) return;
    await job.stop();
    running.delete(uid);
  }

  /** An informer that lists and watches again after a watch error (a closed connection, a restarting API server). */
  const watched = <T extends KubernetesObject>(informer: Informer<T> & ObjectCache<T>) => {
    informer.on('error', () => {
      if (!stopped) setTimeout(() => void informer.start(), 1_000);
    });
    return informer;
  };
  const secrets = watched(
    makeInformer<V1Secret>(config, `/api/v1/namespaces/${namespace}/secrets`, () => core.listNamespacedSecret({ namespace })),
  );
  /** Who waits for a Secret that does not exist yet, by name. */
  const secretWaiters = new Map<string, Set<(secret: V1Secret) => void>>();
  secrets.on('add', (secret) => {
    const name = secret.metadata!.name!;
    for (const arrived of secretWaiters.get(name) ?? []) arrived(secret);
    secretWaiters.delete(name);
  });
  const services = watched(
    makeInformer<V1Service>(config, `/api/v1/namespaces/${namespace}/services`, () => core.listNamespacedService({ namespace })),
  );
  /** The database image Jobs' servers, by Job uid: each publishes an EndpointSlice for a Service selecting it. */
  const servedEndpoints = new Map<string, ServedEndpoints>();
  services.on('add', (service) => {
    for (const [uid, endpoints] of servedEndpoints) void publishEndpoints(endpoints, service, running.get(uid)?.name ?? uid);
  });
  await Promise.all([secrets.start(), services.start()]);

  const informer = makeInformer<V1Job>(
    config,
    `/apis/batch/v1/namespaces/${namespace}/jobs`,
    () => batch.listNamespacedJob({ namespace, labelSelector: LABEL_SELECTOR }),
    LABEL_SELECTOR,
  );
  const consider = (job: V1Job) => {
    const uid = job.metadata?.uid;
    const name = job.metadata?.name;
    if (!uid || !name || started.has(uid)) return;
    if (job.metadata?.deletionTimestamp || job.status?.completionTime || (job.status?.failed ?? 0) > 0) return;
    started.add(uid);
    jobsRun.set(name, structuredClone(job));
    void runJob(job);
  };
  informer.on('add', consider);
  informer.on('update', (job) => {
    if (job.metadata?.deletionTimestamp) void terminate(job.metadata.uid!);
    else consider(job);
  });
  informer.on('delete', (job) => {
    const uid = job.metadata!.uid!;
    void terminate(uid).then(() =>
      collectOwnedBy(uid).catch((error: unknown) =>
        console.error(`test node agent: collecting what Job ${job.metadata?.name} owned:`, error),
      ),
    );
  });
  await watched(informer).start();

  return {
    claimDirectory,
    jobsRun,
    running: () => [...running.values()].map((job) => job.name),
    async stop() {
      stopped = true;
      await Promise.all([informer.stop(), secrets.stop(), services.stop()]);
      await Promise.all([...running.keys()].map((uid) => terminate(uid)));
    },
  };
}
