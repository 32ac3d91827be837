import { describe, expect, it } from 'vitest';
import { parseReplicationPosition } from '../../domain/replication-position';

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
