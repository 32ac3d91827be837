import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  type V1ConfigMap,
  type V1Job,
  type V1PersistentVolumeClaim,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createActivities } from '../../activities';
import {
  KubernetesJobReplicaWorkers,
  MANAGED_BY_DBKEEP,
  REPLICA_LABELS,
  REPLICA_VOLUME_MOUNT_PATH,
  replicaJobName,
} from '../../activities/kubernetes-replica-workers';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { replicaActivityId, replicaTaskQueue } from '../../domain/session-ids';
import type { VolumeClaimTemplate } from '../../domain/volume-claim-template';
import { diffFingerprints, type DatabaseFingerprint } from '../../stack/database-fingerprint';
import { startKubeApiServer, type KubeApiServer } from '../../stack/kube-apiserver';
import { startMariaDbInstance, type MariaDbInstance } from '../../stack/mariadb-instance';
import { projectRoot } from '../../pipeline/project-root';
import { AesGcmPayloadCodec, type Keyring } from '../../secrets/payload-codec';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { createDbkeepWorker, workflowsPath } from '../../workers/dbkeep-worker';
import { replicaWorkersFromEnvironment } from '../../workers/run-worker';
import { configurationDocument, fingerprintDatabases, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { applyDeployBaseRbac, findRenderedObject } from '../support/kustomization-render';
import { writeServiceAccountKubeconfig } from '../support/service-account-kubeconfig';
import { startTestNodeAgent, type TestNodeAgent } from '../support/test-node-agent';

/**
 * A physical restore into 3 replicas the Kubernetes way: a PVC (from the restore's claim
 * template) and a Job per replica, created through a real kube-apiserver by
 * KubernetesJobReplicaWorkers. No node runs here, so the test node agent (a stand-in for
 * scheduler, Job controller and kubelet) runs each Job's `dbkeep replica-worker` locally on a
 * directory per PVC, as the Job's non-root user; a MariaDB server then starts on each of those
 * directories and must hold exactly the source's data. The launcher is configured from the
 * worker's environment as in production, payload encryption is on, and the Jobs get what they
 * need from Secrets only: the Repository's `{ env }` access key (envFrom), its `secretKeyRef`
 * secret key (read by the replica worker through the API) and the payload keyring (a Secret
 * volume), without which their worker could not read its inputs.
 *
 * Nothing here runs with more rights than deploy/base gives: its ServiceAccounts, Roles and
 * RoleBindings are applied into this test's namespace, the launcher and the worker's
 * secretKeyRef reads authenticate as the worker's ServiceAccount (a TokenRequest token), and
 * each Job's process as the Job's ServiceAccount, deploy/base's DBKEEP_REPLICA_SERVICE_ACCOUNT.
 * Only the test itself and the node agent (which plays the kubelet and the controllers) are admin.
 */
const NAMESPACE = 'databases';
const FIELD_MANAGER = 'dbkeep-replicas-test';
/** The Repository's access key, for envFrom: the Job's worker gets it in its environment. */
const S3_SECRET = 'dbkeep-s3';
/** The Repository's secret key, for secretKeyRef: each worker reads it through the API as its own ServiceAccount. */
const S3_SECRET_KEY_SECRET = 'dbkeep-s3-secret-key';
const KEYRING_SECRET = 'dbkeep-payload-keyring';
/** Where the worker's settings say the keyring is, and where the Jobs mount its Secret. */
const KEYRING_MOUNT = '/etc/dbkeep/keyring';
const keyring: Keyring = { active: 'k1', keys: { k1: randomBytes(32).toString('base64') } };
const codec = new AesGcmPayloadCodec(keyring);
/** The Repository's access key as an environment variable: the Job's pod gets it from S3_SECRET. */
const S3_ACCESS_KEY_ENV = 'DBKEEP_E2E_S3_ACCESS_KEY';
const DATABASES = ['shop'];
const REPLICAS = 3;
/** The restore's own claim template; the launcher's default (the worker's environment) says otherwise in every field. */
const CLAIM_TEMPLATE: VolumeClaimTemplate = {
  name: 'data-shop-${POD_ORDINAL}',
  storageClassName: 'restore-class',
  size: '2Gi',
  accessModes: ['ReadWriteOncePod'],
};
const DEFAULT_CLAIM_TEMPLATE = { name: 'default-claim-${POD_ORDINAL}', storageClassName: 'local-path', size: '1Gi' };
/** The uid and gid the Jobs run as: the official mariadb image's mysql user. */
const DATABASE_UID = 999;

const scratch = mkdtempSync(path.join(tmpdir(), 'dbkeep-kubernetes-replicas-'));
// The Jobs' worker runs as DATABASE_UID and must reach the node agent's claim directories below.
chmodSync(scratch, 0o755);
let cluster: KubeApiServer;
let stack: E2eStack;
let agent: TestNodeAgent;
/** Admin access: the test's own setup and checks. */
let core: CoreV1Api;
let batch: BatchV1Api;
/** The worker's ServiceAccount of deploy/base, as the launcher uses it. */
let workerApi: { core: CoreV1Api; batch: BatchV1Api };
/** deploy/base's ServiceAccount of the replica Jobs. */
let replicaServiceAccount: string;
let worker: Worker;
let workerRunning: Promise<void>;
let client: DbkeepClient;
let source: MariaDbInstance;
let expected: Record<string, DatabaseFingerprint>;

const fingerprints = (instance: MariaDbInstance) => fingerprintDatabases(instance, DATABASES);

function resources() {
  const target = stack.targetDocument('shop', source) as { spec: Record<string, unknown> };
  target.spec.datadir = source.datadir;
  // Not the stack's `{ file }` access key: the Job runs as the database's user, which may not read this process's files.
  const repository = stack.repositoryDocument('repo-env', {
    credentials: {
      accessKeyId: { env: S3_ACCESS_KEY_ENV },
      secretAccessKey: { secretKeyRef: { name: S3_SECRET_KEY_SECRET, key: 'secret-access-key' } },
    },
  });
  return stack.resources(
    repository,
    target,
    configurationDocument('shop-physical', { target: 'shop', repository: 'repo-env', method: 'physical' }),
  );
}

async function restoreIntoClaims(options: { overwrite: boolean }) {
  const handle = await client.restoreIntoVolumes({
    repository: resources().repositories.get('repo-env')!,
    configuration: 'shop-physical',
    selector: {},
    replicas: REPLICAS,
    volumeClaimTemplate: CLAIM_TEMPLATE,
    overwrite: options.overwrite,
  });
  return { workflowId: handle.workflowId, restoreId: handle.workflowId.split('/').at(-1)!, result: await handle.result() };
}

async function claimsOf(restoreId: string): Promise<V1PersistentVolumeClaim[]> {
  const list = await core.listNamespacedPersistentVolumeClaim({
    namespace: NAMESPACE,
    labelSelector: `${REPLICA_LABELS.restore}=${restoreId}`,
  });
  return list.items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
}

async function jobsOf(restoreId: string): Promise<V1Job[]> {
  return (await batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: `${REPLICA_LABELS.restore}=${restoreId}` })).items;
}

