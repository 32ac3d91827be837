import type { ReplicationPosition } from './replication-position';
import type { ServerFlavor } from './server-flavor';

/** The target's GTID state, read before the restore changes anything. */
export type TargetGtidState =
  { flavor: 'mysql'; gtidMode: string; gtidExecuted: string } | { flavor: 'mariadb'; gtidBinlogPos: string; gtidSlavePos: string };

/**
 * What a restore does with GTIDs, decided once before it starts so every attempt does the same:
 * - `adopt`: the target has executed nothing yet (a new server, or a replica being built). The
 *   dump is applied without writing the binary log (`sql_log_bin=0`), then the target takes the
 *   snapshot's position: MySQL's `gtid_purged`, MariaDB's `gtid_slave_pos`. Replication from the
 *   snapshot's source and binlog replay then continue exactly after the snapshot.
 * - `leave`: the target already has its own history. Its GTID state is left alone: the dump is
 *   applied as new transactions of the target, which is what restoring into a running server
 *   means; taking the snapshot's set would fail (it overlaps) or lie about the target's history.
 */
export type GtidRestorePlan =
  | { action: 'adopt'; flavor: 'mysql'; gtidSet: string }
  | { action: 'adopt'; flavor: 'mariadb'; gtidPos: string }
  | { action: 'leave'; reason: string };

export function planGtidRestore(params: {
  snapshotFlavor: ServerFlavor | undefined;
  position: ReplicationPosition | undefined;
  target: TargetGtidState;
  /** Galera replicates writesets whatever sql_log_bin says; its GTIDs belong to the cluster. */
  galera: boolean;
}): GtidRestorePlan {
  const { position, target } = params;
  if (params.galera) return { action: 'leave', reason: 'a Galera cluster keeps its own GTIDs' };
  if (params.snapshotFlavor !== target.flavor) {
    return { action: 'leave', reason: 'the snapshot comes from another server flavour, whose GTIDs this one cannot take' };
  }
  if (target.flavor === 'mysql') {
    if (!position?.gtidExecuted) return { action: 'leave', reason: 'the snapshot records no GTID set (its server ran without GTIDs)' };
    if (target.gtidMode !== 'ON') return { action: 'leave', reason: `the target runs with gtid_mode ${target.gtidMode}` };
    if (target.gtidExecuted !== '')
      return { action: 'leave', reason: 'the target has executed transactions of its own (gtid_executed is not empty)' };
    return { action: 'adopt', flavor: 'mysql', gtidSet: position.gtidExecuted };
  }
  if (!position?.gtidBinlogPos)
    return { action: 'leave', reason: 'the snapshot records no GTID position (its server ran without a binary log)' };
  if (target.gtidBinlogPos !== '' || target.gtidSlavePos !== '') {
    return { action: 'leave', reason: 'the target has a GTID history of its own (gtid_binlog_pos or gtid_slave_pos is set)' };
  }
  return { action: 'adopt', flavor: 'mariadb', gtidPos: position.gtidBinlogPos };
}

/** What the session result says about GTIDs, in a sentence. */
export function describeGtidPlan(plan: GtidRestorePlan): string {
  if (plan.action === 'leave') return `target's GTID state left alone: ${plan.reason}`;
  return plan.flavor === 'mysql'
    ? `target took the snapshot's GTID set as gtid_purged (${plan.gtidSet})`
    : `target took the snapshot's GTID position as gtid_slave_pos (${plan.gtidPos})`;
}
