import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities, createReplicaWorkerOnlyActivities } from '../activities';
import { LocalProcessReplicaWorkers } from '../activities/replica-workers';
import type { TemporalSettings } from '../clients/temporal-settings';
import { payloadCodecFromEnvironment } from '../secrets/payload-codec';
import { dbkeepCliCommand, workerIsPolling } from '../stack/dev-stack';
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
      activities: createActivities({
        pushgatewayUrl: settings.pushgatewayUrl,
        replicaWorkers: localReplicaWorkers(settings),
      }),
      maxConcurrentActivityTaskExecutions: settings.maxConcurrentSessions,
      payloadCodec: payloadCodecFromEnvironment(),
    });
    await worker.run();
  } finally {
    await connection.close();
  }
}

function codecConverter() {
  const codec = payloadCodecFromEnvironment();
  return codec ? { payloadCodecs: [codec] } : undefined;
}

/** The embedded mode's replica workers: local `dbkeep replica-worker` processes on this host. */
export function localReplicaWorkers(settings: TemporalSettings): LocalProcessReplicaWorkers {
  return new LocalProcessReplicaWorkers({
    temporalAddress: settings.address,
    namespace: settings.namespace,
    cli: dbkeepCliCommand(),
    isPolling: (taskQueue, pid) => workerIsPolling(settings.address, settings.namespace, taskQueue, pid, 'activity'),
  });
}

/**
 * A replica worker: activities only, bound to one volume, polling the replica's own task
 * queue. Started by the main worker (embedded mode) or as a Kubernetes Job that mounts the PVC.
 */
export async function runReplicaWorker(settings: TemporalSettings & { volumeDir: string }): Promise<void> {
  const connection = await NativeConnection.connect({ address: settings.address });
  try {
    const worker = await Worker.create({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      activities: createReplicaWorkerOnlyActivities({ volumeDir: settings.volumeDir }),
      dataConverter: codecConverter(),
      maxConcurrentActivityTaskExecutions: 1,
      shutdownGraceTime: '20 seconds',
      maxHeartbeatThrottleInterval: '2 seconds',
    });
    await worker.run();
  } finally {
    await connection.close();
  }
}
