import { z } from 'zod';
import { resolveTemporalSettings, type TemporalSettings } from './temporal-settings';
import { formatZodIssues } from '../domain/resource-set';
import { DEFAULT_MAX_CONCURRENT_SESSIONS } from './dbkeep-worker';

/**
 * How a worker process is configured: the same Temporal settings as every client (flags,
 * then TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / DBKEEP_TASK_QUEUE), and the worker's own:
 * how many sessions stream at once, where session metrics are pushed, where the SDK's own
 * metrics are served.
 */
export interface WorkerSettings extends TemporalSettings {
  maxConcurrentSessions: number;
  /** Prometheus Pushgateway for session metrics (Stash pushes there too); none: not pushed. */
  pushgatewayUrl?: string;
  /** host:port where the Temporal SDK's Prometheus metrics are served (`/metrics`); none: not served. */
  metricsAddress?: string;
}

const workerOwnSettingsSchema = z.strictObject({
  maxConcurrentSessions: z.coerce.number().int().min(1).max(64).default(DEFAULT_MAX_CONCURRENT_SESSIONS),
  pushgatewayUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  metricsAddress: z
    .string()
    .regex(/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/, 'must be host:port')
    .optional(),
});

const FLAG_NAMES: Record<string, string> = {
  maxConcurrentSessions: '--max-concurrent-sessions / DBKEEP_MAX_CONCURRENT_SESSIONS',
  pushgatewayUrl: '--pushgateway / DBKEEP_PUSHGATEWAY_URL',
  metricsAddress: '--metrics-address / DBKEEP_METRICS_ADDRESS',
};

export class WorkerSettingsError extends Error {
  override readonly name = 'WorkerSettingsError';
}

export function resolveWorkerSettings(
  flags: {
    address?: string;
    namespace?: string;
    taskQueue?: string;
    maxConcurrentSessions?: string;
    pushgatewayUrl?: string;
    metricsAddress?: string;
  },
  env: NodeJS.ProcessEnv = process.env,
): WorkerSettings {
  const parsed = workerOwnSettingsSchema.safeParse({
    maxConcurrentSessions: flags.maxConcurrentSessions ?? env.DBKEEP_MAX_CONCURRENT_SESSIONS,
    pushgatewayUrl: flags.pushgatewayUrl ?? (env.DBKEEP_PUSHGATEWAY_URL || undefined),
    metricsAddress: flags.metricsAddress ?? (env.DBKEEP_METRICS_ADDRESS || undefined),
  });
  if (!parsed.success) {
    const messages = parsed.error.issues.map(
      (issue) => `${FLAG_NAMES[String(issue.path[0])] ?? String(issue.path[0])}: ${formatZodIssues([{ ...issue, path: [] }])}`,
    );
    throw new WorkerSettingsError(`worker settings: ${messages.join('; ')}`);
  }
  return { ...resolveTemporalSettings(flags, env), ...parsed.data };
}
