import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { Manifest } from '../domain/manifest';
import type { SecretRef } from '../domain/secret-ref';
import type { SecretResolver } from '../secrets/secret-resolver';

/**
 * The age identity a restore of `manifest` needs, resolved from the configuration's
 * `spec.encryption.age.identity`; undefined for snapshots that are not encrypted.
 */
export async function resolveSnapshotIdentity(
  manifest: Manifest,
  identity: SecretRef | undefined,
  secrets: SecretResolver,
): Promise<string | undefined> {
  if (!manifest.encryption) return undefined;
  if (!identity) {
    throw permanentFailure(
      PermanentFailureType.SecretUnavailable,
      `snapshot ${manifest.snapshotId} is encrypted with age (to ${manifest.encryption.recipients.join(', ')}); ` +
        `set spec.encryption.age.identity on BackupConfiguration "${manifest.configuration}" to restore it`,
    );
  }
  return `${await secrets.resolve(identity, `BackupConfiguration "${manifest.configuration}" spec.encryption.age.identity`)}\n`;
}