/** Starts a server on each claim's directory and checks it holds exactly the source's data. */
async function expectClaimsMatchSource(claimNames: string[]): Promise<void> {
  for (const claim of claimNames) {
    const datadir = agent.claimDirectory(claim);
    const replica = await startMariaDbInstance({
      dir: path.join(scratch, `${claim}-run-${Date.now()}`),
      existingDatadir: datadir,
      rootPassword: source.rootPassword,
    });
    try {
      const actual = await fingerprints(replica);
      for (const db of DATABASES) expect(diffFingerprints(expected[db]!, actual[db]!), `${claim} ${db}`).toEqual([]);
    } finally {
      await replica.stop();
    }
  }
}

beforeAll(async () => {
  if (!existsSync(path.join(projectRoot(), 'dist', 'clients', 'cli', 'main.js'))) {
    throw new Error('the replica Jobs run bin/dbkeep.js: run `npm run build` first');
  }
  [cluster, stack] = await Promise.all([
    startKubeApiServer({ dir: path.join(scratch, 'cluster') }),
    startE2eStack({ payloadCodec: codec }),
  ]);
  const admin = new KubeConfig();
  admin.loadFromFile(cluster.kubeconfigPath);
  core = admin.makeApiClient(CoreV1Api);
  batch = admin.makeApiClient(BatchV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  // deploy/base's RBAC is all the flow gets.
  const { base, workerServiceAccount } = await applyDeployBaseRbac(admin, NAMESPACE, FIELD_MANAGER);
  replicaServiceAccount = findRenderedObject<V1ConfigMap>(base, 'ConfigMap', 'dbkeep-worker').data!.DBKEEP_REPLICA_SERVICE_ACCOUNT!;
  expect(replicaServiceAccount).not.toBe(workerServiceAccount);
  const workerKubeconfigPath = path.join(scratch, 'worker.kubeconfig');
  const workerConfig = await writeServiceAccountKubeconfig(admin, {
    namespace: NAMESPACE,
    name: workerServiceAccount,
    file: workerKubeconfigPath,
  });
  workerApi = { core: workerConfig.makeApiClient(CoreV1Api), batch: workerConfig.makeApiClient(BatchV1Api) };

  // The access key is `{ env: ... }`: this worker has it in its environment, the Job from a Secret, as a user's would.
  const stackRepository = stack.resources().repositories.get('repo')!.spec.s3!.credentials!.accessKeyId as { file: string };
  process.env[S3_ACCESS_KEY_ENV] = readFileSync(stackRepository.file, 'utf8');
  await core.createNamespacedSecret({
    namespace: NAMESPACE,
    body: { metadata: { name: S3_SECRET }, stringData: { [S3_ACCESS_KEY_ENV]: process.env[S3_ACCESS_KEY_ENV]! } },
  });
  await core.createNamespacedSecret({
    namespace: NAMESPACE,
    body: { metadata: { name: S3_SECRET_KEY_SECRET }, stringData: { 'secret-access-key': stack.s3SecretKey } },
  });
  await core.createNamespacedSecret({
    namespace: NAMESPACE,
    body: { metadata: { name: KEYRING_SECRET }, stringData: { 'keyring.json': JSON.stringify(keyring) } },
  });
  agent = await startTestNodeAgent({ kubeconfigPath: cluster.kubeconfigPath, namespace: NAMESPACE, dir: path.join(scratch, 'node') });
  // As the worker's pod reads secretKeyRefs: with its ServiceAccount, in its namespace.
  const workerEnv = { ...process.env, KUBECONFIG: workerKubeconfigPath };

  const taskQueue = `${stack.taskQueue}-kubernetes`;
  const connection = await NativeConnection.connect({ address: stack.temporal.address });
  worker = await createDbkeepWorker({
    connection,
    namespace: stack.temporal.namespace,
    taskQueue,
    activities: createActivities({
      secrets: createSecretResolver(workerEnv),
      pushgatewayUrl: stack.pushgateway.url,
      // As `dbkeep worker` configures it in a pod whose ConfigMap says so (deploy/base/configmap.yaml).
      replicaWorkers: await replicaWorkersFromEnvironment(
        { address: stack.temporal.address, namespace: stack.temporal.namespace, taskQueue },
        {
          KUBECONFIG: workerKubeconfigPath,
          DBKEEP_REPLICA_RUNTIME: 'kubernetes',
          DBKEEP_REPLICA_IMAGE: 'registry.example/dbkeep:test',
          DBKEEP_REPLICA_NAMESPACE: NAMESPACE,
          DBKEEP_REPLICA_SERVICE_ACCOUNT: replicaServiceAccount,
          DBKEEP_REPLICA_CLAIM_TEMPLATE: DEFAULT_CLAIM_TEMPLATE.name,
          DBKEEP_REPLICA_STORAGE_CLASS: DEFAULT_CLAIM_TEMPLATE.storageClassName,
          DBKEEP_REPLICA_STORAGE_SIZE: DEFAULT_CLAIM_TEMPLATE.size,
          DBKEEP_REPLICA_ENV_FROM_SECRETS: S3_SECRET,
          DBKEEP_REPLICA_SECRET_MOUNTS: `${KEYRING_SECRET}:${KEYRING_MOUNT}`,
          DBKEEP_PAYLOAD_KEYRING_FILE: `${KEYRING_MOUNT}/keyring.json`,
        },
      ),
    }),
    payloadCodec: codec,
    workflowBundle: await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') }),
  });
  workerRunning = worker.run().finally(() => connection.close());
  client = new DbkeepClient(stack.client.temporal, taskQueue);

  source = await stack.startMariaDb();
  const sql = await rootConnection(source);
  await sql.query(`CREATE DATABASE shop; USE shop;
    CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(40), total DECIMAL(10,2), note TEXT) ENGINE=InnoDB;
    INSERT INTO shop.orders SELECT seq, CONCAT('customer-', seq % 97), seq * 1.25, REPEAT(SHA2(seq, 256), 4) FROM seq_1_to_20000;
    CREATE TABLE shop.customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40) UNIQUE) ENGINE=InnoDB;
    INSERT INTO shop.customers (name) SELECT CONCAT('customer-', seq) FROM seq_0_to_96;`);
  await sql.end();
  expected = await fingerprints(source);
});

afterAll(async () => {
  await agent?.stop();
  if (worker) {
    worker.shutdown();
    await workerRunning;
  }
  await stack?.stop();
  await cluster?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('physical restore into PVCs through Jobs on a real API server', () => {
  let firstRestore: string;
  let firstClaims: V1PersistentVolumeClaim[];

  it("backs up, then restores 3 replicas into labelled PVCs from the restore's claim template, by labelled non-root Jobs owned by them", async () => {
    const backup = await (await client.backupNow(resolveBackupConfiguration(resources(), 'shop-physical'))).result();
    expect(backup.outcome).toBe('succeeded');

    const { workflowId, restoreId, result } = await restoreIntoClaims({ overwrite: false });
    firstRestore = restoreId;
    expect(result.replicas.map((r) => r.ordinal)).toEqual([0, 1, 2]);
    // The replica worker reports the path it saw: the Job's mount, which the node agent mapped.
    for (const replica of result.replicas) expect(replica.preparedWith).toMatch(/mariadb-backup/);

    firstClaims = await claimsOf(restoreId);
    expect(firstClaims.map((c) => c.metadata!.name)).toEqual(['data-shop-0', 'data-shop-1', 'data-shop-2']);
    for (const [ordinal, claim] of firstClaims.entries()) {
      expect(claim.metadata!.labels).toEqual({
        [REPLICA_LABELS.managedBy]: MANAGED_BY_DBKEEP,
        [REPLICA_LABELS.restore]: restoreId,
        [REPLICA_LABELS.ordinal]: String(ordinal),
      });
      expect(claim.spec).toMatchObject({
        storageClassName: 'restore-class',
        accessModes: ['ReadWriteOncePod'],
        resources: { requests: { storage: '2Gi' } },
      });
      expect(claim.status?.phase).toBe('Bound');

      // The Job as it was while it ran (stop() has deleted it since).
      const jobName = replicaJobName(replicaTaskQueue(restoreId, ordinal));
      expect(jobName).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(jobName.length).toBeLessThanOrEqual(63);
      const job = agent.jobsRun.get(jobName);
      expect(job, `Job ${jobName}`).toBeDefined();
      expect(job!.metadata!.labels).toEqual(claim.metadata!.labels);
      expect(job!.metadata!.ownerReferences).toEqual([
        { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: claim.metadata!.name, uid: claim.metadata!.uid },
      ]);
      const pod = job!.spec!.template.spec!;
      expect(pod.volumes).toEqual([
        { name: 'volume', persistentVolumeClaim: { claimName: claim.metadata!.name } },
        { name: 'secret-0', secret: { secretName: KEYRING_SECRET, defaultMode: 0o440 } },
      ]);
      // Its worker ran as this ServiceAccount (the node agent gives the pod's), which may only get Secrets.
      expect(pod.serviceAccountName).toBe(replicaServiceAccount);
      expect(pod.containers[0]!.envFrom).toEqual([{ secretRef: { name: S3_SECRET } }]);
      expect(pod.containers[0]!.env).toEqual([{ name: 'DBKEEP_PAYLOAD_KEYRING_FILE', value: `${KEYRING_MOUNT}/keyring.json` }]);
      expect(pod.containers[0]!.image).toBe('registry.example/dbkeep:test');
      expect([...pod.containers[0]!.command!, ...pod.containers[0]!.args!]).toEqual([
        '/usr/bin/tini',
        '--',
        'node',
        '--max-semi-space-size=2',
        '--heap-growing-percent=50',
        '/app/bin/dbkeep.js',
        'replica-worker',
        '--volume',
        REPLICA_VOLUME_MOUNT_PATH,
        '--task-queue',
        replicaTaskQueue(restoreId, ordinal),
        '--address',
        stack.temporal.address,
        '--namespace',
        stack.temporal.namespace,
      ]);
      expect(pod.containers[0]!.volumeMounts).toEqual([
        { name: 'volume', mountPath: REPLICA_VOLUME_MOUNT_PATH },
        { name: 'secret-0', mountPath: KEYRING_MOUNT, readOnly: true },
      ]);
      // The restricted Pod Security Standard, as the database's user.
      expect(pod.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: DATABASE_UID,
        runAsGroup: DATABASE_UID,
        fsGroup: DATABASE_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.containers[0]!.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      // The node agent ran it as that user: the restored files are the database's, and the volume its group's.
      const directory = agent.claimDirectory(claim.metadata!.name!);
      expect(statSync(path.join(directory, 'ibdata1'))).toMatchObject({ uid: DATABASE_UID, gid: DATABASE_UID });
      expect(statSync(directory).gid).toBe(DATABASE_UID);
      expect(statSync(directory).mode & 0o2070).toBe(0o2070);
    }
    // ensureReplicaWorker says what it started: the Job and its claim, not a process id.
    const history = await client.temporal.workflow.getHandle(workflowId).fetchHistory();
    const ensureScheduled = history.events!.find(
      (event) => event.activityTaskScheduledEventAttributes?.activityId === replicaActivityId(0, 'ensure-worker', 1),
    );
    expect(ensureScheduled).toBeDefined();
    const encrypted = history
      .events!.filter((event) => String(event.activityTaskCompletedEventAttributes?.scheduledEventId) === String(ensureScheduled!.eventId))
      .flatMap((event) => event.activityTaskCompletedEventAttributes?.result?.payloads ?? []);
    const ensured = (await codec.decode(encrypted))
      // A void result is an empty binary/null payload.
      .filter((payload) => payload.data !== undefined && payload.data !== null && payload.data.length > 0)
      .map((payload) => JSON.parse(Buffer.from(payload.data!).toString('utf8')) as unknown)
      .find((value) => typeof value === 'object' && value !== null && 'worker' in value);
    expect(ensured).toEqual({
      started: true,
      worker: { kind: 'job', namespace: NAMESPACE, name: replicaJobName(replicaTaskQueue(restoreId, 0)), claim: 'data-shop-0' },
    });
    // Every Job was deleted when its replica was done; the PVCs stay, holding the data.
    expect(await jobsOf(restoreId)).toEqual([]);
    expect(agent.running()).toEqual([]);
    await expectClaimsMatchSource(firstClaims.map((c) => c.metadata!.name!));
  });

  it('re-running the restore with overwrite adopts the existing PVCs', async () => {
    const { restoreId, result } = await restoreIntoClaims({ overwrite: true });
    expect(restoreId).not.toBe(firstRestore);
    expect(result.replicas).toHaveLength(REPLICAS);
    const claims = await claimsOf(restoreId);
    // The same objects (same uids), now labelled for this restore; nothing left for the first one.
    expect(claims.map((c) => c.metadata!.uid)).toEqual(firstClaims.map((c) => c.metadata!.uid));
    expect(claims.map((c) => c.metadata!.labels![REPLICA_LABELS.restore])).toEqual([restoreId, restoreId, restoreId]);
    expect(await claimsOf(firstRestore)).toEqual([]);
    for (let ordinal = 0; ordinal < REPLICAS; ordinal++) {
      expect(agent.jobsRun.get(replicaJobName(replicaTaskQueue(restoreId, ordinal)))?.metadata?.ownerReferences?.[0]?.uid).toBe(
        claims[ordinal]!.metadata!.uid,
      );
    }
    expect(await jobsOf(restoreId)).toEqual([]);
    await expectClaimsMatchSource([claims[0]!.metadata!.name!]);
  });

  it("fails ensureRunning with the Job's reason when its worker exits before polling, and replaces the ended Job next time", async () => {
    const launcher = new KubernetesJobReplicaWorkers({
      api: workerApi,
      namespace: NAMESPACE,
      serviceAccountName: replicaServiceAccount,
      image: 'registry.example/dbkeep:test',
      // The worker's default: a restore without a claim template of its own gets it.
      defaultClaimTemplate: { name: 'broken-${POD_ORDINAL}', size: '1Gi' },
      // The replica worker exits at once: Temporal has no such namespace.
      temporal: { address: stack.temporal.address, namespace: 'no-such-namespace' },
      pollIntervalMs: 250,
      readyTimeoutMs: 30_000,
    });
    const spec = { taskQueue: replicaTaskQueue('broken', 0), restoreId: 'broken', ordinal: 0, volume: { directory: 'unused' } };
    const endedBeforePolling =
      /ended before its worker polled dbkeep-replica-broken-0: Failed \(BackoffLimitExceeded: the container exited with 1\)/;
    await expect(launcher.ensureRunning(spec)).rejects.toThrow(endedBeforePolling);
    const [failed] = await jobsOf('broken');
    expect(failed?.status?.failed).toBe(1);
    expect(failed?.status?.active ?? 0).toBe(0);
    expect(failed?.status?.conditions?.map((c) => c.type)).toEqual(['FailureTarget', 'Failed']);
    await expect(launcher.ensureRunning(spec)).rejects.toThrow(endedBeforePolling);
    const [replaced] = await jobsOf('broken');
    expect(replaced?.metadata?.uid).not.toBe(failed?.metadata?.uid);
    await launcher.stop(spec);
    expect(await jobsOf('broken')).toEqual([]);
    expect((await claimsOf('broken')).map((c) => c.metadata!.name)).toEqual(['broken-0']);
  });

  it('has its Job pods admitted by a namespace that enforces the restricted Pod Security Standard', async () => {
    const restricted = 'restricted-replicas';
    await core.createNamespace({
      body: {
        metadata: {
          name: restricted,
          labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
        },
      },
    });
    const job = [...agent.jobsRun.values()].find((j) => j.metadata?.annotations?.['dbkeep.io/task-queue']?.startsWith('dbkeep-replica-'))!;
    // The pod the Job controller would create from the template, checked by admission only (dry run).
    const createPod = (spec: V1PodSpec) =>
      core.createNamespacedPod({ namespace: restricted, dryRun: 'All', body: { metadata: { name: 'replica-worker-check' }, spec } });
    const admitted = await createPod(job.spec!.template.spec!);
    expect(admitted.spec?.securityContext?.runAsUser).toBe(DATABASE_UID);
    // The control: the same pod as root is refused, so the API server does enforce the level.
    const asRoot: V1PodSpec = { ...job.spec!.template.spec!, securityContext: { runAsUser: 0 } };
    const refused = await createPod(asRoot).catch((error: unknown) => error);
    expect((refused as { code?: number }).code).toBe(403);
    expect(String((refused as { body?: unknown }).body)).toContain('violates PodSecurity \\"restricted:latest\\"');
  });
});
