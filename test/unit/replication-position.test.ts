import { describe, expect, it } from 'vitest';
import { parsePhysicalBackupPosition, parseReplicationPosition } from '../../domain/replication-position';

// The head of `mariadb-dump --single-transaction --master-data=2` (MariaDB 10.11.19), as written.
const MARIADB_HEAD = `/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
--
-- Position to start replication or point-in-time recovery from
--

-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000002', MASTER_LOG_POS=790;

--
-- Current Database: \`y\`
--
`;

describe('parseReplicationPosition', () => {
  it("reads MariaDB's binlog coordinates", () => {
    expect(parseReplicationPosition(MARIADB_HEAD, 'mariadb')).toEqual({ binlogFile: 'binlog.000002', binlogPosition: 790 });
  });

  it('finds nothing in a dump without a position (binary log off)', () => {
    expect(parseReplicationPosition('-- MariaDB dump 10.19\\n\\nCREATE DATABASE `y`;\\n', 'mariadb')).toBeUndefined();
    expect(parseReplicationPosition('-- MySQL dump 10.13\\n\\nCREATE DATABASE `y`;\\n', 'mysql')).toBeUndefined();
  });
});

describe('parsePhysicalBackupPosition', () => {
  // The end of `mariadb-backup --backup --stream=xbstream`'s stderr (MariaDB 10.11.19), as printed.
  const STDERR = `[00] 2026-12-04 04:30:20 Streaming xtrabackup_binlog_info
[00] 2026-12-04 04:30:20 Executing FLUSH NO_WRITE_TO_BINLOG ENGINE LOGS...
[00] 2026-12-04 04:30:20 MySQL binlog position: filename 'binlog.000001', position '1408', GTID of the last change '0-1-7'
[00] 2026-12-04 04:30:20 Executing BACKUP STAGE END
[00] 2026-12-04 04:30:20 completed OK!
`;

  it('reads the binlog coordinates and GTID position mariadb-backup reports', () => {
    expect(parsePhysicalBackupPosition(STDERR)).toEqual({ binlogFile: 'binlog.000001', binlogPosition: 1408, gtidBinlogPos: '0-1-7' });
    expect(parsePhysicalBackupPosition(STDERR.replace(", GTID of the last change '0-1-7'", ''))).toEqual({
      binlogFile: 'binlog.000001',
      binlogPosition: 1408,
    });
  });

  it('finds nothing when the server writes no binary log', () => {
    expect(parsePhysicalBackupPosition('[00] 2026-12-04 04:30:20 completed OK!\n')).toBeUndefined();
  });
});
