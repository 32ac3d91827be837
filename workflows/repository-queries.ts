import type { ListSnapshotsInput, ListSnapshotsResult } from '../activities/restore-activities';
import type { RepositoryStatusInput, RepositoryStatus } from '../activities/repository-status';
import type { ImportDumpsInput, ImportDumpsResult } from '../activities/import-activities';
import type { RecoverableWindowInput, RecoverableWindowResult } from '../activities/point-in-time-activities';
import { quickActivities, streamingActivities } from './activity-options';

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

/** `dbkeep pitr status`: the recoverable windows, read from the repository. */
export async function recoverableWindowWorkflow(input: RecoverableWindowInput): Promise<RecoverableWindowResult> {
  return quickActivities.readRecoverableWindow(input);
}

/** `dbkeep import`: external dumps under a configuration's prefix become snapshots. */
export async function importDumpsWorkflow(input: ImportDumpsInput): Promise<ImportDumpsResult> {
  return streamingActivities.importExternalDumps(input);
}
