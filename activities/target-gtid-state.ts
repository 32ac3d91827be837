import type mysql from 'mysql2/promise';
import type { TargetGtidState } from '../domain/gtid-restore';
import type { ServerFlavor } from '../domain/server-flavor';

/** The target's GTID variables, as domain/gtid-restore.ts decides from them. */
export async function readTargetGtidState(connection: mysql.Connection, flavor: ServerFlavor): Promise<TargetGtidState> {
  if (flavor === 'mysql') {
    const [[row]] = await connection.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.gtid_mode AS mode, @@GLOBAL.gtid_executed AS executed');
    return { flavor, gtidMode: String(row?.mode ?? 'OFF'), gtidExecuted: String(row?.executed ?? '').replace(/\s+/g, '') };
  }
  const [[row]] = await connection.query<mysql.RowDataPacket[]>(
    'SELECT @@GLOBAL.gtid_binlog_pos AS binlogPos, @@GLOBAL.gtid_slave_pos AS slavePos',
  );
  return { flavor, gtidBinlogPos: String(row?.binlogPos ?? ''), gtidSlavePos: String(row?.slavePos ?? '') };
}
