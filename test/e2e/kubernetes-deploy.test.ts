import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Deployment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { KubernetesJobReplicaWorkers } from '../../activities/kubernetes-replica-workers';
import { parseResourceSet } from '../../domain/resource-set';
import { startKubeApiServer, type KubeApiServer } from '../../stack/kube-apiserver';
import { projectRoot } from '../../stack/project-root';
import { replicaWorkersFromEnvironment } from '../../workers/run-worker';

/**
 * deploy/base applied to a real kube-apiserver with server-side apply, as `kubectl apply -k`
 * would (rendered here: there is no kubectl), then RBAC checked as the worker's ServiceAccount
 * with a TokenRequest token: it can do what a restore into replica volumes and secretKeyRef
 * references need in its namespace, and nothing in another.
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
let workerKubeconfigPath: string;

interface Kustomization {
  namespace?: string;
  resources: string[];
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean }>;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

function parseYamlFile(file: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
    return document.toJSON() as KubernetesObject;
  });
}

/**
 * What `kustomize build` makes of the base with the fields it uses: its resources, the
 * namespace set on namespaced objects and on ServiceAccount subjects, and the labels (without
 * selectors) added to every object's metadata.
 */
function renderKustomization(dir: string): KubernetesObject[] {
  const kustomization = parseYamlFile(path.join(dir, 'kustomization.yaml'))[0] as unknown as Kustomization;
  const known = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'labels']);
  const unknown = Object.keys(kustomization).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new Error(`kustomization.yaml uses fields this test does not render: ${unknown.join(', ')}`);
  return kustomization.resources.flatMap((resource) =>
    parseYamlFile(path.join(dir, resource)).map((object) => {
      const metadata = (object.metadata ??= {});
      if (kustomization.namespace) {
        if (!CLUSTER_SCOPED.has(object.kind!)) metadata.namespace = kustomization.namespace;
        else if (object.kind === 'Namespace') metadata.name = kustomization.namespace;
        for (const subject of (object as { subjects?: Array<{ kind: string; namespace?: string }> }).subjects ?? []) {
          if (subject.kind === 'ServiceAccount') subject.namespace = kustomization.namespace;
        }
      }
      for (const { pairs, includeSelectors } of kustomization.labels ?? []) {
        if (includeSelectors) throw new Error('labels with includeSelectors are not rendered by this test');
        metadata.labels = { ...metadata.labels, ...pairs };
      }
      return object;
    }),
  );
}

