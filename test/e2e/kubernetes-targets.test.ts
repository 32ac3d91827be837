import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  loadYaml,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, type Worker } from '@temporalio/worker';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { createTargetEndpointResolver, NoReadyEndpointError } from '../../activities/target-endpoint';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { parseManifest } from '../../domain/manifest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { API_VERSION } from '../../domain/resources';
import { kubernetesApiAccessLoader } from '../../kubernetes/api-access';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { diffFingerprints, fingerprintDatabase, type DatabaseFingerprint } from '../../stack/database-fingerprint';
import { startKubeApiServer, type KubeApiServer } from '../../stack/kube-apiserver';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { createTestCertificates } from '../../stack/test-certificates';
import { projectRoot } from '../../pipeline/project-root';
import { createDbkeepWorker, workflowsPath } from '../../workers/dbkeep-worker';
import { allHistoriesJson, configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { workflowFailureOf } from '../support/workflow-failure';
import { startPodNetworkRelay, type PodNetworkRelay } from '../support/pod-network-relay';

/**
 * Targets found through Kubernetes against a real kube-apiserver: a Service without selector
 * whose EndpointSlice points at a real MariaDB (what a Service in front of a database pod looks
 * like to the worker, with no cluster DNS or kube-proxy here), and an AppBinding (Stash's and
 * KubeDB's, its CRD from test/fixtures) whose Secret holds the credentials. Backups and
 * restores run through Temporal on a worker whose Kubernetes access is the test cluster's
 * admin kubeconfig (context namespace "default").
 *
 * Each MariaDB listens on 127.0.0.1 only and is reached through a relay on this machine's own
 * non-loopback address, the stand-in for a pod IP (test/support/pod-network-relay.ts).
 */
const NAMESPACE = 'databases';
const DATABASE = 'shop';
const APP_BINDING_CRD = path.join(projectRoot(), 'test', 'fixtures', 'appbinding-crd.yaml');
const RESTORER = 'restorer';
const RESTORER_PASSWORD = `restorer-${randomBytes(9).toString('base64url')}`;

const scratch = mkdtempSync(path.join(tmpdir(), 'dbkeep-kubernetes-targets-'));
let cluster: KubeApiServer;
let stack: E2eStack;
let kubeEnv: NodeJS.ProcessEnv;
let core: CoreV1Api;
let discovery: DiscoveryV1Api;
let worker: Worker;
let workerRunning: Promise<void>;
let client: DbkeepClient;
let source: MariaDbInstance;
let restored: MariaDbInstance;
let sourceEndpoint: { host: string; port: number };
let expected: DatabaseFingerprint;
let snapshotId: string;
const relays: PodNetworkRelay[] = [];

/** A relay to the instance (test/support/pod-network-relay.ts): the endpoint a Service of it lists. */
async function relayTo(instance: MariaDbInstance): Promise<{ host: string; port: number }> {
  const relay = await startPodNetworkRelay(instance.port);
  relays.push(relay);
  return { host: relay.host, port: relay.port };
}

async function fingerprintOf(instance: MariaDbInstance): Promise<DatabaseFingerprint> {
  const connection = await rootConnection(instance);
  try {
    return await fingerprintDatabase(connection, DATABASE);
  } finally {
    await connection.end();
  }
}

/** A Service without selector and the EndpointSlice a controller would make for it, listing one endpoint. */
async function createServiceFor(namespace: string, name: string, endpoint: { host: string; port: number }, ready = true): Promise<void> {
  await core.createNamespacedService({
    namespace,
    body: { metadata: { name }, spec: { ports: [{ name: 'mysql', port: 3306, targetPort: endpoint.port, protocol: 'TCP' }] } },
  });
  await discovery.createNamespacedEndpointSlice({
    namespace,
    body: {
      metadata: { name: `${name}-manual`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'mysql', port: endpoint.port, protocol: 'TCP' }],
      endpoints: [{ addresses: [endpoint.host], conditions: { ready } }],
    },
  });
}

