import {
  ActivityCancellationType,
  CancellationScope,
  continueAsNew,
  defineQuery,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DbkeepActivities } from '../activities';
import type { ArchiveBinlogResult } from '../activities/binlog-archive-activities';
import type { BackupConfigurationSpec, Named, RepositorySpec, TargetSpec } from '../domain/resources';
import { archivePositionSearchAttributes, identitySearchAttributes } from '../domain/search-attributes';
import { requireInputFields } from './input-guard';
import { searchAttributePairs } from './search-attributes';

export interface BinlogArchiveInput {
  configuration: Named<BackupConfigurationSpec>;
  target: Named<TargetSpec>;
  repository: Named<RepositorySpec>;
  /** Carried across continue-as-new, so the status query and the totals span the whole archive. */
  status?: BinlogArchiveStatus;
  /**
   * How long each run follows the source before the workflow records its result; default ten
   * minutes, at most that. Shorter runs only make histories turn over sooner (the tests use seconds).
   */
  runForMs?: number;
}

/** What the `status` query returns: where the archive stands, as of the last finished run. */
export interface BinlogArchiveStatus {
  position?: ArchiveBinlogResult['position'];
  caughtUpAt?: string;
  piecesStored: number;
  bytesStored: number;
  readerRestarts: number;
  runs: number;
}

export const binlogArchiveStatusQuery = defineQuery<BinlogArchiveStatus>('status');

/**
 * One archiver run follows the source this long; its heartbeats carry the live position. Runs
 * are the unit of the workflow's history (three events each), and the workflow continues as new
 * after RUNS_PER_HISTORY of them, so hours of archiving keep a history of a few dozen events.
 */
const RUN_FOR_MS = 10 * 60 * 1000;
const RUNS_PER_HISTORY = 6;

const { archiveBinlog } = proxyActivities<Pick<DbkeepActivities, 'archiveBinlog'>>({
  startToCloseTimeout: RUN_FOR_MS + 10 * 60 * 1000,
  heartbeatTimeout: '30 seconds',
  // Stopping the archive waits until the replication client is stopped and no upload is left running.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  // A source that stays away is waited for inside a run; this covers worker crashes and
  // storage errors. No attempt limit: the archive must never give up by itself.
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * `binlog-archive/<configuration>`: continuous archiving of a configuration's binary log, started
 * by `dbkeep apply` when spec.pointInTimeRecovery is enabled and cancelled when it is not.
 * Cancelling it completes it cleanly once the current run has stopped.
 */
export async function binlogArchive(input: BinlogArchiveInput): Promise<BinlogArchiveStatus> {
  requireInputFields(
    input,
    ['configuration.name', 'configuration.spec', 'target.name', 'target.spec', 'repository.name', 'repository.spec'],
    'docs/point-in-time-recovery.md shows how the archive is started',
  );
  const status: BinlogArchiveStatus = input.status ?? { piecesStored: 0, bytesStored: 0, readerRestarts: 0, runs: 0 };
  setHandler(binlogArchiveStatusQuery, () => status);
  upsertSearchAttributes(
    searchAttributePairs({
      ...identitySearchAttributes({
        kind: 'binlog-archive',
        configuration: input.configuration.name,
        repository: input.repository.name,
        target: input.target.name,
      }),
      phase: 'Running',
    }),
  );
  showPosition(status);
  try {
    for (let run = 0; run < RUNS_PER_HISTORY && !workflowInfo().continueAsNewSuggested; run++) {
      const result = await archiveBinlog({
        configuration: input.configuration,
        target: input.target,
        repository: input.repository,
        runForMs: Math.min(Math.max(input.runForMs ?? RUN_FOR_MS, 1000), RUN_FOR_MS),
      });
      status.runs += 1;
      status.piecesStored += result.piecesStored;
      status.bytesStored += result.bytesStored;
      status.readerRestarts += result.readerRestarts;
      if (result.position) status.position = result.position;
      if (result.caughtUpAt) status.caughtUpAt = result.caughtUpAt;
      showPosition(status);
    }
  } catch (error) {
    if (!isCancellation(error)) throw error;
    await CancellationScope.nonCancellable(async () => upsertSearchAttributes(searchAttributePairs({ phase: 'Stopped' })));
    return status;
  }
  return continueAsNew<typeof binlogArchive>({ ...input, status });
}

const POSITION_SEARCH_ATTRIBUTES_PATCH = 'archive-position-search-attributes';

/**
 * Where the archive stands, for the Temporal UI: the search attributes (filterable) and the
 * workflow's current details (shown on its page), both as of the last finished run.
 */
function showPosition(status: BinlogArchiveStatus): void {
  const { position, caughtUpAt } = status;
  const pairs = searchAttributePairs(archivePositionSearchAttributes(status));
  // An archive that was running before these attributes existed replays its history without them.
  if (pairs.length > 0 && patched(POSITION_SEARCH_ATTRIBUTES_PATCH)) upsertSearchAttributes(pairs);
  setCurrentDetails(
    [
      `**Archived through** ${position ? `${position.file} at byte ${position.offset} (GTIDs ${position.gtids || 'none'})` : 'nothing yet'}`,
      `**Caught up with the source at** ${caughtUpAt ?? 'not yet'}`,
      `**Pieces stored** ${status.piecesStored} (${status.bytesStored} bytes) in ${status.runs} runs, ${status.readerRestarts} reader restarts`,
      'The running archiveBinlog activity heartbeats the live position; `dbkeep pitr status` shows the recoverable window.',
    ].join('\n\n'),
  );
}
