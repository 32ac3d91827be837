import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from '../../pipeline/project-root';

/**
 * deploy/base as `kubectl apply -k` would send it, for tests that have no kubectl: rendered
 * here with the few kustomize fields the base uses, then applied with server-side apply.
 */
interface Kustomization {
  namespace?: string;
  resources: string[];
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean }>;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

export function parseYamlFile(file: string): KubernetesObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
    return document.toJSON() as KubernetesObject;
  });
}

/**
 * What `kustomize build` makes of dir with the fields it uses: its resources, the namespace set
 * on namespaced objects and on ServiceAccount subjects, and the labels (without selectors) added
 * to every object's metadata. options.namespace stands for an overlay that sets another namespace.
 */
export function renderKustomization(dir: string, options: { namespace?: string } = {}): KubernetesObject[] {
  const kustomization = parseYamlFile(path.join(dir, 'kustomization.yaml'))[0] as unknown as Kustomization;
  const known = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'labels']);
  const unknown = Object.keys(kustomization).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new Error(`kustomization.yaml uses fields this renderer does not render: ${unknown.join(', ')}`);
  const namespace = options.namespace ?? kustomization.namespace;
  return kustomization.resources.flatMap((resource) =>
    parseYamlFile(path.join(dir, resource)).map((object) => {
      const metadata = (object.metadata ??= {});
      if (namespace) {
        if (!CLUSTER_SCOPED.has(object.kind!)) metadata.namespace = namespace;
        else if (object.kind === 'Namespace') metadata.name = namespace;
        for (const subject of (object as { subjects?: Array<{ kind: string; namespace?: string }> }).subjects ?? []) {
          if (subject.kind === 'ServiceAccount') subject.namespace = namespace;
        }
      }
      for (const { pairs, includeSelectors } of kustomization.labels ?? []) {
        if (includeSelectors) throw new Error('labels with includeSelectors are not rendered by this renderer');
        metadata.labels = { ...metadata.labels, ...pairs };
      }
      return object;
    }),
  );
}

/** The rendered object of that kind and name; a test's precondition, so its absence throws. */
export function findRenderedObject<T extends KubernetesObject>(objects: KubernetesObject[], kind: string, name: string): T {
  const object = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!object) throw new Error(`the rendered kustomization has no ${kind} ${name}`);
  return object as T;
}

/**
 * Server-side apply of each object in order (Namespaces first, as kubectl orders them), as
 * fieldManager; the API server's answers, in the same order. A refusal names the object.
 */
export async function applyServerSide(config: KubeConfig, objects: KubernetesObject[], fieldManager: string): Promise<KubernetesObject[]> {
  const api = KubernetesObjectApi.makeApiClient(config);
  const ordered = [...objects].sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
  const applied: KubernetesObject[] = [];
  for (const object of ordered) {
    applied.push(
      await api
        .patch(structuredClone(object), undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply)
        .catch((error: unknown) => {
          throw new Error(
            `server-side apply of ${object.kind}/${object.metadata?.name} was refused: ${(error as { body?: string }).body ?? error}`,
          );
        }),
    );
  }
  return applied;
}

/** The RBAC objects of deploy/base. */
const RBAC_KINDS = new Set(['ServiceAccount', 'Role', 'RoleBinding']);

/**
 * deploy/base rendered into `namespace` (as an overlay with `namespace:` would) with only its
 * ServiceAccounts, Roles and RoleBindings applied there: the rights a flow under test gets.
 * Returns the rendering and the worker Deployment's ServiceAccount.
 */
export async function applyDeployBaseRbac(
  admin: KubeConfig,
  namespace: string,
  fieldManager: string,
): Promise<{ base: KubernetesObject[]; workerServiceAccount: string }> {
  const base = renderKustomization(path.join(projectRoot(), 'deploy', 'base'), { namespace });
  await applyServerSide(
    admin,
    base.filter((object) => RBAC_KINDS.has(object.kind!)),
    fieldManager,
  );
  const worker = findRenderedObject<KubernetesObject & { spec: { template: { spec: { serviceAccountName: string } } } }>(
    base,
    'Deployment',
    'dbkeep-worker',
  );
  return { base, workerServiceAccount: worker.spec.template.spec.serviceAccountName };
}