function target(name: string, spec: Record<string, unknown>): object {
  return { apiVersion: API_VERSION, kind: 'Target', metadata: { name }, spec: { engine: 'mariadb', ...spec } };
}

function resources(...documents: object[]) {
  return stack.resources(
    target('by-service', {
      service: { name: 'shop-db', namespace: NAMESPACE, port: 'mysql' },
      password: { secretKeyRef: { name: 'shop-db-root', key: 'password', namespace: NAMESPACE } },
    }),
    // No namespace: the worker's, which is its kubeconfig context's ("default").
    target('by-app-binding', { appBinding: { name: 'restore-db' } }),
    target('ghost', { service: { name: 'no-such-db', namespace: NAMESPACE }, password: { env: 'UNUSED' } }),
    configurationDocument('shop', { target: 'by-service', databases: [DATABASE] }),
    configurationDocument('ghost', { target: 'ghost' }),
    ...documents,
  );
}

async function restoreInto(targetName: string) {
  const set = resources();
  const handle = await client.restore({
    repository: set.repositories.get('repo')!,
    configuration: 'shop',
    target: resolveTarget(set, targetName),
    selector: { snapshotId },
  });
  return handle.result();
}

async function installAppBindingCrd(config: KubeConfig): Promise<void> {
  // loadYaml maps x-kubernetes-preserve-unknown-fields to the model's field; the client drops it from a plain object.
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(APP_BINDING_CRD, 'utf8'));
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  await extensions.createCustomResourceDefinition({ body: crd });
  for (let waited = 0; ; waited += 100) {
    const current = await extensions.readCustomResourceDefinition({ name: crd.metadata!.name! });
    if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    if (waited > 30_000) throw new Error('the AppBinding CRD was not established within 30 s');
    await sleep(100);
  }
}

/** An AppBinding of a KubeDB MariaDB in namespace default. */
async function createAppBinding(admin: KubeConfig, name: string, spec: { clientConfig: object; secret: { name: string } }): Promise<void> {
  await admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: 'appcatalog.appscode.com',
    version: 'v1alpha1',
    namespace: 'default',
    plural: 'appbindings',
    body: {
      apiVersion: 'appcatalog.appscode.com/v1alpha1',
      kind: 'AppBinding',
      metadata: { name },
      spec: { type: 'kubedb.com/mariadb', ...spec },
    },
  });
}

beforeAll(async () => {
  [cluster, stack] = await Promise.all([startKubeApiServer({ dir: path.join(scratch, 'cluster') }), startE2eStack()]);
  kubeEnv = { ...process.env, KUBECONFIG: cluster.kubeconfigPath };
  const admin = new KubeConfig();
  admin.loadFromFile(cluster.kubeconfigPath);
  core = admin.makeApiClient(CoreV1Api);
  discovery = admin.makeApiClient(DiscoveryV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });

  [source, restored] = await Promise.all([stack.startMariaDb(), stack.startMariaDb()]);
  const sql = await rootConnection(source);
  await sql.query(`CREATE DATABASE ${DATABASE}; USE ${DATABASE};
    CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(40), total DECIMAL(10,2)) ENGINE=InnoDB;
    INSERT INTO shop.orders SELECT seq, CONCAT('customer-', seq % 97), seq * 1.25 FROM seq_1_to_5000;
    CREATE VIEW shop.big_orders AS SELECT id, total FROM shop.orders WHERE total > 1000;`);
  await sql.end();
  expected = await fingerprintOf(source);
  // The AppBinding's user: not root, and only its Secret knows the password.
  const target = await rootConnection(restored);
  await target.query(
    `CREATE USER '${RESTORER}'@'127.0.0.1' IDENTIFIED BY '${RESTORER_PASSWORD}'; GRANT ALL ON *.* TO '${RESTORER}'@'127.0.0.1';`,
  );
  await target.end();
  stack.passwords.push(RESTORER_PASSWORD);

  await core.createNamespacedSecret({
    namespace: NAMESPACE,
    body: { metadata: { name: 'shop-db-root' }, stringData: { password: source.rootPassword } },
  });
  sourceEndpoint = await relayTo(source);
  await createServiceFor(NAMESPACE, 'shop-db', sourceEndpoint);
  await createServiceFor('default', 'restore-db', await relayTo(restored));
  await core.createNamespacedSecret({
    namespace: 'default',
    body: { metadata: { name: 'restore-db-auth' }, stringData: { username: RESTORER, password: RESTORER_PASSWORD } },
  });

  const taskQueue = `${stack.taskQueue}-kubernetes-targets`;
  const connection = await NativeConnection.connect({ address: stack.temporal.address });
  worker = await createDbkeepWorker({
    connection,
    namespace: stack.temporal.namespace,
    taskQueue,
    activities: createActivities({ secrets: createSecretResolver(kubeEnv), kubernetes: kubernetesApiAccessLoader(kubeEnv) }),
    workflowBundle: await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') }),
  });
  workerRunning = worker.run().finally(() => connection.close());
  client = new DbkeepClient(stack.client.temporal, taskQueue);
});

