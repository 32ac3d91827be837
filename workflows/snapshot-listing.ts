import type { ListSnapshotsInput, ListSnapshotsResult } from '../activities/restore-activities';
import { quickActivities } from './activity-options';

/**
 * Lists a configuration's snapshots through the worker, which is where repository
 * credentials live: the CLI and client never need them.
 */
export async function listSnapshotsWorkflow(input: ListSnapshotsInput): Promise<ListSnapshotsResult> {
  return quickActivities.listSnapshots(input);
}
