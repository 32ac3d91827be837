import { NativeConnection } from '@temporalio/worker';
import { createDbkeepWorker } from './dbkeep-worker';
import type { WorkerSettings } from './worker-settings';

/**
 * Runs a worker until SIGINT or SIGTERM (the SDK's runtime installs those handlers), then
 * lets running activities see cancellation and abort their uploads within the grace time.
 */
export async function runWorker(settings: WorkerSettings): Promise<void> {
  const connection = await NativeConnection.connect({ address: settings.address });
  try {
    const worker = await createDbkeepWorker({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      maxConcurrentActivityTaskExecutions: settings.maxConcurrentSessions,
    });
    await worker.run();
  } finally {
    await connection.close();
  }
}
