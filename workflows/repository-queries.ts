import type { ListSnapshotsInput, ListSnapshotsResult } from '../activities/restore-activities';
import type { RepositoryStatusInput, RepositoryStatus } from '../activities/repository-status';
import { quickActivities } from './activity-options';

/**
 * Reads of a repository run through the worker, which is where repository credentials are
 * resolved: the CLI and the client never need them.
 */
export async function listSnapshotsWorkflow(input: ListSnapshotsInput): Promise<ListSnapshotsResult> {
  return quickActivities.listSnapshots(input);
}

export async function repositoryStatusWorkflow(input: RepositoryStatusInput): Promise<RepositoryStatus> {
  return quickActivities.repositoryStatus(input);
}
