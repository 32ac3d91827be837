import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Deployment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesJobReplicaWorkers } from '../../activities/kubernetes-replica-workers';
import { parseResourceSet } from '../../domain/resource-set';
import { startKubeApiServer, type KubeApiServer } from '../../stack/kube-apiserver';
import { projectRoot } from '../../pipeline/project-root';
import { replicaWorkersFromEnvironment } from '../../workers/run-worker';
import { applyServerSide, findRenderedObject, parseYamlFile, renderKustomization } from '../support/kustomization-render';
import { writeServiceAccountKubeconfig } from '../support/service-account-kubeconfig';

/**
 * deploy/base applied to a real kube-apiserver with server-side apply, as `kubectl apply -k`
 * would (rendered here: there is no kubectl), then RBAC checked as the worker's and the replica
 * Jobs' ServiceAccounts with TokenRequest tokens: the worker can do what a restore into replica
 * volumes and secretKeyRef references need in its namespace, a replica Job only get Secrets
 * there, and neither anything in another namespace. test/e2e/kubernetes-replicas.test.ts runs
 * the replica flow itself with these ServiceAccounts.
 */
const BASE = path.join(projectRoot(), 'deploy', 'base');
const EXAMPLES = path.join(projectRoot(), 'deploy', 'examples');
const OTHER_NAMESPACE = 'other-team';
const FIELD_MANAGER = 'dbkeep-deploy-test';

const scratch = mkdtempSync(path.join(tmpdir(), 'dbkeep-kubernetes-deploy-'));
let cluster: KubeApiServer;
let admin: KubeConfig;
let rendered: KubernetesObject[];
let worker: KubeConfig;
let replica: KubeConfig;

const findObject = <T extends KubernetesObject>(kind: string, name: string): T => findRenderedObject<T>(rendered, kind, name);

beforeAll(async () => {
  cluster = await startKubeApiServer({ dir: path.join(scratch, 'cluster') });
  admin = new KubeConfig();
  admin.loadFromFile(cluster.kubeconfigPath);
  rendered = renderKustomization(BASE);
});

