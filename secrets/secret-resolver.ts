import { readFile } from 'node:fs/promises';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { describeSecretRef, type SecretRef } from '../domain/secret-ref';
import { createKubernetesSecretReader, type KubernetesSecretReader } from './kubernetes-secret-reader';

/**
 * Turns a secret reference into its value. Only activities call this, on the worker,
 * right before the value is used; the value never goes back into Temporal.
 */
export interface SecretResolver {
  resolve(ref: SecretRef, purpose: string): Promise<string>;
}

/**
 * Resolves `{ env }` from the worker's environment, `{ file }` from the worker's file system and
 * `{ secretKeyRef }` through kubernetesSecrets (by default, the Kubernetes API as configured by
 * the same environment: the pod's service account, or KUBECONFIG).
 */
export function createSecretResolver(
  env: NodeJS.ProcessEnv = process.env,
  kubernetesSecrets: KubernetesSecretReader = createKubernetesSecretReader({ env }),
): SecretResolver {
  return {
    async resolve(ref, purpose) {
      if ('env' in ref) {
        const value = env[ref.env];
        if (value === undefined || value === '') {
          throw permanentFailure(
            PermanentFailureType.SecretUnavailable,
            `${purpose}: ${describeSecretRef(ref)} is not set in the worker's environment`,
          );
        }
        return value;
      }
      const stored = 'file' in ref ? await readSecretFile(ref, purpose) : await kubernetesSecrets.readSecretKey(ref.secretKeyRef, purpose);
      // One trailing newline is what `echo secret > file` and `kubectl create secret --from-file`
      // leave behind; a Secret key and the same key mounted as a file resolve to the same value.
      const value = stored.replace(/\r?\n$/, '');
      // Same rule as for the environment: an empty secret is a missing one, not an empty password.
      if (value === '') {
        throw permanentFailure(PermanentFailureType.SecretUnavailable, `${purpose}: ${describeSecretRef(ref)} is empty`);
      }
      return value;
    },
  };
}

async function readSecretFile(ref: { file: string }, purpose: string): Promise<string> {
  try {
    return await readFile(ref.file, 'utf8');
  } catch (err) {
    throw permanentFailure(
      PermanentFailureType.SecretUnavailable,
      `${purpose}: cannot read ${describeSecretRef(ref)} on the worker: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}
