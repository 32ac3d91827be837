import type { V1EndpointSlice, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { z } from 'zod';
import { DEFAULT_TARGET_USER, type TargetSpec } from './resources';
import type { SecretRef } from './secret-ref';
import { caBundlePem } from './target-tls';
import { isGaleraTarget } from './tool-commands';

/**
 * How a Target that names a Kubernetes Service or an AppBinding becomes one with a host and a
 * port. Pure: activities/target-endpoint.ts reads the objects and these functions decide.
 */

export interface TargetEndpoint {
  host: string;
  port: number;
}

/** What keeps a Target from resolving, for a permanent failure: the objects are not what the Target says. */
export type Problem = { problem: string };

/**
 * The Service port a Target means: the one with that number (the Service's `port`, not the
 * pod's), the one with that name, or the only one.
 */
export function selectServicePort(service: V1Service, wanted: number | string | undefined, what: string): V1ServicePort | Problem {
  if (service.spec?.type === 'ExternalName') {
    return {
      problem: `${what} is of type ExternalName (${service.spec.externalName}), which has no endpoints: use host: ${service.spec.externalName} instead`,
    };
  }
  const ports = service.spec?.ports ?? [];
  const listed = ports.map((p) => `${p.name ? `${p.name} ` : ''}${p.port}/${p.protocol ?? 'TCP'}`).join(', ') || 'none';
  if (wanted === undefined) {
    if (ports.length === 1) return ports[0]!;
    return { problem: `${what} has ${ports.length} ports (${listed}): set service.port to the database's port number or name` };
  }
  const port = ports.find((p) => (typeof wanted === 'number' ? p.port === wanted : p.name === wanted));
  return port ?? { problem: `${what} has no port ${typeof wanted === 'number' ? wanted : `named "${wanted}"`} (its ports: ${listed})` };
}

/**
 * The ready endpoints of a Service's port, in a stable order (slices by name, then as listed),
 * each once. An EndpointSlice port belongs to a Service port by name (both unnamed for a
 * Service with one unnamed port). An endpoint whose `ready` is unset counts as ready, as the
 * EndpointSlice API says; of its addresses only the first is used, as the API allows (they
 * are fungible).
 */
export function readyEndpoints(slices: readonly V1EndpointSlice[], servicePort: V1ServicePort): TargetEndpoint[] {
  const portName = servicePort.name ?? '';
  const endpoints = new Map<string, TargetEndpoint>();
  const ordered = [...slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const slice of ordered) {
    const port = (slice.ports ?? []).find((p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === 'TCP')?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints) {
      const host = endpoint.addresses[0];
      if (host === undefined || endpoint.conditions?.ready === false) continue;
      endpoints.set(`${host}:${port}`, { host, port });
    }
  }
  return [...endpoints.values()];
}

/** What dbkeep reads of an AppBinding (appcatalog.appscode.com/v1alpha1), as Stash and KubeDB write it. */
export interface AppBindingConnection {
  /** A Service in the AppBinding's namespace (preferred: see readyEndpoints), or the host and port of its URL. */
  address: { service: { name: string; port?: number } } | TargetEndpoint;
  /** The Secret, in the AppBinding's namespace, with the keys `username` and `password`. */
  secretName?: string;
  /** `spec.clientConfig.caBundle`: base64 of the PEM of the CA that signed the server's certificate. */
  caBundle?: string;
}

const appBindingSchema = z.object({
  spec: z.object({
    clientConfig: z.object({
      service: z.object({ name: z.string().min(1), port: z.number().int().min(1).max(65535).optional() }).optional(),
      url: z.string().min(1).optional(),
      caBundle: z.string().optional(),
    }),
    secret: z.object({ name: z.string().min(1) }).optional(),
  }),
});

/** KubeDB's MySQL/MariaDB form is a Go driver DSN: `tcp(host:port)/`. */
const GO_DSN_ADDRESS = /^tcp\(([^()]+)\)/;
const DEFAULT_MYSQL_PORT = 3306;

export function parseAppBinding(object: unknown, what: string): AppBindingConnection | Problem {
  const parsed = appBindingSchema.safeParse(object);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { problem: `${what}: ${issue.path.join('.')}: ${issue.message}` };
  }
  const { clientConfig, secret } = parsed.data.spec;
  const secretName = secret?.name;
  if (clientConfig.caBundle !== undefined && caBundlePem(clientConfig.caBundle) === undefined) {
    return { problem: `${what}: spec.clientConfig.caBundle is not base64 of PEM certificates` };
  }
  const caBundle = clientConfig.caBundle === undefined ? {} : { caBundle: clientConfig.caBundle };
  if (clientConfig.service) return { address: { service: clientConfig.service }, secretName, ...caBundle };
  if (clientConfig.url === undefined) {
    return { problem: `${what}: spec.clientConfig has neither service nor url` };
  }
  const endpoint = endpointOfUrl(clientConfig.url);
  if (endpoint === undefined) {
    return { problem: `${what}: spec.clientConfig.url "${clientConfig.url}" is not mysql://host:port, tcp://host:port or tcp(host:port)/` };
  }
  return { address: endpoint, secretName, ...caBundle };
}

function endpointOfUrl(url: string): TargetEndpoint | undefined {
  const dsn = GO_DSN_ADDRESS.exec(url);
  const text = dsn ? `tcp://${dsn[1]}` : url;
  if (!/^(mysql|tcp):\/\//.test(text)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return undefined;
  }
  // An IPv6 address comes bracketed.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return undefined;
  return { host, port: parsed.port === '' ? DEFAULT_MYSQL_PORT : Number(parsed.port) };
}

/** The user and password an AppBinding provides; the Target's own, when set, win over them. */
export interface BoundCredentials {
  user?: string;
  password?: SecretRef;
}

/**
 * The Target as the tools connect to it: the first endpoint as its host; for a Galera target,
 * every endpoint also a member the donor choice may pick (after the members the Target lists,
 * which may carry a datadir).
 */
export function targetAtEndpoints(
  spec: TargetSpec,
  endpoints: readonly [TargetEndpoint, ...TargetEndpoint[]],
  credentials: BoundCredentials = {},
): TargetSpec {
  const { service: _service, appBinding: _appBinding, ...rest } = spec;
  const concrete: TargetSpec = {
    ...rest,
    host: endpoints[0].host,
    port: endpoints[0].port,
    user: spec.user ?? credentials.user ?? DEFAULT_TARGET_USER,
    password: spec.password ?? credentials.password,
  };
  if (!isGaleraTarget(spec)) return concrete;
  const members = [...(spec.galera?.members ?? [])];
  const listed = new Set(members.map((m) => `${m.host}:${m.port}`));
  for (const endpoint of endpoints) if (!listed.has(`${endpoint.host}:${endpoint.port}`)) members.push({ ...endpoint });
  return { ...concrete, galera: { ignoreGlobalPriv: true, ...spec.galera, members } };
}
