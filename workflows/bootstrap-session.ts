import { ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { restoreWorkflowId } from '../domain/session-ids';
import type { BootstrapSessionInput } from '../domain/session-inputs';
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
}

/**
 * mariadb-operator's bootstrapFrom: a new instance starts from a snapshot. A physical snapshot
 * populates the instance's data directory before it starts (the instance must not be running);
 * a logical one is applied once the instance accepts connections.
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
  // Pushes no session metrics: a logical bootstrap's restore is a session that pushes its own.
  return runSession(status, undefined, async () => {
    const manifest = await runStep(status, 'resolve-snapshot', () =>
      quickActivities.resolveSnapshot({ repository, configuration, selector: input.selector }),
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
          restoreId: info.workflowId.split('/').at(-1)!,
          ordinal: 0,
          volume: { directory: datadir },
          overwrite: false,
          identity: input.identity,
        }),
      );
    } else {
      await runStep(status, 'wait-for-target', () => quickActivities.waitForTarget({ target, timeoutSeconds: input.waitSeconds }));
      await runStep(status, 'restore', () =>
        executeChild(restoreSession, {
          workflowId: restoreWorkflowId(target.name, `bootstrap-${info.workflowId.split('/').at(-1)!}`),
          args: [
            {
              repository,
              configuration,
              target,
              selector: { snapshotId: manifest.snapshotId },
              overwrite: false,
              identity: input.identity,
            },
          ],
        }),
      );
    }
    return { result: { snapshotId: manifest.snapshotId, method: manifest.method, target: target.name } };
  });
}
