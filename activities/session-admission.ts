import { Context } from '@temporalio/activity';
import { backupLockWorkflowId } from '../domain/session-ids';

export interface FindBackupLockHolderInput {
  configuration: string;
}

export interface FindBackupLockHolderResult {
  /** The session that holds the configuration's backup lock; undefined if it could not be told. */
  holder?: string;
}

/**
 * Which session holds the configuration's backup lock (workflows/backup-lock.ts): the lock's
 * parent. Only for telling the user; the lock itself decided that this session may not run.
 */
export async function findBackupLockHolder(input: FindBackupLockHolderInput): Promise<FindBackupLockHolderResult> {
  const { client } = Context.current();
  const description = await client.workflow.getHandle(backupLockWorkflowId(input.configuration)).describe();
  return { holder: description.parentExecution?.workflowId ?? undefined };
}
