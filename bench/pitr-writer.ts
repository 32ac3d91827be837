import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type ConnectionOptions, type RowDataPacket } from 'mysql2/promise';
import { parseMariadbGtidPosition } from '../domain/gtid-sets';

/**
 * The source's application for `npm run bench:pitr`: small transactions (one row each) at a
 * steady rate from a few connections, each commit's GTID sequence number and the wall time its
 * acknowledgement arrived recorded, so that the time each one was archived can be set against it.
 */
export const WRITER_DATABASE = 'pitr_bench';
export const WRITER_TABLE = 'ticks';

export interface WriterPlan {
  transactionsPerSecond: number;
  seconds: number;
  /** Connections sharing the schedule; with one, a commit's fsync caps the rate below the goal. */
  connections: number;
}

export interface WrittenCommits {
  /** MariaDB GTID sequence number of commit i (domain 0). */
  sequence: Float64Array;
  /** Date.now()-based ms at which commit i's OK arrived: the commit happened just before. */
  acknowledgedAtMs: Float64Array;
  count: number;
  /** Wall seconds from the first commit's scheduled time to the last acknowledgement. */
  seconds: number;
}

/** The table the writer fills: a key, the server's commit-time clock, a little payload. */
export async function createWriterTable(connection: Connection): Promise<void> {
  await connection.query(`CREATE DATABASE IF NOT EXISTS ${WRITER_DATABASE}`);
  await connection.query(
    `CREATE TABLE IF NOT EXISTS ${WRITER_DATABASE}.${WRITER_TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) NOT NULL, payload CHAR(32) NOT NULL)`,
  );
}

/** The sequence number of domain 0 in a MariaDB GTID or GTID position ("0-1-123"), server ignored. */
export const domainZeroSequence = (gtids: string): number | undefined => parseMariadbGtidPosition(gtids).get(0)?.sequence;

/** Wall-clock milliseconds (Date.now()'s epoch) with sub-millisecond resolution, for writer and watcher alike. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * Commits `rate × seconds` one-row transactions; commit i is due at start + i / rate, and each
 * connection takes the next due one as soon as its last is acknowledged, so a slow commit delays
 * the schedule instead of being skipped (the achieved rate is reported, not assumed).
 */
export async function writePaced(options: ConnectionOptions, plan: WriterPlan): Promise<WrittenCommits> {
  const total = Math.round(plan.transactionsPerSecond * plan.seconds);
  const sequence = new Float64Array(total);
  const acknowledgedAtMs = new Float64Array(total);
  const connections = await Promise.all(
    Array.from({ length: plan.connections }, () => createConnection({ ...options, multipleStatements: true })),
  );
  const startedAt = nowMs();
  let next = 0;
  try {
    await Promise.all(
      connections.map(async (connection) => {
        for (let index = next++; index < total; index = next++) {
          const due = startedAt + (index * 1000) / plan.transactionsPerSecond;
          const wait = due - nowMs();
          if (wait > 1) await sleep(wait);
          const payload = index.toString(16).padStart(32, '0');
          const [results] = await connection.query<RowDataPacket[][]>(
            `INSERT INTO ${WRITER_DATABASE}.${WRITER_TABLE} (at, payload) VALUES (NOW(6), ?); SELECT @@last_gtid AS gtid`,
            [payload],
          );
          acknowledgedAtMs[index] = nowMs();
          const gtid = String(results[1]?.[0]?.gtid ?? '');
          const committed = domainZeroSequence(gtid);
          if (committed === undefined) throw new Error(`commit ${index} has no GTID in domain 0 (last_gtid ${JSON.stringify(gtid)})`);
          sequence[index] = committed;
        }
      }),
    );
  } finally {
    await Promise.all(connections.map((connection) => connection.end().catch(() => undefined)));
  }
  return { sequence, acknowledgedAtMs, count: total, seconds: (nowMs() - startedAt) / 1000 };
}
