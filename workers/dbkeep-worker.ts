import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type DbkeepActivities } from '../activities';

export const DEFAULT_TASK_QUEUE = 'dbkeep';

export interface DbkeepWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  activities?: DbkeepActivities;
  /** A prebuilt bundle (tests build one per file); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Sessions streaming at once on this worker. Each holds an upload's part buffers
   * (about 32 MiB) and two or three child processes, which is what bounds memory.
   */
  maxConcurrentActivityTaskExecutions?: number;
}

/** Where the workflow code lives, from sources (tests) or from dist/ (the CLI). */
export const workflowsPath = path.join(__dirname, '..', 'workflows', 'index');

export async function createDbkeepWorker(options: DbkeepWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath }),
    activities: options.activities ?? createActivities(),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 8,
    // Lets a streaming activity notice cancellation and abort its upload before the worker exits.
    shutdownGraceTime: '20 seconds',
  });
}
