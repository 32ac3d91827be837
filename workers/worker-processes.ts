import path from 'node:path';
import { Connection } from '@temporalio/client';
import { WORKER_NODE_FLAGS } from '../domain/worker-node-flags';
import { projectRoot } from '../pipeline/project-root';

/**
 * Worker processes this installation starts: the embedded mode's replica workers, and the
 * dev stack's, the benchmarks' and the tests' workers. Each runs the same code as the CLI.
 */

/** `node <worker flags> bin/dbkeep.js`: how this installation starts its worker processes. */
export function dbkeepCliCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [...WORKER_NODE_FLAGS, path.join(projectRoot(), 'bin', 'dbkeep.js')] };
}

/**
 * Whether the worker process `pid` polls `taskQueue`. The server lists pollers seen in the last
 * minutes, so a worker stopped a moment ago (by the previous `dbkeep dev down`, say) may still
 * show: match this worker by its identity, which the SDK makes `pid@host`.
 */
export async function workerIsPolling(
  address: string,
  namespace: string,
  taskQueue: string,
  pid: number,
  kind: 'workflow' | 'activity' = 'workflow',
): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    const described = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      // TASK_QUEUE_TYPE_WORKFLOW = 1, TASK_QUEUE_TYPE_ACTIVITY = 2: replica workers poll activities only.
      taskQueueType: kind === 'workflow' ? 1 : 2,
    });
    return (described.pollers ?? []).some((poller) => poller.identity?.startsWith(`${pid}@`));
  } finally {
    await connection.close();
  }
}
