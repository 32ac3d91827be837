import type { Webhooks } from './notifications';
import type { Named, RepositorySpec, ScratchPlacement } from './resources';
import type { SecretRef } from './secret-ref';

/**
 * The workflow type of a restore drill (workflows/restore-drill.ts restoreDrill), for what starts
 * one by name: the activity that starts an `everyN` drill apart from its session.
 */
export const RESTORE_DRILL_WORKFLOW_TYPE = 'restoreDrill';

/** A restore drill's input, `verify/<configuration>/<snapshot-id>`. References only: no secret value. */
export interface RestoreDrillWorkflowInput {
  repository: Named<RepositorySpec>;
  configuration: string;
  snapshotId: string;
  /** The configuration's age identity (a reference), for encrypted snapshots. */
  identity?: SecretRef;
  /** The configuration's webhooks (references): those with `drillFailure` are told of a failed drill. */
  webhooks?: Webhooks;
  /** Where the scratch server runs (spec.verification.scratch); absent: `local`. */
  scratch?: ScratchPlacement;
}
