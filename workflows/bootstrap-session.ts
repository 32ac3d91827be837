import { ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { replicaPopulationWorkflowId, restoreWorkflowId } from '../domain/session-ids';
import type { Named, RepositorySpec, TargetSpec } from '../domain/resources';
import type { SecretRef } from '../domain/secret-ref';
import type { SnapshotSelector } from '../domain/snapshot-selection';
import { quickActivities } from './activity-options';
import { restoreSession } from './restore-session';
import { beginSession, failureMessage, runStep, setPhase } from './session-status';
import { replicaVolumePopulation } from './volume-restore-session';
import { requireInputFields } from './input-guard';

export interface BootstrapSessionInput {
  target: Named<TargetSpec>;
  repository: Named<RepositorySpec>;
  configuration: string;
  selector: SnapshotSelector;
  identity?: SecretRef;
  /** How long a logical bootstrap waits for the new instance to accept connections. */
  waitSeconds: number;
}

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
  setPhase(status, 'Running');
  try {
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
        executeChild(replicaVolumePopulation, {
          workflowId: replicaPopulationWorkflowId(info.workflowId, 0),
          args: [
            {
              repository,
              manifest,
              restoreId: info.workflowId.split('/').at(-1)!,
              ordinal: 0,
              volume: { directory: datadir },
              overwrite: false,
              identity: input.identity,
            },
          ],
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
    setPhase(status, 'Succeeded');
    return { snapshotId: manifest.snapshotId, method: manifest.method, target: target.name };
  } catch (err) {
    status.error = failureMessage(err);
    setPhase(status, 'Failed');
    throw err;
  }
}
