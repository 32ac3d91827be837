import type { ApplyRetentionResult } from '../activities/retention-activities';
import type { RetentionPolicy } from '../domain/retention-policy';
import type { Named, RepositorySpec } from '../domain/resources';
import { pruneActivities } from './activity-options';
import { reportSessionMetrics } from './session-metrics';
import { beginSession, failureMessage, runStep, setPhase } from './session-status';
import { requireInputFields } from './input-guard';

export interface PruneSessionInput {
  repository: Named<RepositorySpec>;
  configuration: string;
  policy?: RetentionPolicy;
  /** Decide and report, delete nothing. */
  dryRun: boolean;
}

/** `dbkeep prune`: the configuration's retention policy, on demand, with the same rules as after a backup. */
export async function pruneSession(input: PruneSessionInput): Promise<ApplyRetentionResult> {
  requireInputFields(
    input,
    ['repository.name', 'repository.spec', 'configuration', 'dryRun'],
    "the README's `temporal` CLI section shows a valid input",
  );
  const { repository, configuration } = input;
  const status = beginSession({ kind: 'prune', configuration, repository: repository.name });
  const labels = { kind: 'prune' as const, configuration, repository: repository.name };
  setPhase(status, 'Running');
  try {
    const result = await runStep(status, 'retention', () =>
      pruneActivities.applyRetention({ repository, configuration, policy: input.policy, protect: [], dryRun: input.dryRun }),
    );
    status.storedBytes = result.storedBytes;
    setPhase(status, 'Succeeded');
    await reportSessionMetrics({
      ...labels,
      success: true,
      repositorySizeBytes: result.storedBytes,
      snapshotCount: result.snapshotCount,
      snapshotsRemoved: result.dryRun ? 0 : result.removedCount,
    });
    return result;
  } catch (err) {
    status.error = failureMessage(err);
    setPhase(status, 'Failed');
    await reportSessionMetrics({ ...labels, success: false });
    throw err;
  }
}
