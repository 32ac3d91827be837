import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PermanentFailure } from '../../domain/failures';
import { secretRefSchema, type SecretRef } from '../../domain/secret-ref';
import { createKubernetesSecretReader } from '../../secrets/kubernetes-secret-reader';
import { createSecretResolver, type SecretResolver } from '../../secrets/secret-resolver';
import { findFreePort } from '../../stack/free-port';
import { startKubeApiServer, type KubeApiServer } from '../../stack/kube-apiserver';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-kubernetes-secrets-'));
const TEAM_A = 'team-a';
const TEAM_B = 'team-b';
const WORKER = 'dbkeep-worker';
const PASSWORD_A = 'team-a-password-value';
const PASSWORD_B = 'team-b-password-value';

let cluster: KubeApiServer;
/** Resolves as the cluster admin (system:masters), whose kubeconfig context namespace is "default". */
let asAdmin: SecretResolver;
/**
 * Resolves as ServiceAccount team-a/dbkeep-worker through a TokenRequest token: a Role lets it
 * get Secrets in team-a only. Its kubeconfig context namespace is team-a.
 */
let asWorker: SecretResolver;

beforeAll(async () => {
  cluster = await startKubeApiServer({ dir: join(scratch, 'cluster') });
  const admin = new KubeConfig();
  admin.loadFromFile(cluster.kubeconfigPath);
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);

  for (const [namespace, password] of [
    [TEAM_A, PASSWORD_A],
    [TEAM_B, PASSWORD_B],
  ] as const) {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      // A trailing newline, as `kubectl create secret --from-file` of an echoed file leaves it.
      body: { metadata: { name: 'db-credentials' }, stringData: { password: `${password}\n`, username: 'backup' } },
    });
  }
  await core.createNamespacedServiceAccount({ namespace: TEAM_A, body: { metadata: { name: WORKER } } });
  await rbac.createNamespacedRole({
    namespace: TEAM_A,
    body: { metadata: { name: 'secret-reader' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: TEAM_A,
    body: {
      metadata: { name: 'dbkeep-worker-reads-secrets' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
      subjects: [{ kind: 'ServiceAccount', name: WORKER, namespace: TEAM_A }],
    },
  });
  const tokenRequest = await core.createNamespacedServiceAccountToken({
    name: WORKER,
    namespace: TEAM_A,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = tokenRequest.status?.token;
  if (!token) throw new Error('the TokenRequest API returned no token');

  asAdmin = createSecretResolver({ KUBECONFIG: cluster.kubeconfigPath });
  asWorker = createSecretResolver({ KUBECONFIG: writeTokenKubeconfig('worker.kubeconfig', cluster.server, token, TEAM_A) });
});

afterAll(async () => {
  await cluster?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

function writeTokenKubeconfig(name: string, server: string, token: string, namespace: string): string {
  const file = join(scratch, name);
  const ca = readFileSync(cluster.caFile).toString('base64');
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': ca } }],
    users: [{ name: WORKER, user: { token } }],
    contexts: [{ name: 'worker', context: { cluster: 'test', user: WORKER, namespace } }],
    'current-context': 'worker',
  };
  writeFileSync(file, stringify(kubeconfig), { mode: 0o600 });
  return file;
}

function secretKeyRef(name: string, key: string, namespace?: string): SecretRef {
  // Through the schema, as a reference in a resource file would come.
  return secretRefSchema.parse({ secretKeyRef: { name, key, ...(namespace === undefined ? {} : { namespace }) } });
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  const message = (error as Error).message;
  for (const value of [PASSWORD_A, PASSWORD_B]) expect(message).not.toContain(value);
  return error as Error;
}

async function permanentFailureOf(promise: Promise<unknown>): Promise<PermanentFailure> {
  const error = await failureOf(promise);
  expect(error).toBeInstanceOf(PermanentFailure);
  const failure = error as PermanentFailure;
  expect(failure.type).toBe('SecretUnavailable');
  expect(failure.nonRetryable).toBe(true);
  return failure;
}

describe('secretKeyRef resolution against a real API server', () => {
  it('reads an existing key, stripping one trailing newline as for a mounted file', async () => {
    await expect(asAdmin.resolve(secretKeyRef('db-credentials', 'password', TEAM_A), 'Target "db" password')).resolves.toBe(PASSWORD_A);
    await expect(asAdmin.resolve(secretKeyRef('db-credentials', 'username', TEAM_B), 'p')).resolves.toBe('backup');
  });

  it('defaults to the namespace of the kubeconfig context', async () => {
    await expect(asWorker.resolve(secretKeyRef('db-credentials', 'password'), 'p')).resolves.toBe(PASSWORD_A);
    const failure = await permanentFailureOf(asAdmin.resolve(secretKeyRef('db-credentials', 'password'), 'p'));
    expect(failure.message).toContain('there is no Secret db-credentials in namespace default');
  });

  it('fails permanently, naming namespace, Secret and key, when the Secret does not exist', async () => {
    const failure = await permanentFailureOf(
      asAdmin.resolve(secretKeyRef('missing-credentials', 'password', TEAM_A), 'Target "db" password'),
    );
    expect(failure.message).toBe(
      'Target "db" password: cannot read key "password" of Secret team-a/missing-credentials: ' +
        'there is no Secret missing-credentials in namespace team-a',
    );
  });

  it('fails permanently, naming the keys that exist but none of their values, when the key does not exist', async () => {
    const failure = await permanentFailureOf(asAdmin.resolve(secretKeyRef('db-credentials', 'passwd', TEAM_A), 'Target "db" password'));
    expect(failure.message).toBe(
      'Target "db" password: cannot read key "passwd" of Secret team-a/db-credentials: ' +
        'the Secret has no key "passwd" (its keys are "password", "username")',
    );
  });

  it('reads a Secret as a ServiceAccount that RBAC lets get Secrets in its namespace', async () => {
    await expect(asWorker.resolve(secretKeyRef('db-credentials', 'password', TEAM_A), 'p')).resolves.toBe(PASSWORD_A);
  });

  it("fails permanently with the API server's reason when RBAC forbids the ServiceAccount another namespace", async () => {
    const failure = await permanentFailureOf(asWorker.resolve(secretKeyRef('db-credentials', 'password', TEAM_B), 'Target "db" password'));
    expect(failure.message).toContain(
      'Target "db" password: cannot read key "password" of Secret team-b/db-credentials: forbidden for kubeconfig',
    );
    expect(failure.message).toContain(
      'User "system:serviceaccount:team-a:dbkeep-worker" cannot get resource "secrets" in API group "" in the namespace "team-b"',
    );
    expect(failure.message).toContain('Grant it "get" on secrets in namespace team-b');
  });

  it('fails permanently when the credentials are not accepted', async () => {
    const resolver = createSecretResolver({
      KUBECONFIG: writeTokenKubeconfig('bad-token.kubeconfig', cluster.server, 'not-a-token', TEAM_A),
    });
    const failure = await permanentFailureOf(resolver.resolve(secretKeyRef('db-credentials', 'password', TEAM_A), 'p'));
    expect(failure.message).toContain('the API server did not accept the credentials of kubeconfig');
  });

  it('throws a retryable error when the API server does not answer', async () => {
    const closed = `https://127.0.0.1:${await findFreePort()}`;
    const reader = createKubernetesSecretReader({ env: { KUBECONFIG: writeTokenKubeconfig('closed.kubeconfig', closed, 'x', TEAM_A) } });
    const error = await failureOf(
      createSecretResolver({}, reader).resolve(secretKeyRef('db-credentials', 'password'), 'Target "db" password'),
    );
    expect(error).not.toBeInstanceOf(PermanentFailure);
    expect(error.message).toContain(`Target "db" password: reading key "password" of Secret team-a/db-credentials from ${closed} failed: `);
    expect(error.message).toContain('ECONNREFUSED');
  });
});

describe('secretKeyRef resolution without Kubernetes configuration', () => {
  it('fails permanently, saying what was looked for', async () => {
    const home = join(scratch, 'empty-home');
    mkdirSync(home);
    const failure = await permanentFailureOf(
      createSecretResolver({ HOME: home }).resolve(secretKeyRef('db-credentials', 'password'), 'Target "db" password'),
    );
    expect(failure.message).toBe(
      'Target "db" password: cannot read key "password" of Secret db-credentials in the worker\'s namespace: ' +
        `no Kubernetes API access configured: not in a pod (KUBERNETES_SERVICE_HOST is unset), KUBECONFIG is unset, and ${home}/.kube/config does not exist`,
    );
  });
});
