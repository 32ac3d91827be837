import { dbkeepWorkerCommand, defaultDevDir, devStackComponents, devStackDown, devStackUp, readDevStackState } from '../../stack/dev-stack';
import { parseCommandLine } from './cli-arguments';
import { UsageError } from './cli-errors';
import { formatTable } from './output';

/**
 * `dbkeep dev up | down | status`: the embedded stack in the background. main.ts loads this
 * module only when a dev command runs, so no other command loads stack/ and its launchers.
 */
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
