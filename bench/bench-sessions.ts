import { waitShowingProgress } from '../clients/cli/session-progress';
import type { DbkeepClient, StartRestoreOptions, StartVolumeRestoreOptions } from '../clients/dbkeep-client';
import type { ResolvedBackupConfiguration } from '../domain/resource-set';
import type { BackupSessionResult } from '../workflows/backup-session';
import type { RestoreSessionResult } from '../workflows/restore-session';
import type { VolumeRestoreSessionResult } from '../workflows/volume-restore-session';
import { say } from './bench-run';

/** dbkeep sessions as a benchmark starts them: through the TypeScript client, as a user's service would. */
const PROGRESS_INTERVAL_MS = 5_000;

export type CommittedBackup = Extract<BackupSessionResult, { outcome: 'succeeded' }>;

/** A session skipped for another one of the same configuration measured nothing: a failed run, not a figure. */
export function requireCommitted(result: BackupSessionResult): CommittedBackup {
  if (result.outcome !== 'succeeded') {
    throw new Error(`backup session was skipped: session ${result.runningSession} of "${result.configuration}" was already running`);
  }
  return result;
}

const printProgress = (line: string) => say(`  ${line}`);

/** Starts a backup session now and waits for its result, printing progress every few seconds. */
export async function runBackupSession(
  client: DbkeepClient,
  resolved: ResolvedBackupConfiguration,
): Promise<{ workflowId: string; result: CommittedBackup }> {
  const handle = await client.backupNow(resolved);
  say(`backup session ${handle.workflowId} started`);
  const result = await waitShowingProgress(
    handle.result(),
    () => client.describeSession(handle.workflowId),
    printProgress,
    PROGRESS_INTERVAL_MS,
  );
  return { workflowId: handle.workflowId, result: requireCommitted(result) };
}

/** Starts a restore session and waits for its result, printing progress every few seconds. */
export async function runRestoreSession(
  client: DbkeepClient,
  options: StartRestoreOptions,
): Promise<{ workflowId: string; result: RestoreSessionResult }> {
  const handle = await client.restore(options);
  say(`restore session ${handle.workflowId} started`);
  const result = await waitShowingProgress(
    handle.result(),
    () => client.describeSession(handle.workflowId),
    printProgress,
    PROGRESS_INTERVAL_MS,
  );
  return { workflowId: handle.workflowId, result };
}

/** Starts a physical restore into replica volumes and waits for its result, printing progress every few seconds. */
export async function runVolumeRestoreSession(
  client: DbkeepClient,
  options: StartVolumeRestoreOptions,
): Promise<{ workflowId: string; result: VolumeRestoreSessionResult }> {
  const handle = await client.restoreIntoVolumes(options);
  say(`volume restore session ${handle.workflowId} started`);
  const result = await waitShowingProgress(
    handle.result(),
    () => client.describeSession(handle.workflowId),
    printProgress,
    PROGRESS_INTERVAL_MS,
  );
  return { workflowId: handle.workflowId, result };
}

/** When a finished session's step started and ended, in ms since the epoch by the workflow's clock (the Temporal server's, on this machine). */
export async function sessionStep(client: DbkeepClient, workflowId: string, name: string): Promise<{ startedAt: number; endedAt: number }> {
  const step = (await client.status(workflowId)).steps.find((s) => s.name === name);
  if (step?.endedAt === undefined) throw new Error(`session ${workflowId} has no finished step "${name}"`);
  return { startedAt: Date.parse(step.startedAt), endedAt: Date.parse(step.endedAt) };
}
