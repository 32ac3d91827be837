/**
 * GTIDs as each server family writes them, and the few operations point-in-time recovery needs:
 * is one state contained in another (a snapshot's position in an archived binlog's range), are two
 * archived pieces contiguous, what is missing between them (a gap).
 *
 * - MySQL: a GTID set, `uuid:1-5:7,uuid:tag:1-3` (tags since 8.3). Every transaction of a source
 *   has a number in its uuid's (and tag's) sequence; a set is intervals per uuid and tag.
 * - MariaDB: a GTID position, `domain-server-sequence` per replication domain, comma-separated.
 *   Within a domain the sequence only grows, so a position stands for everything up to it.
 */

/** One MySQL GTID set: closed intervals per source (`uuid` or `uuid:tag`), sorted and merged. */
export type MysqlGtidSet = ReadonlyMap<string, ReadonlyArray<readonly [number, number]>>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TAG = /^[a-z_][a-z0-9_]{0,31}$/;
const INTERVAL = /^(\d+)(?:-(\d+))?$/;

/** Parses a set as `@@gtid_executed` prints it (whitespace and newlines allowed); throws naming the bad part. */
export function parseMysqlGtidSet(text: string): MysqlGtidSet {
  const intervals = new Map<string, Array<[number, number]>>();
  for (const member of text.replace(/\s+/g, '').split(',')) {
    if (member === '') continue;
    const [uuid = '', ...parts] = member.toLowerCase().split(':');
    if (!UUID.test(uuid)) throw new Error(`"${member}" does not start with a server uuid`);
    let source = uuid;
    for (const part of parts) {
      const interval = INTERVAL.exec(part);
      if (interval) {
        const first = Number(interval[1]);
        const last = interval[2] === undefined ? first : Number(interval[2]);
        if (first < 1 || last < first) throw new Error(`"${part}" in "${member}" is not an interval of transaction numbers`);
        intervals.set(source, [...(intervals.get(source) ?? []), [first, last]]);
      } else if (TAG.test(part)) {
        source = `${uuid}:${part}`;
      } else {
        throw new Error(`"${part}" in "${member}" is neither a tag nor an interval`);
      }
    }
  }
  return normalized(intervals);
}

export function formatMysqlGtidSet(set: MysqlGtidSet): string {
  return [...set]
    .map(([source, intervals]) => `${source}:${intervals.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(':')}`)
    .join(',');
}

export function unionOfMysqlGtidSets(...sets: MysqlGtidSet[]): MysqlGtidSet {
  const all = new Map<string, Array<[number, number]>>();
  for (const set of sets) {
    for (const [source, intervals] of set)
      all.set(source, [...(all.get(source) ?? []), ...intervals.map(([a, b]): [number, number] => [a, b])]);
  }
  return normalized(all);
}

/** What `set` holds that `minus` does not: the transactions missing between two archived pieces. */
export function subtractMysqlGtidSet(set: MysqlGtidSet, minus: MysqlGtidSet): MysqlGtidSet {
  const left = new Map<string, Array<[number, number]>>();
  for (const [source, intervals] of set) {
    let remaining = intervals.map(([a, b]): [number, number] => [a, b]);
    for (const [a, b] of minus.get(source) ?? []) {
      remaining = remaining.flatMap(([x, y]): Array<[number, number]> => {
        if (b < x || a > y) return [[x, y]];
        return [...(x < a ? [[x, a - 1] as [number, number]] : []), ...(b < y ? [[b + 1, y] as [number, number]] : [])];
      });
    }
    if (remaining.length > 0) left.set(source, remaining);
  }
  return normalized(left);
}

export function isMysqlGtidSubset(set: MysqlGtidSet, of: MysqlGtidSet): boolean {
  return subtractMysqlGtidSet(set, of).size === 0;
}

/** Sorted by source, each source's intervals sorted and merged where they touch; empty sources dropped. */
function normalized(intervals: Map<string, Array<[number, number]>>): MysqlGtidSet {
  const result = new Map<string, Array<[number, number]>>();
  for (const source of [...intervals.keys()].sort()) {
    const merged: Array<[number, number]> = [];
    for (const [a, b] of [...intervals.get(source)!].sort((x, y) => x[0] - y[0])) {
      const last = merged.at(-1);
      if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
      else merged.push([a, b]);
    }
    if (merged.length > 0) result.set(source, merged);
  }
  return result;
}

/** One MariaDB GTID position: per replication domain, the server and sequence number of its last transaction. */
export type MariadbGtidPosition = ReadonlyMap<number, { serverId: number; sequence: number }>;

const MARIADB_GTID = /^(\d+)-(\d+)-(\d+)$/;

/** Parses `@@gtid_binlog_pos` (or `gtid_slave_pos`); throws naming the bad part. */
export function parseMariadbGtidPosition(text: string): MariadbGtidPosition {
  const position = new Map<number, { serverId: number; sequence: number }>();
  for (const member of text.replace(/\s+/g, '').split(',')) {
    if (member === '') continue;
    const gtid = MARIADB_GTID.exec(member);
    if (!gtid) throw new Error(`"${member}" is not domain-server-sequence`);
    const domain = Number(gtid[1]);
    if (position.has(domain)) throw new Error(`domain ${domain} appears twice in "${text}"`);
    position.set(domain, { serverId: Number(gtid[2]), sequence: Number(gtid[3]) });
  }
  return new Map([...position].sort(([a], [b]) => a - b));
}

export function formatMariadbGtidPosition(position: MariadbGtidPosition): string {
  return [...position].map(([domain, { serverId, sequence }]) => `${domain}-${serverId}-${sequence}`).join(',');
}

/** Whether everything up to `position` is also up to `reached`: in every domain, `reached` is as far or further. */
export function isMariadbPositionReached(position: MariadbGtidPosition, reached: MariadbGtidPosition): boolean {
  return [...position].every(([domain, { sequence }]) => (reached.get(domain)?.sequence ?? 0) >= sequence);
}

/**
 * The position a binlog state stands for (a GTID_LIST event, `SHOW BINLOG EVENTS`' Gtid_list):
 * the state lists the last GTID of every (domain, server), and a domain's position is its
 * highest sequence.
 */
export function mariadbPositionOfBinlogState(
  entries: Iterable<{ domain: number; serverId: number; sequence: number }>,
): MariadbGtidPosition {
  const position = new Map<number, { serverId: number; sequence: number }>();
  for (const { domain, serverId, sequence } of entries) {
    if (sequence >= (position.get(domain)?.sequence ?? 0)) position.set(domain, { serverId, sequence });
  }
  return new Map([...position].sort(([a], [b]) => a - b));
}
