import path from 'node:path';
import { z } from 'zod';
import { resolveTemporalSettings } from '../../workers/temporal-settings';
import { resolveWorkerSettings } from '../../workers/worker-settings';
import { runReplicaWorker, runWorker } from '../../workers/run-worker';
import { flagValue, parseCommandLine, requireFlag, temporalFlags } from './cli-arguments';

/**
 * The commands a worker image runs. Their Temporal comes from flags and the environment only:
 * nothing here loads the dev stack, whose state a worker's user may not be allowed to read.
 */

/** `dbkeep worker`: runs a worker in the foreground until SIGINT/SIGTERM. */
export async function workerCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...temporalFlags,
    'max-concurrent-sessions': { type: 'string' },
    pushgateway: { type: 'string' },
    'metrics-address': { type: 'string' },
  });
  const settings = resolveWorkerSettings({
    address: values.address,
    namespace: values.namespace,
    taskQueue: values['task-queue'],
    maxConcurrentSessions: values['max-concurrent-sessions'],
    pushgatewayUrl: values.pushgateway,
    metricsAddress: values['metrics-address'],
  });
  await runWorker(settings);
}

/** `dbkeep replica-worker --volume DIR --task-queue QUEUE`: the worker bound to one replica's volume. */
export async function replicaWorkerCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, { ...temporalFlags, volume: { type: 'string' } });
  const volumeDir = flagValue(
    'volume',
    z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
    requireFlag('volume', values.volume),
  );
  const settings = resolveTemporalSettings({
    address: values.address,
    namespace: values.namespace,
    taskQueue: requireFlag('task-queue', values['task-queue']),
  });
  await runReplicaWorker({ ...settings, volumeDir });
}
