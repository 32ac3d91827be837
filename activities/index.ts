import { createSecretResolver, type SecretResolver } from '../secrets/secret-resolver';
import type { Named, RepositorySpec } from '../domain/resources';
import type { Storage } from '../storage/storage';
import { createBackupActivities } from './backup-activities';
import { createRestoreActivities } from './restore-activities';

export interface ActivityDeps {
  secrets?: SecretResolver;
  openStorage?: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}

/** Every activity dbkeep registers, with their dependencies injected (tests pass their own). */
export function createActivities(deps: ActivityDeps = {}) {
  const resolved = { secrets: deps.secrets ?? createSecretResolver(), openStorage: deps.openStorage };
  return {
    ...createBackupActivities(resolved),
    ...createRestoreActivities(resolved),
  };
}

export type DbkeepActivities = ReturnType<typeof createActivities>;
