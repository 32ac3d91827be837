import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { permanentFailure, type PermanentFailureType } from '../domain/failures';

/** The worker's own access to the Kubernetes API, as secretKeyRef and Service targets use it. */
export interface KubernetesApiAccess {
  config: KubeConfig;
  /** @kubernetes/client-node, loaded on first use: the package is ESM and large, and most workers never need it. */
  client: typeof import('@kubernetes/client-node');
  /** Used when a reference names no namespace. */
  defaultNamespace: string;
  /** Which configuration this is, for error messages: a pod's service account or a kubeconfig. */
  identity: string;
  /** The API server's URL, for error messages. */
  server: string;
}

export type KubernetesApiAccessLoader = () => Promise<KubernetesApiAccess>;

/**
 * In a pod (KUBERNETES_SERVICE_HOST set) the pod's service account and namespace; elsewhere the
 * kubeconfig (KUBECONFIG, or ~/.kube/config) and its current context's namespace, or "default".
 * Nothing is loaded until the first call, so a worker that never meets a Kubernetes reference
 * needs no Kubernetes at all; a failed load is tried again by the next call (a kubeconfig
 * written meanwhile is picked up).
 */
export function kubernetesApiAccessLoader(env: NodeJS.ProcessEnv = process.env): KubernetesApiAccessLoader {
  let loaded: Promise<KubernetesApiAccess> | undefined;
  return () => {
    loaded ??= loadApiAccess(env).catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
}

async function loadApiAccess(env: NodeJS.ProcessEnv): Promise<KubernetesApiAccess> {
  const client = await import('@kubernetes/client-node');
  if (env.KUBERNETES_SERVICE_HOST) {
    const config = new client.KubeConfig();
    // Also reads the pod's namespace into the context, from the service account's namespace file.
    config.loadFromCluster();
    return apiAccess(client, config, "the pod's service account");
  }
  const files = kubeconfigFiles(env);
  const config = loadKubeconfigFiles(client.KubeConfig, files);
  const context = config.getContextObject(config.getCurrentContext());
  const where = context === null ? '' : ` (context "${context.name}", user "${context.user}")`;
  return apiAccess(client, config, `kubeconfig ${files.join(delimiter)}${where}`);
}

function apiAccess(client: KubernetesApiAccess['client'], config: KubeConfig, identity: string): KubernetesApiAccess {
  return {
    config,
    client,
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
    throw new Error(
      `no Kubernetes API access configured: not in a pod (KUBERNETES_SERVICE_HOST is unset), KUBECONFIG is unset, and ${file} does not exist`,
    );
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

/** How to word a failed read of one object, for classifyKubernetesReadError. */
export interface KubernetesReadContext {
  /** The permanent failure's type. */
  type: PermanentFailureType;
  /** Starts a permanent failure's message, e.g. `Target "db" password: cannot read key "password" of Secret a/b`. */
  cannotRead: string;
  /** Starts a transient error's message, e.g. `... reading key "password" of Secret a/b from https://... failed`. */
  readingFailed: string;
  /** Why a 404 happened, e.g. `there is no Secret b in namespace a`. */
  notFound: string;
  /** What to grant after a 403, e.g. `Grant it "get" on secrets in namespace a (a Role and a RoleBinding)`. */
  grant: string;
  access: KubernetesApiAccess;
}

/**
 * A missing object, an RBAC refusal or refused credentials are permanent (retrying cannot help);
 * anything else (a restarting API server, a timeout, throttling) may pass, and Temporal retries it.
 */
export function classifyKubernetesReadError(error: unknown, context: KubernetesReadContext): Error {
  const { type, cannotRead, access } = context;
  const status = kubernetesApiStatus(error);
  switch (status?.code) {
    case 404:
      return permanentFailure(type, `${cannotRead}: ${context.notFound}`);
    case 403:
      return permanentFailure(type, `${cannotRead}: forbidden for ${access.identity}: ${status.message}. ${context.grant}`);
    case 401:
      return permanentFailure(type, `${cannotRead}: the API server did not accept the credentials of ${access.identity}`);
    default: {
      const reason = status === undefined ? errorChain(error) : `HTTP ${status.code}: ${status.message}`;
      return new Error(`${context.readingFailed}: ${reason}`, { cause: error });
    }
  }
}

/**
 * The HTTP code and the message of the Kubernetes Status object in an ApiException's body,
 * e.g. `secrets "db" is forbidden: User "system:serviceaccount:a:worker" cannot get resource...`.
 * A 404 without details.name means the resource type itself is not served (a CRD not installed).
 */
export function kubernetesApiStatus(error: unknown): { code: number; message: string; objectName?: string } | undefined {
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
  const status = parsed as { message?: unknown; details?: { name?: unknown } } | undefined;
  const message = typeof status?.message === 'string' ? status.message : `HTTP ${code}`;
  const objectName = typeof status?.details?.name === 'string' ? status.details.name : undefined;
  return { code, message, objectName };
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a certificate error) is in its causes. */
function errorChain(error: unknown): string {
  const messages: string[] = [];
  for (let cause = error; cause instanceof Error; cause = cause.cause) messages.push(cause.message);
  return messages.length === 0 ? String(error) : messages.join(': ');
}
