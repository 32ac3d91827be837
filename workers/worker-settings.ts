import { z } from 'zod';
import { resolveTemporalSettings, type TemporalSettings } from '../clients/temporal-settings';
import { formatZodIssues } from '../domain/resource-set';
import { DEFAULT_MAX_CONCURRENT_SESSIONS } from './dbkeep-worker';

/**
 * How a worker process is configured: the same Temporal settings as every client (flags,
 * then TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / DBKEEP_TASK_QUEUE), and
 * DBKEEP_MAX_CONCURRENT_SESSIONS for how many sessions stream at once.
 */
export interface WorkerSettings extends TemporalSettings {
  maxConcurrentSessions: number;
}

const maxConcurrentSessionsSchema = z.coerce.number().int().min(1).max(64).default(DEFAULT_MAX_CONCURRENT_SESSIONS);

export class WorkerSettingsError extends Error {
  override readonly name = 'WorkerSettingsError';
}

export function resolveWorkerSettings(
  flags: { address?: string; namespace?: string; taskQueue?: string; maxConcurrentSessions?: string },
  env: NodeJS.ProcessEnv = process.env,
): WorkerSettings {
  const parsed = maxConcurrentSessionsSchema.safeParse(flags.maxConcurrentSessions ?? env.DBKEEP_MAX_CONCURRENT_SESSIONS);
  if (!parsed.success) {
    throw new WorkerSettingsError(`--max-concurrent-sessions / DBKEEP_MAX_CONCURRENT_SESSIONS: ${formatZodIssues(parsed.error.issues)}`);
  }
  return { ...resolveTemporalSettings(flags, env), maxConcurrentSessions: parsed.data };
}
