import { existsSync } from 'node:fs';
import path from 'node:path';
import type { PayloadCodec } from '@temporalio/common';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type DbkeepActivities } from '../activities';
import { DEFAULT_TASK_QUEUE } from '../domain/session-ids';
import { dbkeepWorkerInterceptors } from './activity-failures';

export interface DbkeepWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  activities?: DbkeepActivities;
  /** A prebuilt bundle (tests build one per file); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Activities at once on this worker. The streaming ones each hold an upload's part buffers
   * (about 32-50 MiB) and two or three child processes, which is what bounds memory.
   */
  maxConcurrentActivityTaskExecutions?: number;
  /** Encrypts every payload (secrets/payload-codec.ts); clients need the same keyring. */
  payloadCodec?: PayloadCodec;
}

/**
 * Activities at once on one worker. A streaming one holds 32-50 MiB of upload part buffers
 * (storage/s3-storage.ts) and two or three child processes; `npm run bench:memory` and
 * test/reliability/load.test.ts measure what a worker takes (docs/operations.md gives the
 * memory to plan for), which grows with this number.
 */
export const DEFAULT_MAX_CONCURRENT_SESSIONS = 4;

/** Where the workflow code lives, from sources (tests) or from dist/ (the CLI). */
export const workflowsPath = path.join(__dirname, '..', 'workflows', __filename.endsWith('.ts') ? 'index.ts' : 'index.js');

/** The bundle `npm run build` writes (workers/bundle-workflows.ts); compiled workers load it. */
export const workflowBundlePath = path.join(__dirname, '..', 'workflow-bundle.js');

function defaultWorkflowCode(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  // From dist/ the prebuilt bundle is used; from sources (no build) the worker bundles at start.
  return existsSync(workflowBundlePath) && !__filename.endsWith('.ts')
    ? { workflowBundle: { codePath: workflowBundlePath } }
    : { workflowsPath };
}

export async function createDbkeepWorker(options: DbkeepWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : defaultWorkflowCode()),
    activities: options.activities ?? createActivities(),
    interceptors: dbkeepWorkerInterceptors,
    dataConverter: options.payloadCodec ? { payloadCodecs: [options.payloadCodec] } : undefined,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? DEFAULT_MAX_CONCURRENT_SESSIONS,
    // Lets a streaming activity notice cancellation and abort its upload before the worker exits.
    shutdownGraceTime: '20 seconds',
    // Heartbeats reach the server at most this often (default: 80% of the heartbeat timeout,
    // 24 s), so the progress in the Temporal UI and `dbkeep status` is at most 2 s old.
    maxHeartbeatThrottleInterval: '2 seconds',
  });
}
