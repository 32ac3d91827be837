import { Context } from '@temporalio/activity';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPermanentFailure, PermanentFailureType } from '../domain/failures';
import type { Named, TargetSpec } from '../domain/resources';
import type { SecretResolver } from '../secrets/secret-resolver';
import { connectToTarget } from './database-connection';
import { NoReadyEndpointError, type TargetEndpointResolver } from './target-endpoint';

export interface WaitForTargetInput {
  target: Named<TargetSpec>;
  timeoutSeconds: number;
}

/**
 * Waits until a new instance accepts connections, for a bootstrap from a logical snapshot:
 * an unreachable server, or a Service with no ready endpoint yet, is expected while it starts,
 * so it is polled (with heartbeats) until the timeout; a refused password is not going to
 * change and fails at once. The Target is resolved on every poll: its endpoints appear as the
 * instance becomes ready.
 */
export function createTargetReadinessActivities(deps: { secrets: SecretResolver; targets: TargetEndpointResolver }) {
  return {
    async waitForTarget(input: WaitForTargetInput): Promise<{ waitedSeconds: number }> {
      const started = Date.now();
      for (;;) {
        try {
          const connection = await connectToTarget(await deps.targets.resolve(input.target), deps.secrets);
          await connection.end().catch(() => undefined);
          return { waitedSeconds: (Date.now() - started) / 1000 };
        } catch (error) {
          const starting = error instanceof NoReadyEndpointError || isPermanentFailure(error, PermanentFailureType.TargetUnreachable);
          if (!starting) throw error;
          if (Date.now() - started > input.timeoutSeconds * 1000) throw error;
          Context.current().heartbeat({ phase: 'waiting for the target to accept connections', error: (error as Error).message });
          await sleep(1_000);
        }
      }
    },
  };
}
