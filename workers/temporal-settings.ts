import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from '../domain/session-ids';
import { formatZodIssues } from '../domain/resource-set';

/** Where a client finds Temporal, following the `temporal` CLI's conventions. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
}

const settingsSchema = z.strictObject({
  address: z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port'),
  namespace: z.string().min(1).max(255),
  taskQueue: z.string().min(1).max(255),
});

export class TemporalSettingsError extends Error {
  override readonly name = 'TemporalSettingsError';
}

/** The Temporal of a running `dbkeep dev up` stack, which only the CLI looks for. */
export interface DiscoveredTemporal {
  address: string;
  namespace: string;
}

/**
 * Flags first, then TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / DBKEEP_TASK_QUEUE, then a dev stack
 * the CLI found (workers never look for one), then the `temporal` CLI's default
 * (127.0.0.1:7233, namespace "default").
 */
export function resolveTemporalSettings(
  flags: { address?: string; namespace?: string; taskQueue?: string },
  env: NodeJS.ProcessEnv = process.env,
  devTemporal?: DiscoveredTemporal,
): TemporalSettings {
  const parsed = settingsSchema.safeParse({
    address: flags.address ?? env.TEMPORAL_ADDRESS ?? devTemporal?.address ?? '127.0.0.1:7233',
    namespace: flags.namespace ?? env.TEMPORAL_NAMESPACE ?? devTemporal?.namespace ?? 'default',
    taskQueue: flags.taskQueue ?? env.DBKEEP_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
  });
  if (!parsed.success) throw new TemporalSettingsError(`Temporal settings: ${formatZodIssues(parsed.error.issues)}`);
  return parsed.data;
}
