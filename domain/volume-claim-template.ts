import { z } from 'zod';
import { DNS1123_SUBDOMAIN, kubernetesObjectNameSchema } from './kubernetes-names';
import { formatZodIssues } from './resource-set';
import { POD_ORDINAL_PLACEHOLDER, volumeForOrdinal } from './session-ids';

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadWriteOncePod', 'ReadWriteMany', 'ReadOnlyMany'] as const;

export const storageQuantitySchema = z
  .string()
  .regex(/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/, 'must be a Kubernetes quantity such as 20Gi');
export const accessModesSchema = z.array(z.enum(ACCESS_MODES)).min(1, 'must list at least one access mode');

/**
 * The PersistentVolumeClaim of each replica of a restore on Kubernetes, as Stash's
 * volumeClaimTemplate: `${POD_ORDINAL}` in the name becomes the replica's ordinal. Fields left
 * out come from the worker's settings (DBKEEP_REPLICA_CLAIM_TEMPLATE, DBKEEP_REPLICA_STORAGE_*).
 */
export const volumeClaimTemplateSchema = z.strictObject({
  /** e.g. `data-galera-${POD_ORDINAL}`; each replica's name must be a valid PVC name. */
  name: z
    .string()
    .min(1)
    .max(253)
    .refine(
      (name) => DNS1123_SUBDOMAIN.test(volumeForOrdinal(name, 0)),
      `must be a PVC name (lowercase letters, digits, "-" and "."), with ${POD_ORDINAL_PLACEHOLDER} for the ordinal`,
    ),
  /** The cluster's default class when omitted everywhere. */
  storageClassName: kubernetesObjectNameSchema.optional(),
  /** Each claim's request: room for the prepared data directory. */
  size: storageQuantitySchema.optional(),
  /** Default [ReadWriteOnce]. */
  accessModes: accessModesSchema.optional(),
});

export type VolumeClaimTemplate = z.infer<typeof volumeClaimTemplateSchema>;

/** One replica's claim, as created. */
export interface ReplicaClaim {
  name: string;
  storageClassName?: string;
  size: string;
  accessModes: string[];
}

/**
 * The claim of one replica: each field from the restore's template, else from the worker's
 * defaults (its environment), `${POD_ORDINAL}` in the name replaced by the ordinal.
 */
export function replicaClaim(
  restoreTemplate: VolumeClaimTemplate | undefined,
  defaults: Partial<VolumeClaimTemplate>,
  ordinal: number,
): ReplicaClaim | { problem: string } {
  if (restoreTemplate !== undefined) {
    // Checked here too: a restore started with the temporal CLI skipped the client's checks.
    const parsed = volumeClaimTemplateSchema.safeParse(restoreTemplate);
    if (!parsed.success) return { problem: `volumeClaimTemplate: ${formatZodIssues(parsed.error.issues)}` };
  }
  const field = <K extends keyof VolumeClaimTemplate>(key: K): VolumeClaimTemplate[K] | undefined =>
    restoreTemplate?.[key] ?? defaults[key];
  const template = field('name');
  if (template === undefined) {
    return {
      problem:
        'no claim template: the restore has no volumeClaimTemplate (--volume-claim) and the worker has no DBKEEP_REPLICA_CLAIM_TEMPLATE',
    };
  }
  const name = volumeForOrdinal(template, ordinal);
  if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    return {
      problem:
        `claim template "${template}": "${name}" is not a valid PVC name (lowercase letters, digits, "-" and ".", ` +
        `starting and ending with a letter or digit, at most 253 characters; ${POD_ORDINAL_PLACEHOLDER} becomes the ordinal)`,
    };
  }
  const size = field('size');
  if (size === undefined) {
    return {
      problem: `claim ${name}: no size: set it in the restore's volumeClaimTemplate (--storage-size) or the worker's DBKEEP_REPLICA_STORAGE_SIZE`,
    };
  }
  return { name, storageClassName: field('storageClassName'), size, accessModes: field('accessModes') ?? ['ReadWriteOnce'] };
}
