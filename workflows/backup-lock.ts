import {
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  defineSignal,
  ParentClosePolicy,
  setHandler,
  startChild,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { backupLockWorkflowId } from '../domain/session-ids';

export const releaseBackupLockSignal = defineSignal('release');

/**
 * Held by the one backup session of a configuration that may run: it is a child workflow of that
 * session with the id `backup-lock/<configuration>`, so Temporal itself refuses a second one
 * while it runs, at once and whatever visibility's lag. It ends when its session releases it,
 * and is terminated with its session if that ends any other way (terminated, timed out).
 */
export async function backupLock(): Promise<void> {
  let released = false;
  setHandler(releaseBackupLockSignal, () => {
    released = true;
  });
  await condition(() => released);
}

export type BackupLock = ChildWorkflowHandle<typeof backupLock>;

/** The configuration's lock, or undefined while another session holds it. */
export async function acquireBackupLock(configuration: string, holder: string): Promise<BackupLock | undefined> {
  try {
    // Started outside the session's cancellation: a cancelled session still holds the lock until
    // its dump has confirmed the cancellation (tools killed), then releases it in its finally and
    // waits for it to end. A child started in the cancelled scope would have its result rejected
    // at once instead, and the session would complete while the lock's completion was still on
    // its way (a workflow task failed with UnhandledCommand, one cancelled session in three).
    return await CancellationScope.nonCancellable(() =>
      startChild(backupLock, {
        workflowId: backupLockWorkflowId(configuration),
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
        staticSummary: `backup lock of ${configuration}, held by ${holder}`,
      }),
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return undefined;
    throw err;
  }
}

/**
 * Releases the lock even when the session is being cancelled, so the next session may run, and
 * waits for the lock to end: a session that completed while its lock's completion was still
 * arriving would fail that workflow task with UnhandledCommand.
 */
export async function releaseBackupLock(lock: BackupLock): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    await lock.signal(releaseBackupLockSignal);
    await lock.result();
  }).catch(() => undefined);
}
