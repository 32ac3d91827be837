import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { replicaTaskQueue } from '../../domain/session-ids';
import { diffFingerprints, fingerprintDatabase, type DatabaseFingerprint } from '../../stack/database-fingerprint';
import { startKubeApiServer, type KubeApiServer } from '../../stack/kube-apiserver';
import { startMariaDbInstance, type MariaDbInstance } from '../../stack/mariadb-instance';
import { projectRoot } from '../../stack/project-root';
import { createDbkeepWorker, workflowsPath } from '../../workers/dbkeep-worker';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { startTestNodeAgent, type TestNodeAgent } from '../support/test-node-agent';

/**
 * A physical restore into 3 replicas the Kubernetes way: a PVC and a Job per replica, created
 * through a real kube-apiserver by KubernetesJobReplicaWorkers. No node runs here, so the test
 * node agent (a stand-in for scheduler, Job controller and kubelet) runs each Job's
 * `dbkeep replica-worker` locally on a directory per PVC; a MariaDB server then starts on each
 * of those directories and must hold exactly the source's data.
 */
const NAMESPACE = 'databases';
const S3_SECRET = 'dbkeep-s3';
const DATABASES = ['shop'];
const REPLICAS = 3;
const CLAIM_TEMPLATE = 'data-shop-${POD_ORDINAL}';

const scratch = mkdtempSync(path.join(tmpdir(), 'dbkeep-kubernetes-replicas-'));
let cluster: KubeApiServer;
let stack: E2eStack;
let agent: TestNodeAgent;
let core: CoreV1Api;
let batch: BatchV1Api;
let worker: Worker;
let workerRunning: Promise<void>;
let client: DbkeepClient;
let source: MariaDbInstance;
let expected: Record<string, DatabaseFingerprint>;

async function fingerprints(instance: MariaDbInstance): Promise<Record<string, DatabaseFingerprint>> {
  const connection = await rootConnection(instance);
  try {
    const result: Record<string, DatabaseFingerprint> = {};
    for (const db of DATABASES) result[db] = await fingerprintDatabase(connection, db);
    return result;
  } finally {
    await connection.end();
  }
}

function resources() {
  const target = stack.targetDocument('shop', source) as { spec: Record<string, unknown> };
  target.spec.datadir = source.datadir;
  return stack.resources(target, configurationDocument('shop-physical', { target: 'shop', method: 'physical' }));
}

async function restoreIntoClaims(options: { overwrite: boolean }) {
  const handle = await client.restoreIntoVolumes({
    repository: resources().repositories.get('repo')!,
    configuration: 'shop-physical',
    selector: {},
    replicas: REPLICAS,
    // Per replica the launcher's claim template names the volume; the directory form is unused.
    volumeTemplate: 'unused-${POD_ORDINAL}',
    overwrite: options.overwrite,
  });
  return { restoreId: handle.workflowId.split('/').at(-1)!, result: await handle.result() };
}

async function claimsOf(restoreId: string): Promise<V1PersistentVolumeClaim[]> {
  const list = await core.listNamespacedPersistentVolumeClaim({ namespace: NAMESPACE, labelSelector: `${REPLICA_LABELS.restore}=${restoreId}` });
  return list.items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
}

async function jobsOf(restoreId: string): Promise<V1Job[]> {
  return (await batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: `${REPLICA_LABELS.restore}=${restoreId}` })).items;
}

