import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SCRATCH_SERVER_LABELS, ROOT_PASSWORD_KEY } from '../../activities/kubernetes-scratch-servers';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { parseManifest } from '../../domain/manifest';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { imageTagOfServerVersion, scratchServerStorageRequest } from '../../domain/scratch-server-image';
import { startKubeApiServer, type KubeApiServer } from '../../stack/kube-apiserver';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { generateDatabase, stopStack } from '../reliability/fault-harness';
import { allHistoriesJson, configurationDocument, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { applyDeployBaseRbac } from '../support/kustomization-render';
import { pollUntil } from '../support/poll';
import { writeServiceAccountKubeconfig } from '../support/service-account-kubeconfig';
import { startTestNodeAgent, type TestNodeAgent } from '../support/test-node-agent';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { GetObjectCommand } from '@aws-sdk/client-s3';

/**
 * Restore drills whose scratch servers are Kubernetes Jobs (spec.verification.scratch: kubernetes),
 * created through a real kube-apiserver by `dbkeep worker` processes that have nothing but
 * deploy/base's RBAC for its ServiceAccount. No node runs here: the test node agent plays the
 * kubelet (it maps the official image of the snapshot's MariaDB release to the host's MariaDB
 * 10.11, and starts it with root's password from the Job's Secret), the endpoint controller (the
 * Service's EndpointSlice) and the garbage collector (the Job's Secret and Service go with it).
 * A drill passes there and leaves nothing behind; a worker killed mid-drill leaves its Job, which
 * the drill's retry on another worker removes before it passes on a new one.
 */
const NAMESPACE = 'drills';
const configuration = 'drilled-in-kubernetes';
const MARIADB_IMAGE = /^docker\.io\/library\/mariadb:10\.11\.\d+$/;

const scratch = mkdtempSync(path.join(tmpdir(), 'dbkeep-k8s-drills-'));
// The agent's directories must be searchable by the servers it starts.
chmodSync(scratch, 0o755);
let cluster: KubeApiServer;
let stack: E2eStack;
let agent: TestNodeAgent;
let core: CoreV1Api;
let batch: BatchV1Api;
let client: DbkeepClient;
let source: MariaDbInstance;
let workerKubeconfigPath: string;
const workers: WorkerProcess[] = [];

const drillSelector = SCRATCH_SERVER_LABELS.drill;

async function startWorker(name: string): Promise<WorkerProcess> {
  const worker = await startWorkerProcess({
    dir: stack.dir,
    address: stack.temporal.address,
    namespace: stack.temporal.namespace,
    taskQueue: client.taskQueue,
    name,
    env: {
      KUBECONFIG: workerKubeconfigPath,
      DBKEEP_SCRATCH_NAMESPACE: NAMESPACE,
    },
  });
  workers.push(worker);
  return worker;
}

const resources = () =>
  stack.resources(
    stack.targetDocument('ledger-db', source),
    configurationDocument(configuration, { target: 'ledger-db', databases: ['ledger'], verification: { scratch: 'kubernetes' } }),
  );

/** The drill objects still in the namespace: none once a drill has ended and what its Job owned is collected. */
async function drillObjects(): Promise<string[]> {
  const [jobs, services, secrets] = await Promise.all([
    batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: drillSelector }),
    core.listNamespacedService({ namespace: NAMESPACE, labelSelector: drillSelector }),
    core.listNamespacedSecret({ namespace: NAMESPACE, labelSelector: drillSelector }),
  ]);
  return [
    ...jobs.items.map((job) => `Job/${job.metadata!.name}`),
    ...services.items.map((service) => `Service/${service.metadata!.name}`),
    ...secrets.items.map((secret) => `Secret/${secret.metadata!.name}`),
  ];
}

const drillJobsRun = (): V1Job[] => [...agent.jobsRun.values()].filter((job) => job.metadata?.labels?.[drillSelector] !== undefined);