afterAll(async () => {
  if (worker) {
    worker.shutdown();
    await workerRunning;
  }
  await stack?.stop();
  await cluster?.stop();
  for (const relay of relays) relay.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('Targets found through Kubernetes', () => {
  it("backs up through a Service's ready EndpointSlice endpoint", async () => {
    const result = await (await client.backupNow(resolveBackupConfiguration(resources(), 'shop'))).result();
    if (result.outcome !== 'succeeded') throw new Error(`skipped for ${result.runningSession}`);
    snapshotId = result.snapshotId;
    const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/shop/${snapshotId}/manifest.json` }));
    const manifest = parseManifest(await object.Body!.transformToString());
    if (!manifest.ok) throw new Error(manifest.reason);
    // The endpoint's address, not the Service's.
    expect(manifest.manifest.target).toMatchObject({ name: 'by-service', address: `${sourceEndpoint.host}:${sourceEndpoint.port}` });
  });

  it('fails a restore through an AppBinding non-retryably while its CRD is not installed', async () => {
    const failure = await workflowFailureOf(restoreInto('by-app-binding'));
    expect(failure).toMatchObject({ type: 'TargetReferenceUnavailable', nonRetryable: true });
    expect(failure.message).toBe(
      'Target "by-app-binding": cannot read AppBinding default/restore-db (spec.appBinding): the API server does not serve ' +
        'appbindings.appcatalog.appscode.com/v1alpha1: install the AppBinding CRD (it comes with Stash and KubeDB)',
    );
  });

  it('restores through an AppBinding, with its Service and the credentials of its Secret, into identical tables', async () => {
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfigPath);
    await installAppBindingCrd(admin);
    const missing = await workflowFailureOf(restoreInto('by-app-binding'));
    expect(missing.message).toBe(
      'Target "by-app-binding": cannot read AppBinding default/restore-db (spec.appBinding): there is no AppBinding restore-db in namespace default',
    );

    // As KubeDB writes it: a Service and a Go DSN; the Service wins.
    await createAppBinding(admin, 'restore-db', {
      clientConfig: { service: { name: 'restore-db', port: 3306, scheme: 'mysql' }, url: 'tcp(restore-db.default.svc:3306)/' },
      secret: { name: 'restore-db-auth' },
    });
    // The Target names neither user nor password: root without a password would be refused.
    const result = await restoreInto('by-app-binding');
    expect(result.databases).toEqual([DATABASE]);
    expect(diffFingerprints(expected, await fingerprintOf(restored))).toEqual([]);
  });

  it("verifies a TLS-only server with the CA of an AppBinding's caBundle, and refuses a verifying Target whose AppBinding has none", async () => {
    const certs = await createTestCertificates(path.join(scratch, 'pki'));
    const tlsSource = await stack.startDatabase({
      tls: { caFile: certs.caFile, certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, requireSecureTransport: true },
    });
    const sql = await rootConnection(tlsSource);
    await sql.query(`CREATE DATABASE ${DATABASE}; CREATE TABLE ${DATABASE}.orders (id INT PRIMARY KEY) ENGINE=InnoDB;
      USE ${DATABASE}; INSERT INTO orders SELECT seq FROM seq_1_to_100;`);
    await sql.end();
    await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'tls-db-auth' }, stringData: { username: 'root', password: tlsSource.rootPassword } },
    });
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfigPath);
    const caBundle = readFileSync(certs.caFile).toString('base64');
    for (const [name, extra] of [
      ['tls-db', { caBundle }],
      ['tls-db-no-ca', {}],
    ] as const) {
      // A URL on loopback: the server's certificate names 127.0.0.1.
      await createAppBinding(admin, name, {
        clientConfig: { url: `tcp://127.0.0.1:${tlsSource.port}`, ...extra },
        secret: { name: 'tls-db-auth' },
      });
    }
    const set = resources(
      target('tls-by-app-binding', { appBinding: { name: 'tls-db' }, tls: { mode: 'verify-identity' } }),
      target('tls-without-ca', { appBinding: { name: 'tls-db-no-ca' }, tls: { mode: 'verify-ca' } }),
      configurationDocument('tls-shop', { target: 'tls-by-app-binding', databases: [DATABASE] }),
      configurationDocument('tls-without-ca', { target: 'tls-without-ca', databases: [DATABASE] }),
    );
    const backup = await (await client.backupNow(resolveBackupConfiguration(set, 'tls-shop'))).result();
    expect(backup.outcome).toBe('succeeded');

    const failure = await workflowFailureOf((await client.backupNow(resolveBackupConfiguration(set, 'tls-without-ca'))).result());
    expect(failure).toMatchObject({ type: 'TlsConfigurationInvalid', nonRetryable: true });
    expect(failure.message).toBe(
      'Target "tls-without-ca": spec.tls.ca (or caFile, or caBundle) is required with mode verify-ca: the CA that signed the ' +
        "server's certificate, and AppBinding default/tls-db-no-ca has no spec.clientConfig.caBundle",
    );
  });

  it('fails a session non-retryably, naming the Service, when the Service does not exist', async () => {
    const handle = await client.backupNow(resolveBackupConfiguration(resources(), 'ghost'));
    const failure = await workflowFailureOf(handle.result());
    expect(failure).toMatchObject({ type: 'TargetReferenceUnavailable', nonRetryable: true });
    expect(failure.message).toBe(
      'Target "ghost": cannot read Service databases/no-such-db (spec.service): there is no Service no-such-db in namespace databases',
    );
  });

  it('says a Service has no ready endpoint with a retryable error, and connects once it has one', async () => {
    const targets = createTargetEndpointResolver({
      secrets: createSecretResolver(kubeEnv),
      kubernetes: kubernetesApiAccessLoader(kubeEnv),
    });
    await createServiceFor(NAMESPACE, 'starting-db', sourceEndpoint, false);
    const starting = {
      name: 'starting',
      spec: { engine: 'mariadb' as const, service: { name: 'starting-db', namespace: NAMESPACE }, port: 3306 },
    };
    const error = await targets.resolve(starting).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoReadyEndpointError);
    expect((error as Error).message).toBe(
      `Target "starting": Service ${NAMESPACE}/starting-db has no ready endpoint for port mysql ` +
        '(1 EndpointSlice(s) labelled kubernetes.io/service-name=starting-db); is the database running and ready?',
    );
    await discovery.patchNamespacedEndpointSlice(
      {
        name: 'starting-db-manual',
        namespace: NAMESPACE,
        body: { endpoints: [{ addresses: [sourceEndpoint.host], conditions: { ready: true } }] },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await expect(targets.resolve(starting)).resolves.toEqual({
      name: 'starting',
      spec: { engine: 'mariadb', host: sourceEndpoint.host, port: sourceEndpoint.port, user: 'root' },
    });
  });

  it('keeps every password out of every workflow history', async () => {
    const { workflows, json } = await allHistoriesJson(stack);
    expect(workflows).toBeGreaterThanOrEqual(5);
    for (const password of stack.passwords) expect(json).not.toContain(password);
  });
});
