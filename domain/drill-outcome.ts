import { z } from 'zod';

/** What a restore drill found, as `<configuration>/<snapshot-id>/verification.json` records it (docs/restore-drills.md). */
export const drillOutcomeSchema = z.object({
  snapshotId: z.string(),
  passed: z.boolean(),
  verifiedAt: z.iso.datetime(),
  /** From the scratch server's start to the end of the comparison. */
  durationSeconds: z.number().nonnegative(),
  /** The restore alone: the measured RTO of this snapshot on this worker. */
  restoreSeconds: z.number().nonnegative(),
  /** SQL bytes applied, and their rate during the restore. */
  restoredBytes: z.number().int().nonnegative(),
  restoreBytesPerSecond: z.number().nonnegative(),
  tables: z.number().int().nonnegative(),
  /** What differs from the fingerprint recorded at backup time, one line per table or object (at most 50). */
  differences: z.array(z.string()),
});
export type DrillOutcome = z.infer<typeof drillOutcomeSchema>;

/** What `dbkeep snapshots` shows of a snapshot's last drill. */
export type LastVerification = Pick<DrillOutcome, 'verifiedAt' | 'passed' | 'durationSeconds' | 'restoreSeconds'>;
