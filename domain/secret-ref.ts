import path from 'node:path';
import { z } from 'zod';

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
  ],
  { error: 'must be a secret reference: { env: NAME } or { file: /absolute/path }' },
);

export type SecretRef = z.infer<typeof secretRefSchema>;

export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}
