import { z } from 'zod';

/**
 * Resource names follow Kubernetes' DNS-1123 label rule. They end up in object keys,
 * workflow ids and search attributes, so the rule is also what keeps a name from ever
 * escaping its repository prefix (no `/`, no `..`).
 */
export const resourceNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be lowercase letters, digits and "-", starting and ending with a letter or digit',
  );

export type ResourceName = z.infer<typeof resourceNameSchema>;

/**
 * Snapshot ids are the UTC time the session was created, to the millisecond, and a short
 * random suffix: `20261121T161704123Z-3f9a1c`. Lexical order is time order, which is what
 * listing, retention and recovery-time selection rely on.
 */
const SNAPSHOT_ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-([0-9a-f]{6})$/;

export const snapshotIdSchema = z
  .string()
  .regex(SNAPSHOT_ID_PATTERN, 'must look like 20261121T161704123Z-3f9a1c (UTC time and a 6-hex-digit suffix)');

export function formatSnapshotId(time: Date, randomSuffix: string): string {
  if (!/^[0-9a-f]{6}$/.test(randomSuffix)) {
    throw new Error(`snapshot id suffix must be 6 hex digits, got ${JSON.stringify(randomSuffix)}`);
  }
  const iso = time.toISOString(); // 2026-11-21T16:17:04.123Z
  const compact = iso.replace(/[-:]/g, '').replace('.', '');
  return `${compact}-${randomSuffix}`;
}

export function snapshotIdTime(snapshotId: string): Date {
  const m = SNAPSHOT_ID_PATTERN.exec(snapshotId);
  if (!m) throw new Error(`not a snapshot id: ${JSON.stringify(snapshotId)}`);
  const [, y, mo, d, h, mi, s, ms] = m;
  return new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
}

export function backupWorkflowId(configuration: string, snapshotId: string): string {
  return `backup/${configuration}/${snapshotId}`;
}

export function restoreWorkflowId(target: string, restoreId: string): string {
  return `restore/${target}/${restoreId}`;
}

export function snapshotListingWorkflowId(configuration: string, requestId: string): string {
  return `snapshots/${configuration}/${requestId}`;
}
