import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { describeSecretKey, type SecretKeySelector } from '../domain/secret-ref';

/** Reads keys of Kubernetes Secrets through the API server, as the worker's own identity. */
export interface KubernetesSecretReader {
  /**
   * The value of one key of a Secret, decoded from base64 and otherwise unchanged. A Secret or
   * key that is not there, or that the worker may not read, fails permanently with
   * SecretUnavailable; an unreachable or failing API server throws a plain (retryable) error.
   */
  readSecretKey(selector: SecretKeySelector, purpose: string): Promise<string>;
}

export interface KubernetesSecretReaderOptions {
  /** Where KUBERNETES_SERVICE_HOST, KUBECONFIG and HOME are looked up; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

interface ApiAccess {
  secrets: CoreV1Api;
  /** Used when a reference names no namespace. */
  defaultNamespace: string;
  /** Which configuration this is, for error messages: a pod's service account or a kubeconfig. */
  identity: string;
  /** The API server's URL, for error messages. */
  server: string;
}

/**
 * In a pod (KUBERNETES_SERVICE_HOST set) the reader uses the pod's service account and
 * defaults to the pod's namespace; elsewhere it uses the kubeconfig (KUBECONFIG, or
 * ~/.kube/config) and its current context's namespace, or "default". Nothing is loaded until
 * the first read, so a worker that never meets a secretKeyRef needs no Kubernetes at all.
 */
export function createKubernetesSecretReader(options: KubernetesSecretReaderOptions = {}): KubernetesSecretReader {
  const env = options.env ?? process.env;
  let loaded: Promise<ApiAccess> | undefined;
  const connect = (purpose: string, selector: SecretKeySelector): Promise<ApiAccess> => {
    loaded ??= loadApiAccess(env).catch((error: unknown) => {
      // A kubeconfig written after a failed attempt is picked up by the next one.
      loaded = undefined;
      throw error;
    });
    return loaded.catch((error: unknown) => {
      throw permanentFailure(
        PermanentFailureType.SecretUnavailable,
        `${purpose}: cannot read ${describeSecretKey(selector, selector.namespace)}: ${(error as Error).message}`,
      );
    });
  };

  return {
    async readSecretKey(selector, purpose) {
      const access = await connect(purpose, selector);
      const namespace = selector.namespace ?? access.defaultNamespace;
      const what = describeSecretKey(selector, namespace);
      let data: Record<string, string> | undefined;
      try {
        ({ data } = await access.secrets.readNamespacedSecret({ name: selector.name, namespace }));
      } catch (error) {
        throw readFailure(error, { purpose, what, namespace, selector, access });
      }
      const encoded = data?.[selector.key];
      if (encoded === undefined) {
        // Key names are not secret, and they are what a user needs to spot a typo.
        const keys = Object.keys(data ?? {});
        const present = keys.length === 0 ? 'it has no keys' : `its keys are ${keys.map((key) => `"${key}"`).join(', ')}`;
        throw permanentFailure(
          PermanentFailureType.SecretUnavailable,
          `${purpose}: cannot read ${what}: the Secret has no key "${selector.key}" (${present})`,
        );
      }
      return Buffer.from(encoded, 'base64').toString('utf8');
    },
  };
}

async function loadApiAccess(env: NodeJS.ProcessEnv): Promise<ApiAccess> {
  // Loaded on first use: the package is ESM and large, and most workers never need it.
  const kubernetes = await import('@kubernetes/client-node');
  if (env.KUBERNETES_SERVICE_HOST) {
    const config = new kubernetes.KubeConfig();
    // Also reads the pod's namespace into the context, from the service account's namespace file.
    config.loadFromCluster();
    return apiAccess(kubernetes.CoreV1Api, config, "the pod's service account");
  }
  const files = kubeconfigFiles(env);
  const config = loadKubeconfigFiles(kubernetes.KubeConfig, files);
  const context = config.getContextObject(config.getCurrentContext());
  const where = context === null ? '' : ` (context "${context.name}", user "${context.user}")`;
  return apiAccess(kubernetes.CoreV1Api, config, `kubeconfig ${files.join(delimiter)}${where}`);
}