beforeAll(async () => {
  [cluster, stack] = await Promise.all([startKubeApiServer({ dir: path.join(scratch, 'cluster') }), startE2eStack()]);
  const admin = new KubeConfig();
  admin.loadFromFile(cluster.kubeconfigPath);
  core = admin.makeApiClient(CoreV1Api);
  batch = admin.makeApiClient(BatchV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  const { workerServiceAccount } = await applyDeployBaseRbac(admin, NAMESPACE, 'dbkeep-drills-test');
  workerKubeconfigPath = path.join(scratch, 'worker.kubeconfig');
  await writeServiceAccountKubeconfig(admin, { namespace: NAMESPACE, name: workerServiceAccount, file: workerKubeconfigPath });
  agent = await startTestNodeAgent({
    kubeconfigPath: cluster.kubeconfigPath,
    namespace: NAMESPACE,
    dir: path.join(scratch, 'node'),
    serverImages: (image) => (MARIADB_IMAGE.test(image) ? 'mariadb-10.11' : undefined),
  });
  client = new DbkeepClient(stack.client.temporal, `k8sdrill-${randomBytes(4).toString('hex')}`);
  source = await stack.startMariaDb();
  // Enough that the restore into the scratch server takes a few seconds.
  await generateDatabase(source, 'ledger', 40);
});

afterAll(async () => {
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await agent?.stop();
  await cluster?.stop();
  await stopStack(stack);
  rmSync(scratch, { recursive: true, force: true });
});

it("drills a snapshot in a Job of its engine's image and release, reached by its EndpointSlice, and leaves no Job, Service or Secret", async () => {
  await startWorker('k8s-drill-a');
  const backup = await (await client.backupNow(resolveBackupConfiguration(resources(), configuration))).result();
  if (backup.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
  const manifestObject = await stack.s3.send(
    new GetObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/${configuration}/${backup.snapshotId}/manifest.json` }),
  );
  const parsed = parseManifest(await manifestObject.Body!.transformToString());
  if (!parsed.ok) throw new Error(parsed.reason);

  const outcome = await (await client.verify(resolveBackupConfiguration(resources(), configuration))).result();
  expect(outcome).toMatchObject({ snapshotId: backup.snapshotId, passed: true, proof: 'fingerprint', differences: [] });
  expect(outcome.tables).toBeGreaterThan(0);

  const [job] = drillJobsRun();
  const pod = job!.spec!.template.spec!;
  const container = pod.containers[0]!;
  expect(container.image).toBe(`docker.io/library/mariadb:${imageTagOfServerVersion('mariadb', parsed.manifest.server.version)}`);
  // root's password only by reference, from a Secret of the Job's own.
  expect(container.env).toEqual([
    { name: 'MARIADB_ROOT_PASSWORD', valueFrom: { secretKeyRef: { name: job!.metadata!.name, key: ROOT_PASSWORD_KEY } } },
  ]);
  expect(pod.volumes).toEqual([{ name: 'data', emptyDir: {} }]);
  // Room for the copy on the node the pod is scheduled to.
  expect(container.resources).toEqual({
    requests: { 'ephemeral-storage': scratchServerStorageRequest(parsed.manifest.data.rawBytes) },
  });
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999 });
  expect(pod.automountServiceAccountToken).toBe(false);
  expect(job!.spec!.activeDeadlineSeconds).toBeGreaterThan(0);

  await pollUntil(
    async () => [...agent.running(), ...(await drillObjects())],
    (left) => left.length === 0,
    { what: "the drill's server stopped and its Job, Service and Secret gone", timeoutMs: 60_000 },
  );
}, 300_000);

it("removes the Job of a drill whose worker was killed mid-restore, and the drill's retry passes on a new one", async () => {
  for (const worker of workers.splice(0)) await worker.stop();
  const first = await startWorker('k8s-drill-b');
  const jobsBefore = drillJobsRun().length;
  const drill = await client.verify(resolveBackupConfiguration(resources(), configuration));
  const result = drill.result();
  result.catch(() => undefined);
  // Killed while its restore client writes into the Job's server.
  await pollUntil(
    async () => ({ running: agent.running(), clients: first.descendants().map((process) => process.command) }),
    ({ running, clients }) => running.length === 1 && clients.includes('mariadb'),
    { what: "the drill's restore into its Job's server", timeoutMs: 120_000, intervalMs: 100 },
  );
  const [killedJob] = agent.running();
  const secret = await core.readNamespacedSecret({ name: killedJob!, namespace: NAMESPACE });
  const rootPassword = Buffer.from(secret.data![ROOT_PASSWORD_KEY]!, 'base64').toString('utf8');
  first.kill();
  expect(await drillObjects()).toContain(`Job/${killedJob}`);

  await startWorker('k8s-drill-c');
  expect(await result).toMatchObject({ passed: true, differences: [] });
  expect(drillJobsRun().length).toBe(jobsBefore + 2);
  await pollUntil(
    async () => [...agent.running(), ...(await drillObjects())],
    (left) => left.length === 0,
    { what: "both attempts' servers stopped and their Jobs, Services and Secrets gone", timeoutMs: 60_000 },
  );
  // The scratch server's password never reached Temporal.
  expect((await allHistoriesJson(stack)).json).not.toContain(rootPassword);
}, 300_000);