afterAll(async () => {
  await cluster?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('deploy/base', () => {
  it("renders the worker, its and the replica Jobs' ServiceAccounts, Roles and RoleBindings, ConfigMap and the Pushgateway into one namespace", () => {
    expect(rendered.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual([
      'ConfigMap/dbkeep-worker',
      'Deployment/dbkeep-pushgateway',
      'Deployment/dbkeep-worker',
      'Namespace/dbkeep',
      'Role/dbkeep-replica',
      'Role/dbkeep-worker',
      'RoleBinding/dbkeep-replica',
      'RoleBinding/dbkeep-worker',
      'Service/dbkeep-pushgateway',
      'ServiceAccount/dbkeep-replica',
      'ServiceAccount/dbkeep-worker',
    ]);
    for (const object of rendered) {
      if (object.kind !== 'Namespace') expect(object.metadata?.namespace, `${object.kind}/${object.metadata?.name}`).toBe('dbkeep');
      expect(object.metadata?.labels?.['app.kubernetes.io/part-of']).toBe('dbkeep');
    }
    const deployment = findObject<V1Deployment>('Deployment', 'dbkeep-worker');
    const pod = deployment.spec!.template.spec!;
    // Above the worker's shutdownGraceTime of 20 s.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(20);
    expect(pod.serviceAccountName).toBe('dbkeep-worker');
    expect(pod.containers[0]!.envFrom).toEqual([{ configMapRef: { name: 'dbkeep-worker' } }]);
    expect(Object.keys(findObject<V1ConfigMap>('ConfigMap', 'dbkeep-worker').data!)).toEqual(
      expect.arrayContaining(['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'DBKEEP_PUSHGATEWAY_URL']),
    );
    // The replica Jobs do not run with the worker's rights.
    expect(findObject<V1ConfigMap>('ConfigMap', 'dbkeep-worker').data!.DBKEEP_REPLICA_SERVICE_ACCOUNT).toBe('dbkeep-replica');
  });

  it('is accepted by the API server with server-side apply, and applying again changes nothing', async () => {
    const applied = await applyServerSide(admin, rendered, FIELD_MANAGER);
    const named = (object: KubernetesObject) => `${object.kind}/${object.metadata?.name}`;
    expect(applied.map(named).sort()).toEqual(rendered.map(named).sort());
    for (const result of applied) expect(result.metadata?.uid, named(result)).toBeTruthy();
    // Nothing runs the Deployments here (no controller-manager, no node); they are stored as validated.
    const stored = await admin.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'dbkeep-worker', namespace: 'dbkeep' });
    expect(stored.data).toEqual(findObject<V1ConfigMap>('ConfigMap', 'dbkeep-worker').data);
    const again = await applyServerSide(admin, rendered, FIELD_MANAGER);
    expect(again.map((object) => `${named(object)}@${object.metadata?.resourceVersion}`)).toEqual(
      applied.map((object) => `${named(object)}@${object.metadata?.resourceVersion}`),
    );
  });

  it('configures a Kubernetes replica launcher from the ConfigMap', async () => {
    const configMap = findObject<V1ConfigMap>('ConfigMap', 'dbkeep-worker');
    const launcher = await replicaWorkersFromEnvironment(
      { address: configMap.data!.TEMPORAL_ADDRESS!, namespace: 'default', taskQueue: 'dbkeep' },
      { ...configMap.data, KUBECONFIG: cluster.kubeconfigPath },
    );
    expect(launcher).toBeInstanceOf(KubernetesJobReplicaWorkers);
    await expect(
      replicaWorkersFromEnvironment(
        { address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'dbkeep' },
        { DBKEEP_REPLICA_RUNTIME: 'kubernetes', DBKEEP_REPLICA_CLAIM_TEMPLATE: 'data', DBKEEP_REPLICA_STORAGE_SIZE: 'lots' },
      ),
    ).rejects.toThrow(
      /DBKEEP_REPLICA_IMAGE: .*required.*DBKEEP_REPLICA_CLAIM_TEMPLATE: must contain \$\{POD_ORDINAL\}.*DBKEEP_REPLICA_STORAGE_SIZE: must be a Kubernetes quantity/,
    );
    const refused = replicaWorkersFromEnvironment(
      { address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'dbkeep' },
      {
        DBKEEP_REPLICA_RUNTIME: 'kubernetes',
        DBKEEP_REPLICA_IMAGE: 'dbkeep:test',
        DBKEEP_REPLICA_ENV_FROM_SECRETS: 'dbkeep-s3,Not_A_Name',
        DBKEEP_REPLICA_SECRET_MOUNTS: 'no-path, keyring:relative/dir, ca:/var/lib/dbkeep/volume/ca, age:/etc/dbkeep/../age',
      },
    ).catch((error: Error) => error.message);
    for (const problem of [
      'DBKEEP_REPLICA_ENV_FROM_SECRETS item 2: must be a Secret name',
      'DBKEEP_REPLICA_SECRET_MOUNTS item 1: must be secret:/absolute/path',
      'DBKEEP_REPLICA_SECRET_MOUNTS item 2: must be an absolute path',
      "DBKEEP_REPLICA_SECRET_MOUNTS item 3: must not be under the volume's /var/lib/dbkeep/volume",
      'DBKEEP_REPLICA_SECRET_MOUNTS item 4: must not contain ..',
    ]) {
      expect(await refused).toContain(problem);
    }
  });
});

describe('the ServiceAccounts of deploy/base (RBAC)', () => {
  beforeAll(async () => {
    const core = admin.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: OTHER_NAMESPACE } } });
    for (const namespace of ['dbkeep', OTHER_NAMESPACE]) {
      await core.createNamespacedSecret({
        namespace,
        body: { metadata: { name: 'db-credentials' }, stringData: { password: `${namespace}-password` } },
      });
    }
    worker = await writeServiceAccountKubeconfig(admin, {
      namespace: 'dbkeep',
      name: 'dbkeep-worker',
      file: path.join(scratch, 'worker.kubeconfig'),
    });
    replica = await writeServiceAccountKubeconfig(admin, {
      namespace: 'dbkeep',
      name: 'dbkeep-replica',
      file: path.join(scratch, 'replica.kubeconfig'),
    });
  });

  /** What the API server's RBAC answers for identity itself (a SelfSubjectAccessReview). */
  async function allowed(identity: KubeConfig, namespace: string, resource: string, verb: string, group = ''): Promise<boolean> {
    const review = await identity.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { namespace, group, resource, verb } } },
    });
    return review.status?.allowed ?? false;
  }

  describe("the worker's (dbkeep-worker)", () => {
    it('may do what a restore into PVCs and Jobs, scratch servers as Jobs, secretKeyRef references and Service or AppBinding targets need, in its namespace', async () => {
      const grants: Array<[string, string[], string?]> = [
        ['persistentvolumeclaims', ['create', 'get', 'list', 'patch']],
        ['jobs', ['create', 'get', 'list', 'watch', 'delete'], 'batch'],
        ['pods', ['get', 'list']],
        ['secrets', ['get', 'create']],
        ['services', ['get', 'create']],
        ['endpointslices', ['list'], 'discovery.k8s.io'],
        ['appbindings', ['get'], 'appcatalog.appscode.com'],
      ];
      for (const [resource, verbs, group] of grants) {
        for (const verb of verbs) expect(await allowed(worker, 'dbkeep', resource, verb, group), `${verb} ${resource}`).toBe(true);
      }
    });

    it('may not delete PVCs, list, change or delete Secrets, change Services or EndpointSlices, or touch anything in another namespace', async () => {
      expect(await allowed(worker, 'dbkeep', 'persistentvolumeclaims', 'delete')).toBe(false);
      expect(await allowed(worker, 'dbkeep', 'secrets', 'list')).toBe(false);
      expect(await allowed(worker, 'dbkeep', 'secrets', 'update')).toBe(false);
      expect(await allowed(worker, 'dbkeep', 'secrets', 'delete')).toBe(false);
      expect(await allowed(worker, 'dbkeep', 'services', 'delete')).toBe(false);
      expect(await allowed(worker, 'dbkeep', 'deployments', 'create', 'apps')).toBe(false);
      expect(await allowed(worker, 'dbkeep', 'services', 'update')).toBe(false);
      expect(await allowed(worker, 'dbkeep', 'endpointslices', 'create', 'discovery.k8s.io')).toBe(false);
      for (const [resource, group] of [
        ['secrets', ''],
        ['persistentvolumeclaims', ''],
        ['jobs', 'batch'],
        ['services', ''],
        ['appbindings', 'appcatalog.appscode.com'],
      ] as const) {
        expect(await allowed(worker, OTHER_NAMESPACE, resource, 'get', group), `get ${resource} in ${OTHER_NAMESPACE}`).toBe(false);
      }
    });

    it("really creates a PVC and a Job, reads a Secret in its namespace, and is refused another namespace's Secret", async () => {
      const core = worker.makeApiClient(CoreV1Api);
      const batch = worker.makeApiClient(BatchV1Api);
      const claim = await core.createNamespacedPersistentVolumeClaim({
        namespace: 'dbkeep',
        body: { metadata: { name: 'rbac-check' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
      });
      expect(claim.metadata?.uid).toBeTruthy();
      const job = await batch.createNamespacedJob({
        namespace: 'dbkeep',
        body: {
          metadata: { name: 'rbac-check' },
          spec: {
            template: {
              spec: {
                restartPolicy: 'Never',
                serviceAccountName: 'dbkeep-replica',
                containers: [{ name: 'c', image: 'ghcr.io/dbkeep/dbkeep:0.1.0', volumeMounts: [{ name: 'v', mountPath: '/v' }] }],
                volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'rbac-check' } }],
              },
            },
          },
        },
      });
      expect(job.metadata?.uid).toBeTruthy();
      await batch.deleteNamespacedJob({ name: 'rbac-check', namespace: 'dbkeep', propagationPolicy: 'Background' });

      const secret = await core.readNamespacedSecret({ name: 'db-credentials', namespace: 'dbkeep' });
      expect(Buffer.from(secret.data!.password!, 'base64').toString()).toBe('dbkeep-password');
      const refused = await core
        .readNamespacedSecret({ name: 'db-credentials', namespace: OTHER_NAMESPACE })
        .catch((error: unknown) => error);
      expect((refused as { code?: number }).code).toBe(403);
      expect(String((refused as { body?: string }).body)).toContain(
        `User \\"system:serviceaccount:dbkeep:dbkeep-worker\\" cannot get resource \\"secrets\\" in API group \\"\\" in the namespace \\"${OTHER_NAMESPACE}\\"`,
      );
    });
  });

  describe("the replica Jobs' (dbkeep-replica)", () => {
    it('may get Secrets in its namespace, which is all a replica worker reads, and nothing else', async () => {
      expect(await allowed(replica, 'dbkeep', 'secrets', 'get')).toBe(true);
      const refused: Array<[string, string, string?]> = [
        ['secrets', 'list'],
        ['secrets', 'watch'],
        ['secrets', 'create'],
        ['secrets', 'update'],
        ['jobs', 'create', 'batch'],
        ['jobs', 'get', 'batch'],
        ['jobs', 'delete', 'batch'],
        ['persistentvolumeclaims', 'create'],
        ['persistentvolumeclaims', 'get'],
        ['persistentvolumeclaims', 'patch'],
        ['pods', 'create'],
        ['pods', 'get'],
        ['serviceaccounts', 'create'],
        ['services', 'get'],
        ['endpointslices', 'list', 'discovery.k8s.io'],
        ['appbindings', 'get', 'appcatalog.appscode.com'],
        ['roles', 'create', 'rbac.authorization.k8s.io'],
      ];
      for (const [resource, verb, group] of refused)
        expect(await allowed(replica, 'dbkeep', resource, verb, group), `${verb} ${resource}`).toBe(false);
      for (const [resource, verb, group] of [
        ['secrets', 'get', ''],
        ['jobs', 'create', 'batch'],
        ['persistentvolumeclaims', 'create', ''],
      ] as const) {
        expect(await allowed(replica, OTHER_NAMESPACE, resource, verb, group), `${verb} ${resource} in ${OTHER_NAMESPACE}`).toBe(false);
      }
    });

    it("really reads a Secret in its namespace, and is refused creating a PVC or a Job, listing Secrets and another namespace's Secret", async () => {
      const core = replica.makeApiClient(CoreV1Api);
      const batch = replica.makeApiClient(BatchV1Api);
      const secret = await core.readNamespacedSecret({ name: 'db-credentials', namespace: 'dbkeep' });
      expect(Buffer.from(secret.data!.password!, 'base64').toString()).toBe('dbkeep-password');
      const user = 'User \\"system:serviceaccount:dbkeep:dbkeep-replica\\"';
      // Thunks: each request is made when its turn comes, so no refusal waits unhandled.
      const attempts: Array<[() => Promise<unknown>, string]> = [
        [
          () => core.listNamespacedSecret({ namespace: 'dbkeep' }),
          `${user} cannot list resource \\"secrets\\" in API group \\"\\" in the namespace \\"dbkeep\\"`,
        ],
        [
          () => core.readNamespacedSecret({ name: 'db-credentials', namespace: OTHER_NAMESPACE }),
          `${user} cannot get resource \\"secrets\\" in API group \\"\\" in the namespace \\"${OTHER_NAMESPACE}\\"`,
        ],
        [
          () =>
            core.createNamespacedPersistentVolumeClaim({
              namespace: 'dbkeep',
              body: {
                metadata: { name: 'replica-rbac-check' },
                spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
              },
            }),
          `${user} cannot create resource \\"persistentvolumeclaims\\" in API group \\"\\" in the namespace \\"dbkeep\\"`,
        ],
        [
          () =>
            batch.createNamespacedJob({
              namespace: 'dbkeep',
              body: {
                metadata: { name: 'replica-rbac-check' },
                spec: {
                  template: {
                    spec: {
                      restartPolicy: 'Never',
                      serviceAccountName: 'dbkeep-worker',
                      containers: [{ name: 'c', image: 'ghcr.io/dbkeep/dbkeep:0.1.0' }],
                    },
                  },
                },
              },
            }),
          `${user} cannot create resource \\"jobs\\" in API group \\"batch\\" in the namespace \\"dbkeep\\"`,
        ],
      ];
      for (const [attempt, message] of attempts) {
        const refused = await attempt().then(
          () => undefined,
          (error: unknown) => error,
        );
        expect((refused as { code?: number } | undefined)?.code, message).toBe(403);
        expect(String((refused as { body?: string }).body)).toContain(message);
      }
    });
  });
});