/** Starts a server on each claim's directory and checks it holds exactly the source's data. */
async function expectClaimsMatchSource(claimNames: string[]): Promise<void> {
  for (const claim of claimNames) {
    const datadir = agent.claimDirectory(claim);
    const replica = await startMariaDbInstance({ dir: path.join(scratch, `${claim}-run-${Date.now()}`), existingDatadir: datadir, rootPassword: source.rootPassword });
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
  [cluster, stack] = await Promise.all([startKubeApiServer({ dir: path.join(scratch, 'cluster') }), startE2eStack()]);
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfigPath);
  core = config.makeApiClient(CoreV1Api);
  batch = config.makeApiClient(BatchV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  // The Repository's S3 secret key is `{ env: ... }`: the Job gets it from a Secret, as a user's would.
  await core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name: S3_SECRET }, stringData: { secretKey: stack.s3SecretKey } } });
  agent = await startTestNodeAgent({ kubeconfigPath: cluster.kubeconfigPath, namespace: NAMESPACE, dir: path.join(scratch, 'node') });

  const taskQueue = `${stack.taskQueue}-kubernetes`;
  const connection = await NativeConnection.connect({ address: stack.temporal.address });
  worker = await createDbkeepWorker({
    connection,
    namespace: stack.temporal.namespace,
    taskQueue,
    activities: createActivities({
      pushgatewayUrl: stack.pushgateway.url,
      replicaWorkers: new KubernetesJobReplicaWorkers({
        api: { core, batch },
        namespace: NAMESPACE,
        image: 'registry.example/dbkeep:test',
        claimTemplate: { name: CLAIM_TEMPLATE, storageClassName: 'local-path', size: '1Gi' },
        temporal: { address: stack.temporal.address, namespace: stack.temporal.namespace },
        env: [{ name: 'DBKEEP_E2E_S3_SECRET_KEY', valueFrom: { secretKeyRef: { name: S3_SECRET, key: 'secretKey' } } }],
        pollIntervalMs: 250,
      }),
    }),
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

  it('backs up, then restores 3 replicas into labelled PVCs by labelled Jobs owned by them', async () => {
    const backup = await (await client.backupNow(resolveBackupConfiguration(resources(), 'shop-physical'))).result();
    expect(backup.outcome).toBe('succeeded');

    const { restoreId, result } = await restoreIntoClaims({ overwrite: false });
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
      expect(claim.spec).toMatchObject({ storageClassName: 'local-path', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
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
      expect(pod.volumes).toEqual([{ name: 'volume', persistentVolumeClaim: { claimName: claim.metadata!.name } }]);
      expect(pod.containers[0]!.image).toBe('registry.example/dbkeep:test');
      expect([...pod.containers[0]!.command!, ...pod.containers[0]!.args!]).toEqual([
        '/usr/bin/tini', '--', 'node', '/app/bin/dbkeep.js',
        'replica-worker',
        '--volume', REPLICA_VOLUME_MOUNT_PATH,
        '--task-queue', replicaTaskQueue(restoreId, ordinal),
        '--address', stack.temporal.address,
        '--namespace', stack.temporal.namespace,
      ]);
      expect(pod.containers[0]!.volumeMounts).toEqual([{ name: 'volume', mountPath: REPLICA_VOLUME_MOUNT_PATH }]);
    }
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
      expect(agent.jobsRun.get(replicaJobName(replicaTaskQueue(restoreId, ordinal)))?.metadata?.ownerReferences?.[0]?.uid).toBe(claims[ordinal]!.metadata!.uid);
    }
    expect(await jobsOf(restoreId)).toEqual([]);
    await expectClaimsMatchSource([claims[0]!.metadata!.name!]);
  });

  it('fails ensureRunning with the Job\'s reason when its worker exits before polling, and replaces the ended Job next time', async () => {
    const launcher = new KubernetesJobReplicaWorkers({
      api: { core, batch },
      namespace: NAMESPACE,
      image: 'registry.example/dbkeep:test',
      claimTemplate: { name: 'broken-${POD_ORDINAL}', size: '1Gi' },
      // The replica worker exits at once: Temporal has no such namespace.
      temporal: { address: stack.temporal.address, namespace: 'no-such-namespace' },
      pollIntervalMs: 250,
      readyTimeoutMs: 30_000,
    });
    const spec = { taskQueue: replicaTaskQueue('broken', 0), restoreId: 'broken', ordinal: 0, volume: { directory: 'unused' } };
    const endedBeforePolling = /ended before its worker polled dbkeep-replica-broken-0: Failed \(BackoffLimitExceeded: the container exited with 1\)/;
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
});
