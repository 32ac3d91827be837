// Pure and dependency-free: workflows import it.

/**
 * Snapshot ids are the UTC time the session was created, to the millisecond, and a short
 * random suffix: `20261121T161704123Z-3f9a1c`. Lexical order is time order, which is what
 * listing, retention and recovery-time selection rely on.
 */
export const SNAPSHOT_ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-([0-9a-f]{6})$/;

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
