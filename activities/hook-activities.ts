import { parseDurationMs } from '../domain/duration';
import { permanentFailure, PermanentFailureType, type PermanentFailure } from '../domain/failures';
import type { Hook, HookPhase } from '../domain/hooks';
import type { Named, TargetSpec } from '../domain/resources';
import type { SecretResolver } from '../secrets/secret-resolver';
import { connectToTarget } from './database-connection';

export interface RunHookInput {
  target: Named<TargetSpec>;
  hook: Hook;
  phase: HookPhase;
}

/** A hook's own failure: the message names the hook and says what happened, never the URL (it may carry a token). */
function hookFailed(input: RunHookInput, what: string): PermanentFailure {
  return permanentFailure(PermanentFailureType.HookFailed, `${input.phase} hook ${input.hook.name}: ${what}`);
}

export function createHookActivities(deps: { secrets: SecretResolver }) {
  return {
    /** Runs one hook once (domain/hooks.ts): its statement on the Target, or its HTTP request, within its timeout. */
    async runHook(input: RunHookInput): Promise<{ durationMs: number }> {
      const started = Date.now();
      const timeoutMs = parseDurationMs(input.hook.timeout) ?? 30_000;
      if (input.hook.sql !== undefined) {
        const connection = await connectToTarget(input.target, deps.secrets);
        try {
          await connection.query({ sql: input.hook.sql, timeout: timeoutMs });
        } catch (error) {
          const { code, message } = error as { code?: string; message?: string };
          throw hookFailed(input, code === 'PROTOCOL_SEQUENCE_TIMEOUT' ? `no answer within ${input.hook.timeout}` : `${message ?? code}`);
        } finally {
          connection.destroy();
        }
      } else {
        const http = input.hook.http!;
        const url = await deps.secrets.resolve(http.url, `${input.phase} hook ${input.hook.name} url`);
        const response = await fetch(url, {
          method: http.method,
          headers: { 'user-agent': 'dbkeep', 'content-type': 'application/json' },
          ...(http.method === 'GET'
            ? {}
            : { body: JSON.stringify({ source: 'dbkeep', hook: input.hook.name, phase: input.phase, target: input.target.name }) }),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        }).catch((error: unknown) => {
          const name = (error as Error).name;
          const cause = (error as { cause?: { code?: string } }).cause?.code ?? name;
          throw hookFailed(input, name === 'TimeoutError' ? `no answer within ${input.hook.timeout}` : `the request failed (${cause})`);
        });
        await response.body?.cancel();
        if (!response.ok) throw hookFailed(input, `the request was answered with HTTP ${response.status}`);
      }
      return { durationMs: Date.now() - started };
    },
  };
}
