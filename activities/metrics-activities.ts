import { log } from '@temporalio/activity';
import { pushSessionMetrics as pushToGateway, type SessionMetrics } from './session-metrics';

/** What a workflow sends: plain JSON (the time as ISO text), no secrets, a few hundred bytes. */
export interface SessionMetricsInput extends Omit<SessionMetrics, 'finishedAt'> {
  finishedAt: string;
}

/**
 * The worker knows where its Pushgateway is (DBKEEP_PUSHGATEWAY_URL or `--pushgateway`), as
 * Stash's operator does; resources do not. Without one, pushing is a logged no-op.
 */
export function createMetricsActivities(deps: { pushgatewayUrl?: string }) {
  return {
    async pushSessionMetrics(input: SessionMetricsInput): Promise<void> {
      if (!deps.pushgatewayUrl) {
        log.debug('no Pushgateway configured; session metrics not pushed', { configuration: input.configuration });
        return;
      }
      await pushToGateway(deps.pushgatewayUrl, { ...input, finishedAt: new Date(input.finishedAt) });
    },
  };
}
