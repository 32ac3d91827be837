import { NativeConnection, Runtime } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createDbkeepWorker } from './dbkeep-worker';
import type { WorkerSettings } from './worker-settings';

/**
 * Runs a worker until SIGINT or SIGTERM (the SDK's runtime installs those handlers), then
 * lets running activities see cancellation and abort their uploads within the grace time.
 */
export async function runWorker(settings: WorkerSettings): Promise<void> {
  if (settings.metricsAddress) {
    // Must come before the first connection: the runtime is created once per process.
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: settings.metricsAddress } } } });
  }
  const connection = await NativeConnection.connect({ address: settings.address });
  try {
    const worker = await createDbkeepWorker({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      activities: createActivities({ pushgatewayUrl: settings.pushgatewayUrl }),
      maxConcurrentActivityTaskExecutions: settings.maxConcurrentSessions,
    });
    await worker.run();
  } finally {
    await connection.close();
  }
}
