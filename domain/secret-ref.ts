import path from 'node:path';
import { z } from 'zod';
import { kubernetesNamespaceSchema, kubernetesObjectNameSchema } from './kubernetes-names';

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

export const secretKeySelectorSchema = z.strictObject({
  name: kubernetesObjectNameSchema,
  key: z
    .string()
    .max(253, 'must be at most 253 characters')
    .regex(SECRET_KEY, 'must be letters, digits, "-", "_" and "."')
    .refine((key) => key !== '.' && key !== '..', 'must not be "." or ".."'),
  /** The worker's own namespace when absent (its pod's, or its kubeconfig context's). */
  namespace: kubernetesNamespaceSchema.optional(),
});

export type SecretKeySelector = z.infer<typeof secretKeySelectorSchema>;

/**
 * Where a secret value lives. Resources and workflow inputs only ever carry these
 * references; the value is read by the worker, inside an activity, at the moment it is needed.
 */
export const secretRefSchema = z.union(
  [
    z.strictObject({
      env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
    }),
    z.strictObject({
      file: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
    }),
    // As a Pod's env[].valueFrom.secretKeyRef, plus a namespace.
    z.strictObject({ secretKeyRef: secretKeySelectorSchema }),
  ],
  {
    error: (issue) =>
      isObjectWith(issue.input, 'secretKeyRef')
        ? 'must be { secretKeyRef: { name, key, namespace? } } with name and key set'
        : 'must be a secret reference: { env: NAME } or { file: /absolute/path }',
  },
);

export type SecretRef = z.infer<typeof secretRefSchema>;

export function describeSecretRef(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`;
  if ('file' in ref) return `file ${ref.file}`;
  return describeSecretKey(ref.secretKeyRef, ref.secretKeyRef.namespace);
}

/**
 * `key "password" of Secret db/mariadb-credentials`, naming the object and never its value;
 * without a namespace, until the worker has resolved its own.
 */
export function describeSecretKey(selector: SecretKeySelector, namespace: string | undefined): string {
  const where = namespace === undefined ? `${selector.name} in the worker's namespace` : `${namespace}/${selector.name}`;
  return `key "${selector.key}" of Secret ${where}`;
}

function isObjectWith(input: unknown, key: string): boolean {
  return typeof input === 'object' && input !== null && key in input;
}
