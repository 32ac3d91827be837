import { ResourceValidationError } from '../../domain/resource-set';
import { ScheduleMissingError } from '../backup-schedules';
import { SessionConflictError, TemporalUnreachableError } from '../dbkeep-client';
import { describeFailure } from '../failure-description';
import { TemporalSettingsError } from '../../workers/temporal-settings';
import { WorkerSettingsError } from '../../workers/worker-settings';
import { ExitCode, UsageError } from './cli-errors';
import { codecServerCommand } from './codec-server-command';
import { inputCommand } from './input-commands';
import { importCommand, pruneCommand, repoCommand } from './repository-commands';
import { pitrCommand } from './pitr-commands';
import { verifyCommand } from './verify-commands';
import { applyCommand, deleteCommand, pauseOrResumeCommand, schedulesCommand, triggerCommand } from './schedule-commands';
import { backupCommand, bootstrapCommand, restoreCommand, sessionsCommand, snapshotsCommand, statusCommand } from './session-commands';
import { replicaWorkerCommand, workerCommand } from './worker-commands';

const HELP = `dbkeep: backup and restore for MariaDB, MySQL and Percona XtraDB, orchestrated by Temporal

Usage:
  dbkeep dev up | down | status          the embedded stack (Temporal + UI, MinIO, a worker) in the background
  dbkeep worker                          run a worker in the foreground
  dbkeep backup    -f FILE... --config NAME [--wait] [--json]
  dbkeep snapshots -f FILE... --config NAME [--limit N] [--json]
  dbkeep restore   -f FILE... --config NAME --to TARGET [--snapshot ID | --at TIME | --to-gtid GTID | --latest] [--overwrite] [--parallel N] [--wait] [--json]
  dbkeep restore   -f FILE... --config NAME --replicas N --volume-dir DIR [...]   a physical snapshot into data directories
  dbkeep restore   -f FILE... --config NAME --replicas N --volume-claim NAME [--storage-class C] [--storage-size S]
                   [--access-modes M,...] [...]          the same into a PVC per replica (Kubernetes)
  dbkeep bootstrap -f FILE... --target NAME [--wait-seconds N] [--wait] [--json]   the target's spec.bootstrapFrom
  dbkeep replica-worker --volume DIR --task-queue QUEUE      the worker bound to one replica volume (started by dbkeep)
  dbkeep status    SESSION [--watch] [--json]
  dbkeep sessions  NAME [--limit N] [--json]            recent sessions of a configuration
  dbkeep apply     -f FILE... [--json]                  create or update schedules and binary log archives (idempotent)
  dbkeep delete    NAME...                              delete schedules, stop archives (snapshots stay)
  dbkeep pitr status -f FILE... --config NAME [--json]  the recoverable window(s), the archive's lag and its gaps
  dbkeep verify    -f FILE... --config NAME [--snapshot ID] [--wait] [--json]   a restore drill into a scratch server
  dbkeep pause     NAME [--note TEXT]  |  dbkeep resume NAME [--note TEXT]
  dbkeep trigger   NAME                                 run a scheduled session now
  dbkeep schedules [--json]                             name, cron, next run, last result, paused
  dbkeep prune     -f FILE... --config NAME [--dry-run] [--json]
  dbkeep repo status -f FILE... --repository NAME [--json]
  dbkeep import    -f FILE... --config NAME [--json]    external backup.<time>.sql[.gz|.bz2|.zst] dumps become snapshots
  dbkeep input backup|restore ...                       a session's workflow input, for the temporal CLI
  dbkeep codec-server [--port N] [--ui-origin URL]      decodes encrypted payloads for the Temporal UI

Temporal connection (every command but dev): --address HOST:PORT, --namespace NS, --task-queue NAME;
defaults: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DBKEEP_TASK_QUEUE, then a running \`dbkeep dev up\` (not for workers), then 127.0.0.1:7233.
Exit codes: 0 success, 1 failure, 2 usage error.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  // Loaded only when it runs: it imports stack/ (the dev stack and its servers' launchers),
  // which a worker image must not load.
  dev: async (argv) => (await import('./dev-commands')).devCommand(argv),
  worker: workerCommand,
  'replica-worker': replicaWorkerCommand,
  'codec-server': codecServerCommand,
  bootstrap: bootstrapCommand,
  backup: backupCommand,
  snapshots: snapshotsCommand,
  restore: restoreCommand,
  verify: verifyCommand,
  status: statusCommand,
  sessions: sessionsCommand,
  apply: applyCommand,
  delete: deleteCommand,
  pause: pauseOrResumeCommand('pause'),
  resume: pauseOrResumeCommand('resume'),
  trigger: triggerCommand,
  schedules: schedulesCommand,
  prune: pruneCommand,
  repo: repoCommand,
  pitr: pitrCommand,
  input: inputCommand,
  import: importCommand,
};

/** Runs one command line and returns the exit code; errors become one clear message on stderr. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(HELP);
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`dbkeep: unknown command "${name}"; run \`dbkeep help\`\n`);
    return ExitCode.usage;
  }
  try {
    await command(rest);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (error) {
    process.stderr.write(`dbkeep ${name}: ${describeCliError(error)}\n`);
    return error instanceof UsageError ? ExitCode.usage : ExitCode.failed;
  }
}

function describeCliError(error: unknown): string {
  if (error instanceof UsageError || error instanceof ResourceValidationError) return error.message;
  if (error instanceof TemporalSettingsError || error instanceof WorkerSettingsError) return error.message;
  if (error instanceof SessionConflictError || error instanceof ScheduleMissingError) return error.message;
  if (error instanceof TemporalUnreachableError) {
    return `${error.message} (start the embedded stack with \`dbkeep dev up\`, or set TEMPORAL_ADDRESS or --address)`;
  }
  const failure = describeFailure(error);
  return failure.type ? `${failure.type}: ${failure.message}` : failure.message;
}
