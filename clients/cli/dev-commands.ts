import { dbkeepWorkerCommand, defaultDevDir, devStackComponents, devStackDown, devStackUp, readDevStackState } from '../../stack/dev-stack';
import { resolveWorkerSettings } from '../../workers/worker-settings';
import path from 'node:path';
import { z } from 'zod';
import { payloadCodecFromEnvironment } from '../../secrets/payload-codec';
import { startCodecServer } from '../codec-server';
import { resolveTemporalSettings } from '../../workers/temporal-settings';
import { runReplicaWorker, runWorker } from '../../workers/run-worker';
import { flagValue, parseCommandLine, requireFlag, temporalFlags } from './cli-arguments';
import { UsageError } from './cli-errors';
import { formatTable } from './output';

/** `dbkeep dev up | down | status`: the embedded stack in the background. */
export async function devCommand(argv: string[]): Promise<void> {
  const { positionals } = parseCommandLine(argv, {});
  const [action, ...extra] = positionals;
  if (extra.length > 0 || !['up', 'down', 'status'].includes(action ?? '')) throw new UsageError('usage: dbkeep dev up | down | status');
  const dir = defaultDevDir();

  if (action === 'up') {
    const { state, alreadyRunning } = await devStackUp({ dir, workerCommand: dbkeepWorkerCommand() });
    console.log(alreadyRunning ? 'dbkeep dev stack is already running' : 'dbkeep dev stack is up');
    console.log(`  Temporal:  ${state.temporal.address} (namespace ${state.temporal.namespace})`);
    console.log(`  UI:        ${state.temporal.uiUrl}`);
    console.log(`  MinIO:     ${state.minio.endpoint}`);
    console.log(`  metrics:   ${state.pushgateway.url}/metrics (Pushgateway)`);
    console.log(`  worker:    pid ${state.worker.pid}, log ${state.worker.logFile}`);
    console.log(`             SDK metrics http://127.0.0.1:${state.worker.metricsPort}/metrics`);
    console.log(`  resources: ${state.resourcesFile} (Repository "dev")`);
    return;
  }
  if (action === 'down') {
    const stopped = await devStackDown(dir);
    console.log(stopped.length === 0 ? 'dbkeep dev stack is not running' : `dbkeep dev stack stopped (data kept in ${dir})`);
    return;
  }
  const state = readDevStackState(dir);
  if (!state) {
    console.log(`dbkeep dev stack is not running (no state in ${dir})`);
    return;
  }
  const components = devStackComponents(state);
  console.log(
    formatTable(
      ['COMPONENT', 'PID', 'STATE', 'DETAIL'],
      components.map((c) => [c.name, String(c.pid), c.running ? 'running' : 'stopped', c.detail]),
    ),
  );
  if (!components.every((c) => c.running)) process.exitCode = 1;
}

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

/** `dbkeep codec-server [--port 8888] [--ui-origin URL]`: decodes payloads for the Temporal UI with DBKEEP_PAYLOAD_KEYRING_FILE. */
export async function codecServerCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    port: { type: 'string', default: '8888' },
    host: { type: 'string', default: '127.0.0.1' },
    'ui-origin': { type: 'string', default: 'http://127.0.0.1:8233' },
  });
  const port = flagValue('port', z.coerce.number().int().min(1).max(65535), values.port);
  const codec = payloadCodecFromEnvironment();
  if (!codec) throw new UsageError('set DBKEEP_PAYLOAD_KEYRING_FILE to the keyring the workers use');
  await startCodecServer({ codec, port, host: values.host, uiOrigin: values['ui-origin'] });
  console.log(`codec server on http://${values.host}:${port} for ${values['ui-origin']} (POST /decode, /encode)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
