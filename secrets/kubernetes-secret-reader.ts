import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { describeSecretKey, type SecretKeySelector } from '../domain/secret-ref';
import { classifyKubernetesReadError, kubernetesApiAccessLoader, type KubernetesApiAccess } from '../kubernetes/api-access';

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

/**
 * Uses the worker's Kubernetes access (kubernetes/api-access.ts): the pod's service account and
 * namespace, or the kubeconfig and its context's namespace, loaded on the first read.
 */
export function createKubernetesSecretReader(options: KubernetesSecretReaderOptions = {}): KubernetesSecretReader {
  const loadAccess = kubernetesApiAccessLoader(options.env ?? process.env);
  const connect = (purpose: string, selector: SecretKeySelector): Promise<KubernetesApiAccess> =>
    loadAccess().catch((error: unknown) => {
      throw permanentFailure(
        PermanentFailureType.SecretUnavailable,
        `${purpose}: cannot read ${describeSecretKey(selector, selector.namespace)}: ${(error as Error).message}`,
      );
    });

  return {
    async readSecretKey(selector, purpose) {
      const access = await connect(purpose, selector);
      const namespace = selector.namespace ?? access.defaultNamespace;
      const what = describeSecretKey(selector, namespace);
      let data: Record<string, string> | undefined;
      try {
        ({ data } = await access.config.makeApiClient(access.client.CoreV1Api).readNamespacedSecret({ name: selector.name, namespace }));
      } catch (error) {
        throw classifyKubernetesReadError(error, {
          type: PermanentFailureType.SecretUnavailable,
          cannotRead: `${purpose}: cannot read ${what}`,
          readingFailed: `${purpose}: reading ${what} from ${access.server} failed`,
          notFound: `there is no Secret ${selector.name} in namespace ${namespace}`,
          grant: `Grant it "get" on secrets in namespace ${namespace} (a Role and a RoleBinding), or reference a Secret it may read.`,
          access,
        });
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
