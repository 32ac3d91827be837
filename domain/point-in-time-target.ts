import { z } from 'zod';

/** Where a point-in-time restore goes, as a restore's input carries it. */
export const pointInTimeTargetSchema = z.union(
  [
    z.strictObject({ at: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time such as 2026-11-21T16:00:00Z' }) }),
    z.strictObject({
      beforeGtid: z
        .string()
        .regex(
          /^(\d+-\d+-\d+|[0-9a-fA-F-]{36}(:[a-z_][a-z0-9_]*)?:\d+)$/,
          'must be one GTID: domain-server-sequence (MariaDB) or uuid:number (MySQL)',
        ),
    }),
    z.strictObject({ latest: z.literal(true) }),
  ],
  { error: 'must be { at }, { beforeGtid } or { latest: true }' },
);
export type PointInTimeTarget = z.infer<typeof pointInTimeTargetSchema>;
