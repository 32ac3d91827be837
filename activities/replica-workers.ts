import { Context, log } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { permanentFailure, PermanentFailureType } from '../domain/failures';
import type { VolumeClaimTemplate } from '../domain/volume-claim-template';
import { startManagedProcess, stopPid } from '../pipeline/managed-process';

/**
 * Where a replica's volume is: a directory on the worker's host (embedded mode), or a
 * PersistentVolumeClaim made from the restore's claim template (Kubernetes mode, with the
 * work in a Job that mounts it).
 */
export interface ReplicaVolume {
  directory?: string;
  /** Kubernetes mode: the launcher's default claim template fills what this leaves out, or stands in when absent. */
  claimTemplate?: VolumeClaimTemplate;
}

export interface ReplicaWorkerSpec {
  /** The replica's own task queue: only the worker bound to its volume polls it. */
  taskQueue: string;
  volume: ReplicaVolume;
  restoreId: string;
  ordinal: number;
}

/** The worker a launcher runs for a replica: a local process, or a Kubernetes Job. */
export type ReplicaWorkerHandle = { kind: 'process'; pid: number } | { kind: 'job'; namespace: string; name: string; claim: string };

export interface EnsuredReplicaWorker {
  /** False when a worker already ran for the task queue and was left alone. */
  started: boolean;
  worker: ReplicaWorkerHandle;
}

/**
 * Starts and stops the worker that is bound to a replica's volume. The embedded implementation
 * runs it as a local process; in Kubernetes it is a Job mounting the PVC. Both run the same
 * `dbkeep replica-worker` code, so population works the same in both.
 */
export interface ReplicaWorkerLauncher {
  /** Idempotent: a worker already running for the task queue is left alone. */
  ensureRunning(spec: ReplicaWorkerSpec): Promise<EnsuredReplicaWorker>;
  stop(spec: ReplicaWorkerSpec): Promise<void>;
}

export function createReplicaWorkerActivities(deps: { replicaWorkers?: ReplicaWorkerLauncher }) {
  const launcher = () => {
    if (!deps.replicaWorkers) throw new Error('this worker cannot start replica workers (no launcher configured)');
    return deps.replicaWorkers;
  };
  return {
    async ensureReplicaWorker(spec: ReplicaWorkerSpec): Promise<EnsuredReplicaWorker> {
      const result = await launcher().ensureRunning(spec);
      if (result.started) log.info('replica worker started', { taskQueue: spec.taskQueue, ...result.worker });
      return result;
    },
    async stopReplicaWorker(spec: ReplicaWorkerSpec): Promise<void> {
      await launcher().stop(spec);
    },
  };
}

const READY_TIMEOUT_MS = 90_000;

/**
 * The embedded mode: each replica worker is a detached `dbkeep replica-worker` process on this
 * host, bound to a local directory, found again through a pid file (so a restarted main worker
 * still finds the replica workers it started).
 */
export class LocalProcessReplicaWorkers implements ReplicaWorkerLauncher {
  private readonly stateDir: string;

  constructor(
    private readonly options: {
      temporalAddress: string;
      namespace: string;
      /** argv that runs the dbkeep CLI: [node, bin/dbkeep.js]. */
      cli: { command: string; args: string[] };
      isPolling: (taskQueue: string, pid: number) => Promise<boolean>;
      stateDir?: string;
    },
  ) {
    this.stateDir = options.stateDir ?? path.join(os.tmpdir(), 'dbkeep-replica-workers');
  }

  async ensureRunning(spec: ReplicaWorkerSpec): Promise<EnsuredReplicaWorker> {
    const { directory } = spec.volume;
    if (directory === undefined) {
      throw permanentFailure(
        PermanentFailureType.InvalidInput,
        `replica ${spec.ordinal}: this worker runs replica workers as local processes, on directories (--volume-dir); ` +
          'a restore into PersistentVolumeClaims needs a worker with DBKEEP_REPLICA_RUNTIME=kubernetes',
      );
    }
    const running = this.runningPid(spec);
    if (running !== undefined) return { started: false, worker: { kind: 'process', pid: running } };
    mkdirSync(this.stateDir, { recursive: true });
    const worker = startManagedProcess({
      command: this.options.cli.command,
      args: [
        ...this.options.cli.args,
        'replica-worker',
        '--volume',
        directory,
        '--task-queue',
        spec.taskQueue,
        '--address',
        this.options.temporalAddress,
        '--namespace',
        this.options.namespace,
      ],
      logFile: `${this.base(spec)}.log`,
      detached: true,
    });
    writeFileSync(`${this.base(spec)}.pid`, String(worker.pid));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await this.options.isPolling(spec.taskQueue, worker.pid).catch(() => false))) {
      Context.current().heartbeat({ phase: 'starting replica worker', pid: worker.pid });
      if (Date.now() > deadline)
        throw new Error(
          `replica worker ${worker.pid} for ${spec.taskQueue} did not poll within ${READY_TIMEOUT_MS} ms; see ${this.base(spec)}.log`,
        );
      await sleep(250);
    }
    return { started: true, worker: { kind: 'process', pid: worker.pid } };
  }

  async stop(spec: ReplicaWorkerSpec): Promise<void> {
    const pid = this.runningPid(spec);
    if (pid !== undefined) {
      await stopPid(pid, 'SIGTERM', 30_000);
    }
    rmSync(`${this.base(spec)}.pid`, { force: true });
  }

  private base(spec: ReplicaWorkerSpec): string {
    return path.join(this.stateDir, createHash('sha256').update(spec.taskQueue).digest('hex').slice(0, 16));
  }

  private runningPid(spec: ReplicaWorkerSpec): number | undefined {
    const file = `${this.base(spec)}.pid`;
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8'));
    try {
      // The pid may have been reused since: it is ours only if it still runs for this task queue.
      const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return commandLine.includes(spec.taskQueue) ? pid : undefined;
    } catch {
      return undefined;
    }
  }
}
