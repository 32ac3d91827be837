import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { formatZodIssues } from '../domain/resource-set';
import { targetSpecSchema, type Named, type TargetSpec } from '../domain/resources';
import { DEFAULT_TLS, missingCaProblem } from '../domain/target-tls';
import {
  parseAppBinding,
  readyEndpoints,
  selectServicePort,
  targetAtEndpoints,
  type BoundCredentials,
  type TargetEndpoint,
} from '../domain/target-endpoints';
import {
  classifyKubernetesReadError,
  kubernetesApiStatus,
  type KubernetesApiAccess,
  type KubernetesApiAccessLoader,
} from '../kubernetes/api-access';
import type { SecretResolver } from '../secrets/secret-resolver';

/**
 * A Target names its database by host, socket, Kubernetes Service or AppBinding; the tools
 * need a host and a port. This turns the last two into the first, on the worker, at the start
 * of every activity that connects to a target (createActivities wraps them with
 * withConcreteTarget), so a workflow never holds an address that may have moved by the time
 * a retry runs, nor anything read from a Secret.
 *
 * A Service is resolved to its ready endpoints (EndpointSlices), not to its cluster DNS name
 * (`<name>.<namespace>.svc`): a worker outside the cluster, or in one without cluster DNS or
 * kube-proxy, can still connect, and a Galera target's donor choice sees every node, which a
 * load-balanced Service address would hide behind one.
 */
export interface TargetEndpointResolver {
  /** The Target with host (or socket), port, user and password reference; validated first. */
  resolve(target: Named<TargetSpec>): Promise<Named<TargetSpec>>;
}

/** Transient: a database that is starting or restarting has no ready endpoint for a while. */
export class NoReadyEndpointError extends Error {
  override readonly name = 'NoReadyEndpointError';
}

