import { ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { restoreWorkflowId } from '../domain/session-ids';
import type { BootstrapSessionInput, RestoreSessionInput } from '../domain/session-inputs';
import type { ReplayOutcome } from '../activities/point-in-time-activities';
import { quickActivities } from './activity-options';
import { restoreSession } from './restore-session';
import { runSession } from './session-skeleton';
import { beginSession, runStep } from './session-status';
import { populateReplica } from './volume-restore-session';
import { requireInputFields } from './input-guard';

export interface BootstrapSessionResult {
  snapshotId: string;
  method: 'logical' | 'physical';
  target: string;
  /** A point-in-time bootstrap: what was replayed of the archived binary log after the snapshot. */
  replayed?: ReplayOutcome;
}

/**
 * mariadb-operator's bootstrapFrom: a new instance starts from a snapshot. A physical snapshot
 * populates the instance's data directory before it starts (the instance must not be running);
 * a logical one is applied once the instance accepts connections. A point in time is a
 * point-in-time restore into the instance once it accepts connections: its snapshot is the one the
 * recoverable window starts from, which only a logical snapshot does for now.
 */
export async function bootstrapSession(input: BootstrapSessionInput): Promise<BootstrapSessionResult> {
  requireInputFields(
    input,
    ['target.name', 'target.spec', 'repository.name', 'repository.spec', 'configuration', 'selector'],
    '`dbkeep bootstrap` starts a valid session',
  );
  const { target, repository, configuration } = input;
  const info = workflowInfo();
  const status = beginSession({ kind: 'restore', configuration, repository: repository.name, target: target.name });
  const sessionId = info.workflowId.split('/').at(-1)!;
  // A logical bootstrap is a restore session into the new instance, a child of this one.
  const restoreInto = (args: Pick<RestoreSessionInput, 'selector' | 'pointInTime'>) =>
    runStep(status, 'restore', () =>
      executeChild(restoreSession, {
        workflowId: restoreWorkflowId(target.name, `bootstrap-${sessionId}`),
        args: [{ repository, configuration, target, overwrite: false, identity: input.identity, ...args }],
      }),
    );
  // Pushes no session metrics: a logical bootstrap's restore is a session that pushes its own.
  return runSession(status, undefined, async () => {
    if (input.pointInTime) {
      await runStep(status, 'wait-for-target', () => quickActivities.waitForTarget({ target, timeoutSeconds: input.waitSeconds }));
      const restored = await restoreInto({ selector: {}, pointInTime: input.pointInTime });
      status.snapshotId = restored.snapshotId;
      const result: BootstrapSessionResult = { snapshotId: restored.snapshotId, method: 'logical', target: target.name };
      return { result: restored.replayed ? { ...result, replayed: restored.replayed } : result };
    }
    const manifest = await runStep(status, 'resolve-snapshot', () =>
      // The first activity parses the whole input again, as it reached the worker.
      quickActivities.resolveSnapshot({ repository, configuration, selector: input.selector, session: { kind: 'bootstrap', input } }),
    );
    status.snapshotId = manifest.snapshotId;
    if (manifest.method === 'physical') {
      const datadir = target.spec.datadir;
      if (!datadir) {
        throw ApplicationFailure.nonRetryable(
          `Target "${target.name}": spec.datadir is required to bootstrap from the physical snapshot ${manifest.snapshotId}`,
          'InvalidInput',
        );
      }
      await runStep(status, 'populate-datadir', () =>
        populateReplica({
          repository,
          manifest,
          restoreId: sessionId,
          ordinal: 0,
          volume: { directory: datadir },
          overwrite: false,
          identity: input.identity,
        }),
      );
    } else {
      await runStep(status, 'wait-for-target', () => quickActivities.waitForTarget({ target, timeoutSeconds: input.waitSeconds }));
      await restoreInto({ selector: { snapshotId: manifest.snapshotId } });
    }
    return { result: { snapshotId: manifest.snapshotId, method: manifest.method, target: target.name } };
  });
}
