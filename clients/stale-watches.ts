import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { BackupConfigurationSpec, Named } from '../domain/resources';
import { staleWatchWorkflowId } from '../domain/session-ids';
import { staleAfterSeconds } from '../domain/stale-watch';
import { endStaleWatchSignal, staleSettingsSignal } from '../workflows/stale-watch';

/**
 * Ends a configuration's stale watch (workflows/stale-watch.ts), which would otherwise tell its
 * webhooks that a deleted configuration's backups went stale: it is asked to end, and completes
 * on its own a moment later. False when none was running.
 */
export async function endStaleWatch(
  client: Client,
  configuration: string,
  reason = 'its configuration was deleted (dbkeep delete)',
): Promise<boolean> {
  try {
    const handle = client.workflow.getHandle(staleWatchWorkflowId(configuration));
    if ((await handle.describe()).status.name !== 'RUNNING') return false;
    await handle.signal(endStaleWatchSignal, reason);
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

/**
 * `dbkeep apply` of a configuration: its running stale watch counts with the applied settings
 * from now on, or ends when the configuration no longer asks for `stale`. `running` is
 * listRunningConfigurationWorkflows' `staleWatches`: a configuration without a watch there costs
 * no call. A watch visibility does not list yet (started a moment ago) keeps its settings until
 * the next success or apply; one not running yet gets one at its next successful backup.
 */
export async function applyStaleWatch(
  client: Client,
  resolved: { configuration: Named<BackupConfigurationSpec>; repository: string; target: string },
  running: ReadonlySet<string>,
): Promise<void> {
  const { configuration } = resolved;
  const workflowId = staleWatchWorkflowId(configuration.name);
  if (!running.has(workflowId)) return;
  const staleAfter = staleAfterSeconds(configuration.spec);
  if (staleAfter === undefined) {
    await endStaleWatch(client, configuration.name, 'its configuration no longer asks for stale notifications (dbkeep apply)');
    return;
  }
  try {
    await client.workflow.getHandle(workflowId).signal(staleSettingsSignal, {
      repository: resolved.repository,
      target: resolved.target,
      webhooks: configuration.spec.notifications!.webhooks,
      staleAfterSeconds: staleAfter,
    });
  } catch (error) {
    // Ended since it was listed.
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }
}
