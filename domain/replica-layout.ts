// Pure and dependency-free: the volume restore workflow imports it (zod stays out of the workflow bundle).
import { POD_ORDINAL_PLACEHOLDER } from './session-ids';

/** The most replicas one restore populates. */
export const MAX_REPLICAS = 64;

/**
 * What is wrong with how a volume restore lays out its replicas, or undefined: the one check
 * the TypeScript client runs before it starts the session and the workflow runs on an input
 * written by hand. `field` is the input's field, dot-separated.
 */
export function replicaLayoutProblem(input: {
  replicas: number;
  volumeTemplate?: string;
  volumeClaimTemplate?: { name: string };
}): { field: string; message: string } | undefined {
  const { replicas, volumeTemplate, volumeClaimTemplate } = input;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    return { field: 'replicas', message: `must be a whole number from 1 to ${MAX_REPLICAS}, got ${replicas}` };
  }
  if ((volumeTemplate === undefined) === (volumeClaimTemplate === undefined)) {
    return { field: 'volumeTemplate', message: 'exactly one of volumeTemplate (directories) or volumeClaimTemplate (PVCs) must be set' };
  }
  const [field, template] = volumeClaimTemplate
    ? ['volumeClaimTemplate.name', volumeClaimTemplate.name]
    : ['volumeTemplate', volumeTemplate!];
  if (replicas > 1 && !template.includes(POD_ORDINAL_PLACEHOLDER)) {
    return {
      field,
      message: `with ${replicas} replicas it must contain ${POD_ORDINAL_PLACEHOLDER}, or every replica would write the same volume`,
    };
  }
  return undefined;
}
