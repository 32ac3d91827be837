import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { staleWatchWorkflowId } from '../domain/session-ids';

/**
 * Ends a configuration's stale watch (workflows/stale-watch.ts), which would otherwise tell its
 * webhooks that a deleted configuration's backups went stale. False when none was running.
 */
export async function endStaleWatch(client: Client, configuration: string): Promise<boolean> {
  try {
    const handle = client.workflow.getHandle(staleWatchWorkflowId(configuration));
    if ((await handle.describe()).status.name !== 'RUNNING') return false;
    await handle.terminate('its configuration was deleted (dbkeep delete)');
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}
