import type { Client } from '@temporalio/client';
import { SPEC_HASH_MEMO } from './binlog-archives';

/** What runs now for the configurations, from one visibility listing (`dbkeep apply` of 500 configurations makes one call, not 500). */
export interface RunningConfigurationWorkflows {
  /** Binary log archives by workflow id, with the hash of the spec each was started with. */
  archives: Map<string, { hash?: string }>;
  /** Workflow ids of the stale watches (workflows/stale-watch.ts). */
  staleWatches: Set<string>;
}

export async function listRunningConfigurationWorkflows(client: Client): Promise<RunningConfigurationWorkflows> {
  const running: RunningConfigurationWorkflows = { archives: new Map(), staleWatches: new Set() };
  const query = "WorkflowType IN ('binlogArchive', 'staleBackupWatch') AND ExecutionStatus = 'Running'";
  for await (const execution of client.workflow.list({ query })) {
    if (execution.type === 'staleBackupWatch') {
      running.staleWatches.add(execution.workflowId);
      continue;
    }
    const hash = execution.memo?.[SPEC_HASH_MEMO];
    running.archives.set(execution.workflowId, { hash: typeof hash === 'string' ? hash : undefined });
  }
  return running;
}
