import { permanentFailure, PermanentFailureType } from '../domain/failures';
import {
  isRejectedForGood,
  notificationBody,
  notificationEventFor,
  notificationStateKey,
  notificationStateSchema,
  type SessionNotice,
  type SessionOutcome,
} from '../domain/notifications';
import type { NotificationEvent } from '../domain/notification-events';
import type { Named, RepositorySpec } from '../domain/resources';
import type { SecretRef } from '../domain/secret-ref';
import type { SecretResolver } from '../secrets/secret-resolver';
import { ObjectNotFoundError, type Storage } from '../storage/storage';

export interface RecordSessionOutcomeInput {
  repository: Named<RepositorySpec>;
  configuration: string;
  outcome: SessionOutcome;
}

export interface DeliverNotificationInput {
  webhook: { url: SecretRef; format: 'json' | 'slack' };
  /** 1-based, as the configuration lists its webhooks: messages name a webhook by it, never by its URL. */
  webhookNumber: number;
  notice: SessionNotice;
}

/** A receiver that does not answer within this is retried. */
const DELIVERY_TIMEOUT_MS = 10_000;

export function createNotificationActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}) {
  return {
    /**
     * Records a session's outcome as the configuration's last, and returns the event it raises
     * (domain/notifications.ts). Called by the session while it holds the configuration's lock,
     * so two sessions never interleave here.
     */
    async recordSessionOutcome(input: RecordSessionOutcomeInput): Promise<{ event?: NotificationEvent }> {
      const storage = await deps.openStorage(input.repository, deps.secrets);
      const key = notificationStateKey(input.configuration);
      const previous = await storage.getBytes(key).then(
        (bytes) => notificationStateSchema.safeParse(JSON.parse(bytes.toString('utf8'))),
        (error: unknown) => {
          if (error instanceof ObjectNotFoundError) return undefined;
          throw error;
        },
      );
      const last = previous?.success ? previous.data.lastOutcome : undefined;
      // Written when the outcome changes (`at`: since when it stands), not after every session.
      if (last !== input.outcome) {
        await storage.putBytes(key, Buffer.from(JSON.stringify({ lastOutcome: input.outcome, at: new Date().toISOString() })));
      }
      const event = notificationEventFor(last, input.outcome);
      return event ? { event } : {};
    },

    /**
     * POSTs one message to one webhook. A 2xx is delivered; a 4xx other than 408 and 429 never
     * will be (non-retryable); anything else is retried by Temporal. No message names the URL,
     * which carries the receiver's token.
     */
    async deliverNotification(input: DeliverNotificationInput): Promise<{ status: number }> {
      const url = await deps.secrets.resolve(input.webhook.url, `webhook ${input.webhookNumber} of ${input.notice.configuration}`);
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'dbkeep' },
        body: notificationBody(input.notice, input.webhook.format),
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        redirect: 'error',
      }).catch((error: unknown) => {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
        throw new Error(`webhook ${input.webhookNumber} could not be reached (${cause})`);
      });
      await response.body?.cancel();
      if (response.ok) return { status: response.status };
      const what = `webhook ${input.webhookNumber} answered HTTP ${response.status}`;
      if (isRejectedForGood(response.status)) {
        throw permanentFailure(
          PermanentFailureType.NotificationRejected,
          `${what}: the receiver refuses the message; check the webhook's URL`,
        );
      }
      throw new Error(what);
    },
  };
}