function findObject<T extends KubernetesObject>(kind: string, name: string): T {
  const object = rendered.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!object) throw new Error(`deploy/base renders no ${kind} ${name}`);
  return object as T;
}

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
  it('renders the worker, its ServiceAccount, Role, RoleBinding, ConfigMap and the Pushgateway into one namespace', () => {
    expect(rendered.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual([
      'ConfigMap/dbkeep-worker',
      'Deployment/dbkeep-pushgateway',
      'Deployment/dbkeep-worker',
      'Namespace/dbkeep',
      'Role/dbkeep-worker',
      'RoleBinding/dbkeep-worker',
      'Service/dbkeep-pushgateway',
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
  });

  it('is accepted by the API server with server-side apply, and applying again changes nothing', async () => {
    const objects = KubernetesObjectApi.makeApiClient(admin);
    // The Namespace first, as kubectl orders it.
    const ordered = [...rendered].sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
    const applied = new Map<string, KubernetesObject>();
    for (const object of ordered) {
      const result = await objects.patch(structuredClone(object), undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply).catch((error: unknown) => {
        throw new Error(`server-side apply of ${object.kind}/${object.metadata?.name} was refused: ${(error as { body?: string }).body ?? error}`);
      });
      expect(result.metadata?.uid, `${object.kind}/${object.metadata?.name}`).toBeTruthy();
      applied.set(`${object.kind}/${object.metadata?.name}`, result);
    }
    // Nothing runs the Deployments here (no controller-manager, no node); they are stored as validated.
    const stored = await admin.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'dbkeep-worker', namespace: 'dbkeep' });
    expect(stored.data).toEqual(findObject<V1ConfigMap>('ConfigMap', 'dbkeep-worker').data);
    for (const object of ordered) {
      const again = await objects.patch(structuredClone(object), undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      expect(again.metadata?.resourceVersion, `${object.kind}/${object.metadata?.name}`).toBe(applied.get(`${object.kind}/${object.metadata?.name}`)!.metadata?.resourceVersion);
    }
  });

  it('configures a Kubernetes replica launcher from the ConfigMap', async () => {
    const configMap = findObject<V1ConfigMap>('ConfigMap', 'dbkeep-worker');
    const launcher = await replicaWorkersFromEnvironment(
      { address: configMap.data!.TEMPORAL_ADDRESS!, namespace: 'default', taskQueue: 'dbkeep' },
      { ...configMap.data, KUBECONFIG: cluster.kubeconfigPath },
    );
    expect(launcher).toBeInstanceOf(KubernetesJobReplicaWorkers);
    await expect(
      replicaWorkersFromEnvironment({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'dbkeep' }, { DBKEEP_REPLICA_RUNTIME: 'kubernetes', DBKEEP_REPLICA_CLAIM_TEMPLATE: 'data', DBKEEP_REPLICA_STORAGE_SIZE: 'lots' }),
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

describe('the worker ServiceAccount (RBAC of deploy/base)', () => {
  beforeAll(async () => {
    const core = admin.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: OTHER_NAMESPACE } } });
    for (const namespace of ['dbkeep', OTHER_NAMESPACE]) {
      await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'db-credentials' }, stringData: { password: `${namespace}-password` } } });
    }
    const token = (
      await core.createNamespacedServiceAccountToken({ name: 'dbkeep-worker', namespace: 'dbkeep', body: { spec: { audiences: [], expirationSeconds: 3600 } } })
    ).status?.token;
    if (!token) throw new Error('the TokenRequest API returned no token');
    workerKubeconfigPath = path.join(scratch, 'worker.kubeconfig');
    writeFileSync(
      workerKubeconfigPath,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': readFileSync(cluster.caFile).toString('base64') } }],
        users: [{ name: 'dbkeep-worker', user: { token } }],
        contexts: [{ name: 'worker', context: { cluster: 'test', user: 'dbkeep-worker', namespace: 'dbkeep' } }],
        'current-context': 'worker',
      }),
      { mode: 0o600 },
    );
    worker = new KubeConfig();
    worker.loadFromFile(workerKubeconfigPath);
  });

  async function allowed(namespace: string, resource: string, verb: string, group = ''): Promise<boolean> {
    const review = await worker.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { namespace, group, resource, verb } } },
    });
    return review.status?.allowed ?? false;
  }

  it('may do what a restore into PVCs and Jobs, secretKeyRef references and Service or AppBinding targets need, in its namespace', async () => {
    const grants: Array<[string, string[], string?]> = [
      ['persistentvolumeclaims', ['create', 'get', 'list', 'patch']],
      ['jobs', ['create', 'get', 'list', 'watch', 'delete'], 'batch'],
      ['pods', ['get', 'list']],
      ['secrets', ['get']],
      ['services', ['get']],
      ['endpointslices', ['list'], 'discovery.k8s.io'],
      ['appbindings', ['get'], 'appcatalog.appscode.com'],
    ];
    for (const [resource, verbs, group] of grants) {
      for (const verb of verbs) expect(await allowed('dbkeep', resource, verb, group), `${verb} ${resource}`).toBe(true);
    }
  });

  it('may not delete PVCs, list Secrets, change Services or EndpointSlices, or touch anything in another namespace', async () => {
    expect(await allowed('dbkeep', 'persistentvolumeclaims', 'delete')).toBe(false);
    expect(await allowed('dbkeep', 'secrets', 'list')).toBe(false);
    expect(await allowed('dbkeep', 'secrets', 'create')).toBe(false);
    expect(await allowed('dbkeep', 'deployments', 'create', 'apps')).toBe(false);
    expect(await allowed('dbkeep', 'services', 'update')).toBe(false);
    expect(await allowed('dbkeep', 'endpointslices', 'create', 'discovery.k8s.io')).toBe(false);
    for (const [resource, group] of [['secrets', ''], ['persistentvolumeclaims', ''], ['jobs', 'batch'], ['services', ''], ['appbindings', 'appcatalog.appscode.com']] as const) {
      expect(await allowed(OTHER_NAMESPACE, resource, 'get', group), `get ${resource} in ${OTHER_NAMESPACE}`).toBe(false);
    }
  });

  it('really creates a PVC and a Job, reads a Secret in its namespace, and is refused another namespace\'s Secret', async () => {
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
              serviceAccountName: 'dbkeep-worker',
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
    const refused = await core.readNamespacedSecret({ name: 'db-credentials', namespace: OTHER_NAMESPACE }).catch((error: unknown) => error);
    expect((refused as { code?: number }).code).toBe(403);
    expect(String((refused as { body?: string }).body)).toContain(
      `User \\"system:serviceaccount:dbkeep:dbkeep-worker\\" cannot get resource \\"secrets\\" in API group \\"\\" in the namespace \\"${OTHER_NAMESPACE}\\"`,
    );
  });
});

describe('deploy/examples', () => {
  it('holds valid dbkeep resources whose secretKeyRefs name the example Secrets', () => {
    const file = path.join(EXAMPLES, 'resources.yaml');
    const set = parseResourceSet([{ file, text: readFileSync(file, 'utf8') }]);
    const configuration = set.backupConfigurations.get('shop-nightly')!;
    expect(configuration.spec).toMatchObject({ target: 'shop-db', repository: 'offsite', schedule: { cron: '0 2 * * *' }, retention: { keepDaily: 7 } });
    expect(set.targets.get('shop-db')!.spec.service).toEqual({ name: 'shop-db', port: 'mysql' });
    expect(set.targets.get('billing-db')!.spec).toMatchObject({ appBinding: { name: 'billing-db' } });
    const secrets = parseYamlFile(path.join(EXAMPLES, 'secrets.yaml')) as Array<KubernetesObject & { stringData: Record<string, string> }>;
    const available = new Set(secrets.flatMap((s) => Object.keys(s.stringData).map((key) => `${s.metadata!.name}/${key}`)));
    const referenced = [...readFileSync(file, 'utf8').matchAll(/secretKeyRef: \{ name: ([\w-]+), key: ([\w-]+) \}/g)].map((m) => `${m[1]}/${m[2]}`);
    expect(referenced.length).toBe(3);
    for (const reference of referenced) expect(available.has(reference), reference).toBe(true);
  });
});
