import { CancellationScope } from '@temporalio/workflow';
import type { ReplayOutcome } from '../activities/point-in-time-activities';
import type { RestoreSessionInput } from '../domain/session-inputs';
import { quickActivities, streamingActivities } from './activity-options';
import { runSession } from './session-skeleton';
import { beginSession, failureMessage, runStep, type SessionIdentity } from './session-status';
import { requireInputFields } from './input-guard';
import { runHooks } from './session-hooks';

export interface RestoreSessionResult {
  snapshotId: string;
  target: string;
  databases: string[];
  rawBytes: number;
  /** What happened to the target's GTID state (domain/gtid-restore.ts), in a sentence. */
  gtid: string;
  /** A point-in-time restore: what was replayed of the archived binary log after the snapshot. */
  replayed?: ReplayOutcome;
}

/** A logical restore session: choose the snapshot → check the target → verify and apply → metrics. */
export async function restoreSession(input: RestoreSessionInput): Promise<RestoreSessionResult> {
  requireInputFields(
    input,
    ['repository.name', 'repository.spec', 'configuration', 'target.name', 'target.spec', 'selector', 'overwrite'],
    '`dbkeep input restore` prints a valid input',
  );
  const { repository, target } = input;
  const identity: SessionIdentity = {
    kind: 'restore',
    configuration: input.configuration,
    repository: repository.name,
    target: target.name,
  };
  const status = beginSession(identity);
  return runSession(status, identity, async () => {
    const { pointInTime } = input;
    // The first activity parses the whole input again, as it reached the worker.
    const session = { kind: 'restore', input } as const;
    // A point in time chooses its snapshot from the recoverable window, and is refused here when outside every one.
    const selector = pointInTime
      ? await runStep(status, 'resolve-point-in-time', () =>
          quickActivities.resolvePointInTime({ repository, configuration: input.configuration, pointInTime, session }),
        )
      : input.selector;
    const manifest = await runStep(status, 'resolve-snapshot', () =>
      quickActivities.resolveSnapshot({
        repository,
        configuration: input.configuration,
        selector,
        method: 'logical',
        ...(pointInTime ? {} : { session }),
      }),
    );
    status.snapshotId = manifest.snapshotId;
    status.storedBytes = manifest.data.storedBytes;
    const databases = input.database === undefined ? manifest.databases : [input.database];
    const { gtid } = await runStep(status, 'inspect-target', () =>
      quickActivities.inspectRestoreTarget({
        target,
        databases,
        overwrite: input.overwrite,
        snapshot: {
          server: manifest.server,
          replication: manifest.replication,
          compression: manifest.compression.algorithm,
          encrypted: manifest.encryption !== undefined,
        },
        ...(pointInTime ? { replaysBinlog: true } : {}),
      }),
    );
    await runHooks(status, 'preRestore', target.spec.hooks?.preRestore, target);
    const restored = await runStep(status, 'restore', async () => {
      try {
        return await streamingActivities.restoreFromSnapshot({
          repository,
          target,
          manifest,
          identity: input.identity,
          database: input.database,
          args: input.args,
          parallel: input.parallel,
          gtid,
          ...(pointInTime ? { pointInTime } : {}),
        });
      } catch (err) {
        // Failed for good, cancelled, or its worker lost: what the restore replaced comes back,
        // also when the session itself is being cancelled.
        await CancellationScope.nonCancellable(() => quickActivities.putBackReplacedDatabases({ target, databases, gtid })).catch(
          (putBackError: unknown) => {
            status.warning =
              `the replaced databases could not be put back (${failureMessage(putBackError)}); they wait in the target's ` +
              '_dbkeep_keep_* schemas, recorded in _dbkeep_restore.kept_databases, and the next restore of them into this target puts them back first';
          },
        );
        await runHooks(status, 'postRestore', target.spec.hooks?.postRestore, target, { sessionFailed: true });
        throw err;
      }
    });
    await runHooks(status, 'postRestore', target.spec.hooks?.postRestore, target);
    status.rawBytes = restored.rawBytes;
    return {
      result: {
        snapshotId: manifest.snapshotId,
        target: target.name,
        databases,
        rawBytes: restored.rawBytes,
        gtid: restored.gtid,
        ...(restored.replayed ? { replayed: restored.replayed } : {}),
      },
      metrics: { dataSizeBytes: restored.rawBytes },
    };
  });
}
