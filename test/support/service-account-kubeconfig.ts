import { writeFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export interface ServiceAccountKubeconfigOptions {
  namespace: string;
  name: string;
  /** Where the kubeconfig is written (mode 0600). */
  file: string;
  /** Default one hour; the API server's minimum is 10 minutes. */
  expirationSeconds?: number;
}

/**
 * A kubeconfig that authenticates as the ServiceAccount namespace/name with a token from the
 * TokenRequest API (what the kubelet projects into a pod), on admin's cluster, its context's
 * namespace the ServiceAccount's (as a pod's in-cluster configuration has it). Requests made
 * with it get that ServiceAccount's RBAC, nothing more. Needs the API server's
 * --service-account-signing-key-file and --service-account-issuer (stack/kube-apiserver.ts sets them).
 */
export async function writeServiceAccountKubeconfig(admin: KubeConfig, options: ServiceAccountKubeconfigOptions): Promise<KubeConfig> {
  const { namespace, name, file } = options;
  const cluster = admin.getCurrentCluster();
  if (!cluster?.caData) throw new Error('the admin kubeconfig has no current cluster with certificate-authority-data');
  const token = (
    await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: options.expirationSeconds ?? 3600 } },
    })
  ).status?.token;
  if (!token) throw new Error(`the TokenRequest API returned no token for ServiceAccount ${namespace}/${name}`);
  const user = `system:serviceaccount:${namespace}:${name}`;
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: cluster.name, cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: user, context: { cluster: cluster.name, user, namespace } }],
      'current-context': user,
    }),
    { mode: 0o600 },
  );
  const config = new KubeConfig();
  config.loadFromFile(file);
  return config;
}
