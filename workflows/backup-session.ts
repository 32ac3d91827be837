import { uuid4, workflowInfo } from '@temporalio/workflow';
import { buildManifest } from '../domain/backup-results';
import { backupLockWorkflowId } from '../domain/session-ids';
import { formatSnapshotId } from '../domain/snapshot-id';
import { longestCronIntervalSeconds } from '../domain/cron-expression';
import { parseDurationMs } from '../domain/duration';
import { pruneActivities, quickActivities, streamingActivitiesWithin } from './activity-options';
import type { BackupSessionInput } from '../domain/session-inputs';
import { runSession } from './session-skeleton';
import { beginSession, failureMessage, runStep, setPhase, type SessionIdentity } from './session-status';
import { requireInputFields } from './input-guard';
import { acquireBackupLock, releaseBackupLock } from './backup-lock';
import { notifySessionOutcome } from './session-notification';
import { armStaleWatch } from './stale-watch';
import { runHooks } from './session-hooks';
import { startDrillIfDue } from './restore-drill';

export type BackupSessionResult =
  | {
      outcome: 'succeeded';
      snapshotId: string;
      configuration: string;
      repository: string;
      databases: string[];
      storedBytes: number;
      rawBytes: number;
      sha256: string;
      /** Snapshots the configuration's retention policy removed after this one committed. */
      removedSnapshots: string[];
    }
  | {
      outcome: 'skipped';
      configuration: string;
      /** The session of the same configuration that was already running. */
      runningSession: string;
    };

/** A scheduled configuration's schedule interval, for the stale-backup alert (deploy/monitoring). */
function scheduleGauges(cron: string | undefined): { scheduleIntervalSeconds?: number } {
  return cron === undefined ? {} : { scheduleIntervalSeconds: longestCronIntervalSeconds(cron) };
}

/**
 * A backup session, logical or physical: admission → preflight → dump → commit (manifest last) →
 * retention → metrics. Skipped, not failed, when another session of the configuration runs.
 */
export async function backupSession(input: BackupSessionInput): Promise<BackupSessionResult> {
  requireInputFields(
    input,
    ['configuration.name', 'configuration.spec', 'target.name', 'target.spec', 'repository.name', 'repository.spec'],
    '`dbkeep input backup` prints a valid input',
  );
  const { configuration, target } = input;
  const info = workflowInfo();
  const snapshotId = input.snapshotId ?? formatSnapshotId(info.startTime, uuid4().replace(/-/g, '').slice(0, 6));
  const identity: SessionIdentity = {
    kind: 'backup',
    configuration: configuration.name,
    repository: input.repository.name,
    target: target.name,
  };
  const status = beginSession(identity);
  status.snapshotId = snapshotId;

  const lock = await runStep(status, 'admission', () => acquireBackupLock(configuration.name, info.workflowId));
  if (!lock) {
    const { holder } = await quickActivities.findBackupLockHolder({ configuration: configuration.name });
    status.skippedFor = holder;
    status.snapshotId = undefined;
    setPhase(status, 'Skipped');
    return { outcome: 'skipped', configuration: configuration.name, runningSession: holder ?? backupLockWorkflowId(configuration.name) };
  }

  const notify = (outcome: 'succeeded' | 'failed', error?: string) =>
    notifySessionOutcome({
      configuration,
      repository: input.repository,
      target: target.name,
      snapshotId,
      outcome,
      ...(error ? { error } : {}),
    });
  // Post-backup hooks run once the pre-backup ones had their turn, whatever the outcome.
  let hooks: 'not reached' | 'pre ran' | 'post ran' = 'not reached';
  // Started last, once the lock has ended (workflows/session-notification.ts says why).
  let deliverNotice: (() => Promise<unknown>) | undefined;
  try {
    const result = await runSession<BackupSessionResult>(
      status,
      identity,
      async () => {
        const preflight = await runStep(status, 'preflight', () =>
          quickActivities.preflightTarget({ target, configuration, repository: input.repository }),
        );
        // From here on, the specs as the preflight checked them (a hand-written input may lack defaults).
        const spec = preflight.configuration;
        hooks = 'pre ran';
        await runHooks(status, 'preBackup', spec.hooks?.preBackup, target);
        const { method } = spec;
        const repository = { name: input.repository.name, spec: preflight.repository };
        // The schema checked it with this parser.
        const timeoutMs = parseDurationMs(spec.timeout)!;
        const dump = await runStep(status, 'dump', () =>
          streamingActivitiesWithin(timeoutMs).dumpToRepository({
            configuration: configuration.name,
            snapshotId,
            target,
            source: preflight.source,
            repository,
            compression: spec.compression,
            databases: preflight.databases,
            method,
            encryptTo: spec.encryption?.age.recipients,
            args: spec.args,
            binaryLog: preflight.binaryLog,
            ...(spec.verification && method === 'logical' ? { fingerprint: true } : {}),
          }),
        );
        status.storedBytes = dump.storedBytes;
        status.rawBytes = dump.rawBytes;
        const manifest = buildManifest({
          snapshotId,
          configuration: configuration.name,
          repository: repository.name,
          target: { name: target.name, engine: target.spec.engine },
          preflight,
          dump,
        });
        await runStep(status, 'commit', () => quickActivities.commitSnapshot({ repository, manifest }));
        // The snapshot is committed: from here on the session has succeeded whatever retention
        // does; a retention failure is reported on the status and retried by the next session.
        const retention = await runStep(status, 'retention', () =>
          pruneActivities.applyRetention({
            repository,
            configuration: configuration.name,
            policy: spec.retention,
            protect: [snapshotId],
            dryRun: spec.retention?.dryRun ?? false,
          }),
        ).catch((err: unknown) => {
          status.warning = `retention failed, nothing more was deleted: ${failureMessage(err)}`;
          return undefined;
        });
        await startDrillIfDue({ configuration: { name: configuration.name, spec }, repository, snapshotId });
        hooks = 'post ran';
        await runHooks(status, 'postBackup', spec.hooks?.postBackup, target);
        return {
          result: {
            outcome: 'succeeded',
            snapshotId,
            configuration: configuration.name,
            repository: repository.name,
            databases: preflight.databases,
            storedBytes: dump.storedBytes,
            rawBytes: dump.rawBytes,
            sha256: dump.sha256,
            removedSnapshots: retention && !retention.dryRun ? retention.removed.map((r) => r.snapshotId) : [],
          },
          metrics: {
            dataSizeBytes: dump.rawBytes,
            uploadedBytes: dump.storedBytes,
            repositorySizeBytes: retention?.storedBytes,
            snapshotCount: retention?.snapshotCount,
            snapshotsRemoved: retention && !retention.dryRun ? retention.removedCount : 0,
          },
        };
      },
      scheduleGauges(configuration.spec.schedule?.cron),
    ).catch(async (err: unknown) => {
      if (hooks === 'pre ran') await runHooks(status, 'postBackup', configuration.spec.hooks?.postBackup, target, { sessionFailed: true });
      deliverNotice = await notify('failed', status.error ?? failureMessage(err));
      throw err;
    });
    deliverNotice = await notify('succeeded');
    await armStaleWatch({
      configuration,
      repository: input.repository.name,
      target: target.name,
      snapshotId,
      at: new Date().toISOString(),
    });
    return result;
  } finally {
    await releaseBackupLock(lock);
    await deliverNotice?.();
  }
}
