import type { Named, RepositorySpec } from '../domain/resources';
import { createSecretResolver, type SecretResolver } from '../secrets/secret-resolver';
import { openStorage } from '../storage/open-storage';
import type { Storage } from '../storage/storage';
import { createBackupActivities } from './backup-activities';
import { createMetricsActivities } from './metrics-activities';
import { createRepositoryStatusActivities } from './repository-status';
import { createRestoreActivities } from './restore-activities';
import { createRetentionActivities } from './retention-activities';
import { findEarlierBackupSession } from './session-admission';

export interface ActivityDeps {
  secrets?: SecretResolver;
  openStorage?: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
  /** Where session metrics go; none configured means they are not pushed. */
  pushgatewayUrl?: string;
}

/** Every activity dbkeep registers, with their dependencies injected (tests pass their own). */
export function createActivities(deps: ActivityDeps = {}) {
  const resolved = { secrets: deps.secrets ?? createSecretResolver(), openStorage: deps.openStorage ?? openStorage };
  return {
    ...createBackupActivities(resolved),
    ...createRestoreActivities(resolved),
    ...createRetentionActivities(resolved),
    ...createRepositoryStatusActivities(resolved),
    ...createMetricsActivities({ pushgatewayUrl: deps.pushgatewayUrl }),
    findEarlierBackupSession,
  };
}

export type DbkeepActivities = ReturnType<typeof createActivities>;
