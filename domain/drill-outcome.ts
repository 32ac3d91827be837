import { z } from 'zod';
import { dumpFingerprintSchema } from './dump-fingerprint';

/**
 * What a drill proved (docs/restore-drills.md): `fingerprint`, a logical snapshot's restored copy
 * compared with the fingerprint recorded at backup time; `physical-integrity`, a physical
 * snapshot's prepared copy started on, every table checked and every row read.
 */
export const DRILL_PROOFS = ['fingerprint', 'physical-integrity'] as const;
export type DrillProof = (typeof DRILL_PROOFS)[number];

/** What a restore drill found, as `<configuration>/<snapshot-id>/verification.json` records it (docs/restore-drills.md). */
export const drillOutcomeSchema = z.object({
  snapshotId: z.string(),
  /** Absent in outcomes of earlier versions, which were all `fingerprint`. */
  proof: z.enum(DRILL_PROOFS).optional(),
  passed: z.boolean(),
  verifiedAt: z.iso.datetime(),
  /** From the scratch server's start (a physical drill: the download's) to the end of the comparison. */
  durationSeconds: z.number().nonnegative(),
  /**
   * The restore alone: the measured RTO of this snapshot on this worker. A physical drill's runs
   * from the download to the scratch server accepting connections on the prepared copy.
   */
  restoreSeconds: z.number().nonnegative(),
  /** Bytes restored (SQL applied; a physical drill's, the backup stream extracted), and their rate during the restore. */
  restoredBytes: z.number().int().nonnegative(),
  restoreBytesPerSecond: z.number().nonnegative(),
  /** Tables compared (`fingerprint`), or base tables checked with CHECK TABLE (`physical-integrity`). */
  tables: z.number().int().nonnegative(),
  /**
   * What differs, one line per table, object or database (at most 50): from the fingerprint
   * recorded at backup time, or a physical copy's tables failing CHECK TABLE, its databases
   * missing from the manifest's list, its dump failing.
   */
  differences: z.array(z.string()),
  /**
   * A physical drill's dump of the restored copy, read as a fingerprint: every table's row count
   * and data hash, every object's definition hash. Only in verification.json: the workflow's
   * result leaves it out, as a copy with many tables would make it too large for Temporal.
   */
  restoredFingerprint: dumpFingerprintSchema.optional(),
});
export type DrillOutcome = z.infer<typeof drillOutcomeSchema>;

/** How many differences an outcome keeps. */
export const MAX_RECORDED_DIFFERENCES = 50;

/** What `dbkeep snapshots` shows of a snapshot's last drill. */
export type LastVerification = Pick<DrillOutcome, 'verifiedAt' | 'passed' | 'durationSeconds' | 'restoreSeconds'>;

/**
 * The outcome of a drill that failed on the snapshot itself before it could compare anything: its
 * stored object not matching its manifest, or a physical copy the server does not start on. It
 * is recorded like any failed drill, so `dbkeep snapshots` shows it; a drill that failed on the
 * worker (a scratch server that did not start on a fresh data directory, a lost connection)
 * proves nothing about the snapshot and records nothing.
 */
export function failedDrillOutcome(params: {
  snapshotId: string;
  proof: DrillProof;
  finding: string;
  startedMs: number;
  nowMs: number;
}): DrillOutcome {
  return {
    snapshotId: params.snapshotId,
    proof: params.proof,
    passed: false,
    verifiedAt: new Date(params.nowMs).toISOString(),
    durationSeconds: (params.nowMs - params.startedMs) / 1000,
    restoreSeconds: 0,
    restoredBytes: 0,
    restoreBytesPerSecond: 0,
    tables: 0,
    differences: [params.finding],
  };
}

/** The outcome of a drill that ran to its comparison: passed when nothing differs; up to 50 differences kept. */
export function completedDrillOutcome(params: {
  snapshotId: string;
  proof: DrillProof;
  differences: string[];
  startedMs: number;
  nowMs: number;
  restoreSeconds: number;
  restoredBytes: number;
  tables: number;
}): DrillOutcome {
  const { restoreSeconds, restoredBytes } = params;
  return {
    snapshotId: params.snapshotId,
    proof: params.proof,
    passed: params.differences.length === 0,
    verifiedAt: new Date(params.nowMs).toISOString(),
    durationSeconds: (params.nowMs - params.startedMs) / 1000,
    restoreSeconds,
    restoredBytes,
    restoreBytesPerSecond: restoreSeconds > 0 ? Math.round(restoredBytes / restoreSeconds) : 0,
    tables: params.tables,
    differences: params.differences.slice(0, MAX_RECORDED_DIFFERENCES),
  };
}
