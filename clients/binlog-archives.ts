import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ResolvedBackupConfiguration } from '../domain/resource-set';
import { binlogArchiveWorkflowId } from '../domain/session-ids';
import type { binlogArchive, BinlogArchiveInput } from '../workflows/binlog-archive';
import { identitySearchAttributes } from '../domain/search-attributes';
import { searchAttributePairs } from '../workflows/search-attributes';

/** What `dbkeep apply` did to a configuration's binary log archive. */
export type ArchiveOutcome = 'started' | 'restarted' | 'running' | 'stopped' | 'off';

/** The hash of the input an archive was started with, in its memo: `dbkeep apply` restarts it only when that changed. */
export const SPEC_HASH_MEMO = 'dbkeepSpecHash';

/**
 * Makes the configuration's archive workflow match its spec: started when point-in-time recovery
 * is enabled, left running when nothing it uses changed, restarted (stopped, then started with the
 * new input) when something did, stopped when PITR is off. Stopping cancels the workflow, which
 * stops its replication client and completes; the archived pieces stay in the repository.
 * `listed` is listRunningConfigurationWorkflows' `archives` (clients/running-configuration-workflows.ts);
 * visibility may lag behind a start, so a start refused as already running is looked at directly.
 */
export async function applyBinlogArchive(
  client: Client,
  resolved: ResolvedBackupConfiguration,
  taskQueue: string,
  listed: ReadonlyMap<string, { hash?: string }>,
): Promise<ArchiveOutcome> {
  const workflowId = binlogArchiveWorkflowId(resolved.configuration.name);
  const running = listed.get(workflowId);
  if (!resolved.configuration.spec.pointInTimeRecovery?.enabled) {
    if (!running) return 'off';
    await stopBinlogArchive(client, resolved.configuration.name);
    return 'stopped';
  }
  const input: BinlogArchiveInput = { configuration: resolved.configuration, target: resolved.target, repository: resolved.repository };
  const hash = createHash('sha256').update(JSON.stringify(input)).digest('hex');
  if (running && running.hash === hash) return 'running';
  if (running) await stopBinlogArchive(client, resolved.configuration.name);
  const start = () =>
    client.workflow.start<typeof binlogArchive>('binlogArchive', {
      taskQueue,
      workflowId,
      args: [input],
      memo: { [SPEC_HASH_MEMO]: hash },
      staticSummary: `Binary log archive of ${resolved.target.name} (${resolved.configuration.name}) to repository ${resolved.repository.name}`,
      typedSearchAttributes: searchAttributePairs(
        identitySearchAttributes({
          kind: 'binlog-archive',
          configuration: resolved.configuration.name,
          repository: resolved.repository.name,
          target: resolved.target.name,
        }),
      ),
    });
  try {
    await start();
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const current = await runningArchive(client, workflowId);
    if (current?.hash === hash) return 'running';
    await stopBinlogArchive(client, resolved.configuration.name);
    await start();
    return 'restarted';
  }
  return running ? 'restarted' : 'started';
}

/** Stops a configuration's archive and waits until it has; false when none was running. */
export async function stopBinlogArchive(client: Client, configuration: string): Promise<boolean> {
  const workflowId = binlogArchiveWorkflowId(configuration);
  if (!(await runningArchive(client, workflowId))) return false;
  const handle = client.workflow.getHandle<typeof binlogArchive>(workflowId);
  await handle.cancel();
  // Completes (not fails) once its run has stopped the replication client; a newer run after continue-as-new is followed.
  await handle.result().catch(() => undefined);
  return true;
}

async function runningArchive(client: Client, workflowId: string): Promise<{ hash?: string } | undefined> {
  try {
    const description = await client.workflow.getHandle(workflowId).describe();
    if (description.status.name !== 'RUNNING') return undefined;
    const hash = description.memo?.[SPEC_HASH_MEMO];
    return { hash: typeof hash === 'string' ? hash : undefined };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return undefined;
    throw error;
  }
}
