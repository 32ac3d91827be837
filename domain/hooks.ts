import { z } from 'zod';
import { parseDurationMs } from './duration';
import { durationSchema } from './duration-schema';
import { resourceNameSchema } from './names';
import { secretRefSchema } from './secret-ref';

/**
 * Hooks, as Stash has them but without a shell: a SQL statement run on the Target, or an HTTP
 * call, before or after a backup (on the BackupConfiguration) or a restore (on the Target
 * restored into). Each runs as an activity of its own (`hook/<when>/<name>`), bounded by its
 * timeout, and its failure fails the session (`onFailure: fail`, the default) or is only
 * reported (`ignore`). docs/hooks.md has what runs when.
 */
export const hookSchema = z
  .strictObject({
    /** Names the hook in the session's steps, its activity id and its failure. */
    name: resourceNameSchema,
    /** One statement, run as the Target's user (e.g. `FLUSH TABLES`, a marker row's INSERT). */
    sql: z.string().trim().min(1).max(65_536).optional(),
    /** A request to a URL, which may carry a token: a secret reference. A 2xx answer is success. */
    http: z.strictObject({ url: secretRefSchema, method: z.enum(['POST', 'PUT', 'GET']).default('POST') }).optional(),
    timeout: durationSchema
      .default('30s')
      .refine((text) => (parseDurationMs(text) ?? 0) >= 1000 && (parseDurationMs(text) ?? 0) <= 3_600_000, 'must be between 1s and 1h'),
    onFailure: z.enum(['fail', 'ignore']).default('fail'),
  })
  .refine((hook) => (hook.sql === undefined) !== (hook.http === undefined), 'set exactly one of sql and http');
export type Hook = z.output<typeof hookSchema>;

const hookListSchema = z
  .array(hookSchema)
  .max(10)
  .refine((hooks) => new Set(hooks.map((h) => h.name)).size === hooks.length, 'must not name two hooks alike');

export const backupHooksSchema = z.strictObject({ preBackup: hookListSchema.optional(), postBackup: hookListSchema.optional() });
export const restoreHooksSchema = z.strictObject({ preRestore: hookListSchema.optional(), postRestore: hookListSchema.optional() });

export type HookPhase = 'preBackup' | 'postBackup' | 'preRestore' | 'postRestore';
