import type { ApplyRetentionResult } from '../activities/retention-activities';
import type { PruneSessionInput } from '../domain/session-inputs';
import { pruneActivities } from './activity-options';
import { runSession } from './session-skeleton';
import { beginSession, runStep, type SessionIdentity } from './session-status';
import { requireInputFields } from './input-guard';

/** `dbkeep prune`: the configuration's retention policy, on demand, with the same rules as after a backup. */
export async function pruneSession(input: PruneSessionInput): Promise<ApplyRetentionResult> {
  requireInputFields(
    input,
    ['repository.name', 'repository.spec', 'configuration', 'dryRun'],
    "the README's `temporal` CLI section shows a valid input",
  );
  const { repository, configuration } = input;
  const identity: SessionIdentity = { kind: 'prune', configuration, repository: repository.name };
  const status = beginSession(identity);
  return runSession(status, identity, async () => {
    const result = await runStep(status, 'retention', () =>
      pruneActivities.applyRetention({ repository, configuration, policy: input.policy, protect: [], dryRun: input.dryRun }),
    );
    status.storedBytes = result.storedBytes;
    return {
      result,
      metrics: {
        repositorySizeBytes: result.storedBytes,
        snapshotCount: result.snapshotCount,
        snapshotsRemoved: result.dryRun ? 0 : result.removedCount,
      },
    };
  });
}
