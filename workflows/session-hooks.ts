import { ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { DbkeepActivities } from '../activities';
import { parseDurationMs } from '../domain/duration';
import { PermanentFailureType } from '../domain/failures';
import type { Hook, HookPhase } from '../domain/hooks';
import type { Named, TargetSpec } from '../domain/resources';
import { failureMessage, runStep, type SessionStatus } from './session-status';

type HookActivities = Pick<DbkeepActivities, 'runHook'>;

const HOOKS_PATCH = 'session-hooks';

/**
 * Runs a session's hooks of one phase, in order, each as an activity of its own
 * (`hook/<phase>/<name>`) and a step of the session's status. A hook runs once (a marker row's
 * INSERT is not to be repeated), bounded by its timeout. One that fails with `onFailure: fail`
 * fails the session here (unless `sessionFailed` says it has failed already); with
 * `ignore`, or after a failure, it only leaves a warning.
 */
export async function runHooks(
  status: SessionStatus,
  phase: HookPhase,
  hooks: readonly Hook[] | undefined,
  target: Named<TargetSpec>,
  options: { sessionFailed?: boolean } = {},
): Promise<void> {
  if (!hooks?.length || !patched(HOOKS_PATCH)) return;
  for (const hook of hooks) {
    const activities = proxyActivities<HookActivities>({
      activityId: `hook/${phase}/${hook.name}`,
      // The hook's own timeout bounds its work; the margin is for connecting and reporting.
      startToCloseTimeout: (parseDurationMs(hook.timeout ?? '30s') ?? 30_000) + 30_000,
      retry: { maximumAttempts: 1 },
    });
    try {
      await runStep(status, `hook-${phase}-${hook.name}`, () => activities.runHook({ target, hook, phase }));
    } catch (err) {
      const message = failureMessage(err);
      if ((hook.onFailure ?? 'fail') === 'fail' && !options.sessionFailed) {
        throw ApplicationFailure.nonRetryable(message, PermanentFailureType.HookFailed);
      }
      status.warning = [status.warning, `${message} (${hook.onFailure === 'ignore' ? 'ignored' : 'after the session failed'})`]
        .filter(Boolean)
        .join('; ');
    }
  }
}
