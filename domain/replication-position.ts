import { z } from 'zod';
import type { ServerFlavor } from './server-flavor';

/**
 * Where a logical snapshot stands in its server's history, as the dump tool itself wrote it into
 * the dump's header inside its consistent snapshot (`--source-data=2` / `--master-data=2`, and
 * MySQL's `--set-gtid-purged=COMMENTED`): every transaction up to here is in the snapshot, none
 * after. MariaDB's GTID position is the one of those binlog coordinates (BINLOG_GTID_POS, asked of
 * the source after the dump; mariadb-dump --gtid would print it only at the end of the dump).
 * Point-in-time recovery replays the binary log from it, and a restore into an empty server takes
 * its GTID position (domain/gtid-restore.ts).
 */
export const replicationPositionSchema = z.object({
  /** MySQL: @@gtid_executed at the snapshot (a GTID set). */
  gtidExecuted: z.string().optional(),
  /** MariaDB: the GTID position of the snapshot (domain-server-sequence, comma-separated). */
  gtidBinlogPos: z.string().optional(),
  /** The binary log file and offset of the snapshot, on the server it was taken from. */
  binlogFile: z.string().optional(),
  binlogPosition: z.number().int().nonnegative().optional(),
});

export type ReplicationPosition = z.infer<typeof replicationPositionSchema>;

// `-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000002', MASTER_LOG_POS=1234;` (MariaDB, MySQL before 8.0.23)
// `-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=1234;` (MySQL 8.0.23+)
const BINLOG_COORDINATES =
  /^-- CHANGE (?:MASTER|REPLICATION SOURCE) TO (?:MASTER|SOURCE)_LOG_FILE='([^']+)', (?:MASTER|SOURCE)_LOG_POS=(\d+);/m;
// MySQL: `/* SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'uuid:1-5,\nuuid:1-3';*/`, the set possibly over several lines.
const MYSQL_GTID_SET = /SET @@GLOBAL\.GTID_PURGED\s*=\s*(?:\/\*!\d+\s*'\+'\s*\*\/\s*)?'\+?([^']*)'/;
/** The position in a dump's first bytes; undefined when the dump carries none (binary log off). */
export function parseReplicationPosition(dumpHead: string, flavor: ServerFlavor): Omit<ReplicationPosition, 'gtidBinlogPos'> | undefined {
  const position: ReplicationPosition = {};
  const coordinates = BINLOG_COORDINATES.exec(dumpHead);
  if (coordinates) {
    position.binlogFile = coordinates[1]!;
    position.binlogPosition = Number(coordinates[2]);
  }
  if (flavor === 'mysql') {
    const set = MYSQL_GTID_SET.exec(dumpHead)?.[1]?.replace(/\s+/g, '');
    if (set) position.gtidExecuted = set;
  }
  return Object.keys(position).length > 0 ? position : undefined;
}

// mariadb-backup, once the copy is consistent (BACKUP STAGE BLOCK_COMMIT):
// `MySQL binlog position: filename 'binlog.000001', position '1408', GTID of the last change '0-1-7'`
const MARIADB_BACKUP_POSITION = /MySQL binlog position: filename '([^']+)', position '(\d+)'(?:, GTID of the last change '([^']*)')?/;

/**
 * Where a physical snapshot stands, from what mariadb-backup printed at its end; undefined when it
 * printed none (no binary log). Recorded in the manifest; a physical snapshot starts no recoverable
 * window yet, since a volume restore does not replay the binary log.
 */
export function parsePhysicalBackupPosition(stderr: string): ReplicationPosition | undefined {
  const match = MARIADB_BACKUP_POSITION.exec(stderr);
  if (!match) return undefined;
  const position: ReplicationPosition = { binlogFile: match[1]!, binlogPosition: Number(match[2]) };
  if (match[3]) position.gtidBinlogPos = match[3];
  return position;
}
