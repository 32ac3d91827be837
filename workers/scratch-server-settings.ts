import { z } from 'zod';
import { KubernetesJobScratchServers } from '../activities/kubernetes-scratch-servers';
import { LocalScratchServers, type ScratchServerLaunchers } from '../activities/scratch-servers';
import { kubernetesNamespaceSchema } from '../domain/kubernetes-names';
import { formatZodIssues } from '../domain/resource-set';
import { parseScratchImages } from '../domain/scratch-server-image';
import { kubernetesApiAccessLoader } from '../kubernetes/api-access';

const nonRootIdSchema = z.coerce
  .number()
  .int()
  .min(1, 'must not be 0: the server runs as non-root')
  .max(2 ** 31 - 1);

const scratchSettingsSchema = z.strictObject({
  namespace: kubernetesNamespaceSchema.optional(),
  images: z.string().optional(),
  runAsUser: nonRootIdSchema.default(999),
  runAsGroup: nonRootIdSchema.default(999),
});

const SCRATCH_ENV_NAMES: Record<string, string> = {
  namespace: 'DBKEEP_SCRATCH_NAMESPACE',
  images: 'DBKEEP_SCRATCH_IMAGES',
  runAsUser: 'DBKEEP_SCRATCH_RUN_AS_USER',
  runAsGroup: 'DBKEEP_SCRATCH_RUN_AS_GROUP',
};

/**
 * The scratch servers of restore drills (docs/restore-drills.md): `local`, the worker's own
 * mariadbd or mysqld on a scratch directory, and `kubernetes`, a Job of the engine's image on an
 * emptyDir per drill, as spec.verification.scratch says. The Kubernetes API is the pod's
 * ServiceAccount in a pod, else KUBECONFIG or ~/.kube/config, loaded by the first such drill.
 * From the environment, checked when the worker starts:
 *
 * - DBKEEP_SCRATCH_NAMESPACE: where the Jobs go; default the pod's own namespace (or the kubeconfig context's).
 * - DBKEEP_SCRATCH_IMAGES: comma-separated `engine=image` overriding the official images, with
 *   `{version}` for the snapshot's server release, e.g. `mariadb=registry.example/mariadb:{version}`.
 * - DBKEEP_SCRATCH_RUN_AS_USER, DBKEEP_SCRATCH_RUN_AS_GROUP: the image's mysql user; default 999.
 */
export function scratchServersFromEnvironment(env: NodeJS.ProcessEnv = process.env): ScratchServerLaunchers {
  const parsed = scratchSettingsSchema.safeParse({
    namespace: env.DBKEEP_SCRATCH_NAMESPACE || undefined,
    images: env.DBKEEP_SCRATCH_IMAGES || undefined,
    runAsUser: env.DBKEEP_SCRATCH_RUN_AS_USER || undefined,
    runAsGroup: env.DBKEEP_SCRATCH_RUN_AS_GROUP || undefined,
  });
  if (!parsed.success) {
    const messages = parsed.error.issues.map(
      (issue) => `${SCRATCH_ENV_NAMES[String(issue.path[0])] ?? String(issue.path[0])}: ${formatZodIssues([{ ...issue, path: [] }])}`,
    );
    throw new Error(`scratch server settings: ${messages.join('; ')}`);
  }
  const settings = parsed.data;
  const images = parseScratchImages(settings.images);
  if ('problem' in images) throw new Error(`scratch server settings: DBKEEP_SCRATCH_IMAGES: ${images.problem}`);
  const loadApiAccess = kubernetesApiAccessLoader(env);
  return {
    local: new LocalScratchServers(),
    kubernetes: new KubernetesJobScratchServers({
      access: async () => {
        const { config, client, defaultNamespace } = await loadApiAccess();
        return {
          api: {
            core: config.makeApiClient(client.CoreV1Api),
            batch: config.makeApiClient(client.BatchV1Api),
            discovery: config.makeApiClient(client.DiscoveryV1Api),
          },
          namespace: settings.namespace ?? defaultNamespace,
        };
      },
      images: images.images,
      runAs: { uid: settings.runAsUser, gid: settings.runAsGroup },
    }),
  };
}
