import { readFile } from 'node:fs/promises';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import { describeSecretRef, type SecretRef } from '../domain/secret-ref';

/**
 * Turns a secret reference into its value. Only activities call this, on the worker,
 * right before the value is used; the value never goes back into Temporal.
 */
export interface SecretResolver {
  resolve(ref: SecretRef, purpose: string): Promise<string>;
}

/** Resolves `{ env }` from the worker's environment and `{ file }` from the worker's file system. */
export function createSecretResolver(env: NodeJS.ProcessEnv = process.env): SecretResolver {
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
      let value: string;
      try {
        // One trailing newline is what `echo secret > file` and Kubernetes tooling leave behind.
        value = (await readFile(ref.file, 'utf8')).replace(/\r?\n$/, '');
      } catch (err) {
        throw permanentFailure(
          PermanentFailureType.SecretUnavailable,
          `${purpose}: cannot read ${describeSecretRef(ref)} on the worker: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
      // Same rule as for the environment: an empty secret is a missing one, not an empty password.
      if (value === '') {
        throw permanentFailure(PermanentFailureType.SecretUnavailable, `${purpose}: ${describeSecretRef(ref)} is empty`);
      }
      return value;
    },
  };
}