describe('deploy/examples', () => {
  it('holds valid dbkeep resources whose secretKeyRefs name the example Secrets', () => {
    const file = path.join(EXAMPLES, 'resources.yaml');
    const set = parseResourceSet([{ file, text: readFileSync(file, 'utf8') }]);
    const configuration = set.backupConfigurations.get('shop-nightly')!;
    expect(configuration.spec).toMatchObject({
      target: 'shop-db',
      repository: 'offsite',
      schedule: { cron: '0 2 * * *' },
      retention: { keepDaily: 7 },
    });
    expect(set.targets.get('shop-db')!.spec.service).toEqual({ name: 'shop-db', port: 'mysql' });
    expect(set.targets.get('billing-db')!.spec).toMatchObject({ appBinding: { name: 'billing-db' } });
    const secrets = parseYamlFile(path.join(EXAMPLES, 'secrets.yaml')) as Array<KubernetesObject & { stringData: Record<string, string> }>;
    const available = new Set(secrets.flatMap((s) => Object.keys(s.stringData).map((key) => `${s.metadata!.name}/${key}`)));
    const referenced = [...readFileSync(file, 'utf8').matchAll(/secretKeyRef: \{ name: ([\w-]+), key: ([\w-]+) \}/g)].map(
      (m) => `${m[1]}/${m[2]}`,
    );
    expect(referenced.length).toBe(3);
    for (const reference of referenced) expect(available.has(reference), reference).toBe(true);
  });
});
