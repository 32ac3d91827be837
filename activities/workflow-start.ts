import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { SESSION_NOTIFICATION_WORKFLOW_TYPE, type SessionNotificationInput } from '../domain/notifications';
import { RESTORE_DRILL_WORKFLOW_TYPE, type RestoreDrillWorkflowInput } from '../domain/restore-drill-input';

/**
 * Starts a workflow its starter does not wait for (an `everyN` drill, a notice's delivery) as a
 * workflow of its own, with no parent: an abandoned child's end could reach its parent while the
 * parent completed, and fail that workflow task (UnhandledCommand). It runs on this worker's task
 * queue, through the worker's client, whose data converter (an encrypting payload codec too)
 * encodes its input as a workflow's own start would. One already running is left alone.
 */
async function startWorkflowApart(workflowType: string, workflowId: string, input: unknown): Promise<'started' | 'already running'> {
  const { client, info } = Context.current();
  try {
    await client.workflow.start(workflowType, { workflowId, taskQueue: info.taskQueue, args: [input] });
    return 'started';
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return 'already running';
    throw error;
  }
}

/** Starts `verify/<configuration>/<snapshot-id>`, the drill of a snapshot due by spec.verification.everyN. */
export async function startRestoreDrill(input: {
  workflowId: string;
  drill: RestoreDrillWorkflowInput;
}): Promise<'started' | 'already running'> {
  return startWorkflowApart(RESTORE_DRILL_WORKFLOW_TYPE, input.workflowId, input.drill);
}

/** Starts `notify/…`, the delivery of one notice to the webhooks that asked for it. */
export async function startNoticeDelivery(input: {
  workflowId: string;
  notification: SessionNotificationInput;
}): Promise<'started' | 'already running'> {
  return startWorkflowApart(SESSION_NOTIFICATION_WORKFLOW_TYPE, input.workflowId, input.notification);
}