const APP_BINDING = { group: 'appcatalog.appscode.com', version: 'v1alpha1', plural: 'appbindings' } as const;
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function createTargetEndpointResolver(deps: {
  secrets: SecretResolver;
  kubernetes: KubernetesApiAccessLoader;
}): TargetEndpointResolver {
  async function apiAccess(target: string, field: string): Promise<KubernetesApiAccess> {
    return deps.kubernetes().catch((error: unknown) => {
      throw permanentFailure(
        PermanentFailureType.TargetReferenceUnavailable,
        `Target "${target}": cannot read spec.${field}: ${(error as Error).message}`,
      );
    });
  }

  function unusable(target: string, problem: string): Error {
    return permanentFailure(PermanentFailureType.TargetReferenceUnavailable, `Target "${target}": ${problem}`);
  }

  async function serviceEndpoints(
    target: string,
    access: KubernetesApiAccess,
    service: { name: string; namespace: string; port?: number | string },
    field: string,
  ): Promise<[TargetEndpoint, ...TargetEndpoint[]]> {
    const { name, namespace } = service;
    const what = `Service ${namespace}/${name}`;
    const readFailure = (error: unknown) =>
      classifyKubernetesReadError(error, {
        type: PermanentFailureType.TargetReferenceUnavailable,
        cannotRead: `Target "${target}": cannot read ${what} (${field})`,
        readingFailed: `Target "${target}": reading ${what} from ${access.server} failed`,
        notFound: `there is no Service ${name} in namespace ${namespace}`,
        grant: `Grant it "get" on services and "list" on endpointslices (API group discovery.k8s.io) in namespace ${namespace} (a Role and a RoleBinding).`,
        access,
      });
    const read = await access.config
      .makeApiClient(access.client.CoreV1Api)
      .readNamespacedService({ name, namespace })
      .catch((error: unknown) => {
        throw readFailure(error);
      });
    const port = selectServicePort(read, service.port, what);
    if ('problem' in port) throw unusable(target, port.problem);
    const slices = await access.config
      .makeApiClient(access.client.DiscoveryV1Api)
      .listNamespacedEndpointSlice({ namespace, labelSelector: `${SERVICE_NAME_LABEL}=${name}` })
      .catch((error: unknown) => {
        throw readFailure(error);
      });
    const [first, ...others] = readyEndpoints(slices.items, port);
    if (first === undefined) {
      throw new NoReadyEndpointError(
        `Target "${target}": ${what} has no ready endpoint for port ${port.name || port.port} ` +
          `(${slices.items.length} EndpointSlice(s) labelled ${SERVICE_NAME_LABEL}=${name}); is the database running and ready?`,
      );
    }
    return [first, ...others];
  }

  async function appBindingTarget(target: Named<TargetSpec>, reference: { name: string; namespace?: string }): Promise<TargetSpec> {
    const access = await apiAccess(target.name, 'appBinding');
    const namespace = reference.namespace ?? access.defaultNamespace;
    const what = `AppBinding ${namespace}/${reference.name}`;
    const object: unknown = await access.config
      .makeApiClient(access.client.CustomObjectsApi)
      .getNamespacedCustomObject({ ...APP_BINDING, namespace, name: reference.name })
      .catch((error: unknown) => {
        throw classifyKubernetesReadError(error, {
          type: PermanentFailureType.TargetReferenceUnavailable,
          cannotRead: `Target "${target.name}": cannot read ${what} (spec.appBinding)`,
          readingFailed: `Target "${target.name}": reading ${what} from ${access.server} failed`,
          // Without details.name the 404 is about the resource type: no AppBinding CRD.
          notFound:
            kubernetesApiStatus(error)?.objectName === undefined
              ? `the API server does not serve ${APP_BINDING.plural}.${APP_BINDING.group}/${APP_BINDING.version}: install the AppBinding CRD (it comes with Stash and KubeDB)`
              : `there is no AppBinding ${reference.name} in namespace ${namespace}`,
          grant: `Grant it "get" on ${APP_BINDING.plural} (API group ${APP_BINDING.group}) in namespace ${namespace} (a Role and a RoleBinding).`,
          access,
        });
      });
    const binding = parseAppBinding(object, what);
    if ('problem' in binding) throw unusable(target.name, binding.problem);
    const endpoints: [TargetEndpoint, ...TargetEndpoint[]] =
      'service' in binding.address
        ? await serviceEndpoints(target.name, access, { ...binding.address.service, namespace }, `spec.clientConfig.service of ${what}`)
        : [binding.address];
    const credentials: BoundCredentials = {};
    if (binding.secretName !== undefined) {
      const secret = { name: binding.secretName, namespace };
      // The password stays a reference, resolved where it is used; the user name is not a secret.
      credentials.password = { secretKeyRef: { ...secret, key: 'password' } };
      if (target.spec.user === undefined) {
        credentials.user = await deps.secrets.resolve(
          { secretKeyRef: { ...secret, key: 'username' } },
          `Target "${target.name}" user (${what})`,
        );
      }
    }
    const spec = targetAtEndpoints(target.spec, endpoints, credentials);
    const tls = spec.tls ?? DEFAULT_TLS;
    const withCa =
      tls.ca === undefined && tls.caBundle === undefined && binding.caBundle !== undefined ? { ...tls, caBundle: binding.caBundle } : tls;
    const problem = missingCaProblem(withCa);
    if (problem) {
      throw permanentFailure(
        PermanentFailureType.TlsConfigurationInvalid,
        `Target "${target.name}": spec.tls.ca ${problem}, and ${what} has no spec.clientConfig.caBundle`,
      );
    }
    return withCa === tls ? spec : { ...spec, tls: withCa };
  }

  return {
    async resolve(target) {
      // Checked here: a session started with the temporal CLI skipped the resource files' checks.
      const parsed = targetSpecSchema.safeParse(target.spec);
      if (!parsed.success) {
        throw permanentFailure(
          PermanentFailureType.InvalidInput,
          `Target "${target.name}": ${formatZodIssues(parsed.error.issues, 'spec')}`,
        );
      }
      const spec = parsed.data;
      if (spec.service) {
        const access = await apiAccess(target.name, 'service');
        const service = { ...spec.service, namespace: spec.service.namespace ?? access.defaultNamespace };
        return { name: target.name, spec: targetAtEndpoints(spec, await serviceEndpoints(target.name, access, service, 'spec.service')) };
      }
      if (spec.appBinding) return { name: target.name, spec: await appBindingTarget({ name: target.name, spec }, spec.appBinding) };
      return { name: target.name, spec };
    },
  };
}

/** The activity, given its input's Target resolved to a host and port first. */
export function withConcreteTarget<I extends { target: Named<TargetSpec> }, R>(
  targets: TargetEndpointResolver,
  activity: (input: I) => Promise<R>,
): (input: I) => Promise<R> {
  return async (input) => activity({ ...input, target: await targets.resolve(input.target) });
}