function apiAccess(api: typeof CoreV1Api, config: KubeConfig, identity: string): ApiAccess {
  return {
    secrets: config.makeApiClient(api),
    defaultNamespace: config.getContextObject(config.getCurrentContext())?.namespace || 'default',
    identity,
    server: config.getCurrentCluster()?.server ?? 'the API server',
  };
}

function kubeconfigFiles(env: NodeJS.ProcessEnv): string[] {
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((file) => file !== '');
  if (listed.length > 0) return listed;
  const home = env.HOME || homedir();
  const file = join(home, '.kube', 'config');
  if (!existsSync(file)) {
    throw new Error(`no Kubernetes API access configured: not in a pod (KUBERNETES_SERVICE_HOST is unset), KUBECONFIG is unset, and ${file} does not exist`);
  }
  return [file];
}

/**
 * As @kubernetes/client-node's loadFromDefault does with a KUBECONFIG list (which reads only
 * process.env): the first file's current context wins, the others add clusters, users and contexts.
 */
function loadKubeconfigFiles(KubeConfigClass: typeof KubeConfig, files: string[]): KubeConfig {
  const [first, ...others] = files.map((file) => {
    const config = new KubeConfigClass();
    try {
      config.loadFromFile(file);
    } catch (error) {
      throw new Error(`cannot load kubeconfig ${file}: ${(error as Error).message}`);
    }
    return config;
  });
  // kubeconfigFiles never returns an empty list.
  for (const other of others) first!.mergeConfig(other, true);
  return first!;
}

function readFailure(
  error: unknown,
  context: { purpose: string; what: string; namespace: string; selector: SecretKeySelector; access: ApiAccess },
): Error {
  const { purpose, what, namespace, selector } = context;
  const { identity, server } = context.access;
  const status = apiStatus(error);
  switch (status?.code) {
    case 404:
      return permanentFailure(
        PermanentFailureType.SecretUnavailable,
        `${purpose}: cannot read ${what}: there is no Secret ${selector.name} in namespace ${namespace}`,
      );
    case 403:
      return permanentFailure(
        PermanentFailureType.SecretUnavailable,
        `${purpose}: cannot read ${what}: forbidden for ${identity}: ${status.message}. ` +
          `Grant it "get" on secrets in namespace ${namespace} (a Role and a RoleBinding), or reference a Secret it may read.`,
      );
    case 401:
      return permanentFailure(
        PermanentFailureType.SecretUnavailable,
        `${purpose}: cannot read ${what}: the API server did not accept the credentials of ${identity}`,
      );
    default: {
      // Anything else (a restarting API server, a timeout, throttling) may pass: Temporal retries it.
      const reason = status === undefined ? errorChain(error) : `HTTP ${status.code}: ${status.message}`;
      return new Error(`${purpose}: reading ${what} from ${server} failed: ${reason}`, { cause: error });
    }
  }
}

/**
 * The HTTP code and the message of the Kubernetes Status object in an ApiException's body,
 * e.g. `secrets "db" is forbidden: User "system:serviceaccount:a:worker" cannot get resource...`.
 */
function apiStatus(error: unknown): { code: number; message: string } | undefined {
  if (typeof error !== 'object' || error === null || typeof (error as { code?: unknown }).code !== 'number') {
    return undefined;
  }
  const { code, body } = error as { code: number; body?: unknown };
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return { code, message: typeof message === 'string' ? message : `HTTP ${code}` };
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a certificate error) is in its causes. */
function errorChain(error: unknown): string {
  const messages: string[] = [];
  for (let cause = error; cause instanceof Error; cause = cause.cause) messages.push(cause.message);
  return messages.length === 0 ? String(error) : messages.join(': ');
}
