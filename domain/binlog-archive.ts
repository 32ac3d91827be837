import { createHash } from 'node:crypto';
import { z } from 'zod';
import { formatZodIssues } from './resource-set';
import { formatMariadbGtidPosition, formatMysqlGtidSet, mariadbPositionOfBinlogState, parseMysqlGtidSet } from './gtid-sets';
import { COMPRESSION_ALGORITHMS, type Named, type TargetSpec } from './resources';
import type { ServerFlavor } from './server-flavor';

/**
 * Where a configuration's archived binary log lives in its repository, beside its snapshots:
 *
 *   <configuration>/binlogs/<source>/<file>-<start>/<from>-<to>.binlog.zst    one piece: bytes [from, to) of the file
 *   <configuration>/binlogs/<source>/<file>-<start>/<from>-<to>.json          its index entry, written after the data
 *
 * `<source>` names the server (MySQL's server_uuid; MariaDB's server_id and where it listens),
 * `<start>` is a digest of the GTID state the file starts from: a file name alone means nothing
 * once a server is rebuilt or another node takes over, so a folder is one file of one server's
 * one history. A piece always ends after a whole transaction (domain/binlog-scanner.ts); the
 * pieces of a folder, concatenated in order from offset 0, are the file as the server wrote it.
 * Keys have more than three parts, so snapshot listing never mistakes them for a snapshot folder.
 */
export const BINLOG_FOLDER = 'binlogs';
export const BINLOG_INDEX_FORMAT_VERSION = 1;

export function binlogArchivePrefix(configuration: string): string {
  return `${configuration}/${BINLOG_FOLDER}/`;
}

/** The folder of one binary log file of one source, from the GTID state the file starts with. */
export function binlogFileFolder(configuration: string, source: string, file: string, fileStartGtids: string): string {
  const start = createHash('sha256').update(fileStartGtids).digest('hex').slice(0, 12);
  return `${binlogArchivePrefix(configuration)}${source}/${file}-${start}/`;
}

// Fixed width, so the keys of one folder sort in file order.
const offsetText = (offset: number) => String(offset).padStart(12, '0');

export function binlogPieceKeys(folder: string, from: number, to: number, dataSuffix: string): { data: string; index: string } {
  const stem = `${folder}${offsetText(from)}-${offsetText(to)}`;
  return { data: `${stem}.binlog${dataSuffix}`, index: `${stem}.json` };
}

export function isBinlogIndexKey(key: string): boolean {
  return key.endsWith('.json') && key.split('/')[1] === BINLOG_FOLDER;
}

/**
 * The source a piece came from. MySQL's server_uuid names a server for good; a MariaDB server
 * has only its server_id, which Galera nodes may share, so where it listens is part of its name.
 */
export function binlogSourceName(source: {
  flavor: 'mysql' | 'mariadb';
  serverUuid?: string;
  serverId: number;
  hostname: string;
  port: number;
}): string {
  if (source.flavor === 'mysql' && source.serverUuid) return source.serverUuid;
  const where = createHash('sha256').update(`${source.hostname}:${source.port}`).digest('hex').slice(0, 8);
  return `server-${source.serverId}-${where}`;
}

/** One archived piece's index entry: what the recoverable window and a replay need, without reading the data. */
export const binlogPieceSchema = z.object({
  formatVersion: z.literal(BINLOG_INDEX_FORMAT_VERSION),
  configuration: z.string().min(1),
  source: z.object({
    /** The folder name under binlogs/ (binlogSourceName). */
    name: z.string().min(1),
    flavor: z.enum(['mysql', 'mariadb']),
    serverId: z.number().int().nonnegative(),
    serverUuid: z.string().optional(),
    hostname: z.string(),
    port: z.number().int(),
  }),
  /** The binary log file on the source, and the GTID state it starts from. */
  file: z.string().min(1),
  fileStartGtids: z.string(),
  /** Byte range [from, to) of the file this piece holds. */
  from: z.number().int().nonnegative(),
  to: z.number().int().positive(),
  /** The GTID state before the piece's first transaction and after its last. */
  gtidsBefore: z.string(),
  gtidsAfter: z.string(),
  transactions: z.number().int().positive(),
  /** The statement times of its first and last transaction (second precision, as the binary log has them). */
  firstEventAt: z.iso.datetime(),
  lastEventAt: z.iso.datetime(),
  data: z.object({
    /** Object name beside the index entry. */
    file: z.string().regex(/^[A-Za-z0-9._-]+$/),
    storedBytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  compression: z.object({ algorithm: z.enum(COMPRESSION_ALGORITHMS), level: z.number().int().optional() }),
  encryption: z.object({ method: z.literal('age'), recipients: z.array(z.string()).min(1) }).optional(),
  archivedAt: z.iso.datetime(),
});

export type BinlogPiece = z.infer<typeof binlogPieceSchema>;

export function parseBinlogPiece(text: string): { ok: true; piece: BinlogPiece } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `index entry is not JSON: ${(err as Error).message}` };
  }
  const parsed = binlogPieceSchema.safeParse(json);
  return parsed.success
    ? { ok: true, piece: parsed.data }
    : { ok: false, reason: `index entry is invalid: ${formatZodIssues(parsed.error.issues)}` };
}

export function serializeBinlogPiece(piece: BinlogPiece): string {
  return `${JSON.stringify(piece, null, 2)}\n`;
}

/**
 * The GTID state a binary log file starts from, as `SHOW BINLOG EVENTS IN 'file' LIMIT 2` shows
 * the file's second event: MySQL's Previous_gtids (`uuid:1-5,\nuuid:1-3`), MariaDB's Gtid_list
 * (`[0-1-100,0-2-7]`, the last transaction of every domain and server: a domain's position is its
 * highest sequence). Text in the form the scanner and the recoverable window use.
 */
export function fileStartGtidsFromEventInfo(flavor: ServerFlavor, info: string): string {
  if (flavor === 'mysql') return formatMysqlGtidSet(parseMysqlGtidSet(info));
  const entries = info
    .replace(/[[\]\s]/g, '')
    .split(',')
    .map((member) => /^(\d+)-(\d+)-(\d+)$/.exec(member))
    .filter((gtid) => gtid !== null)
    .map((gtid) => ({ domain: Number(gtid[1]), serverId: Number(gtid[2]), sequence: Number(gtid[3]) }));
  return formatMariadbGtidPosition(mariadbPositionOfBinlogState(entries));
}

/**
 * The servers the archiver may follow, in the order it tries them: the node it followed last (a
 * Galera member it switched to stays followed while it answers, so the archive does not switch
 * back and store what it already holds again), the Target's own host, then the other members of
 * a Galera cluster, whose binary logs carry the same GTIDs (wsrep_gtid_mode): when the host goes
 * away, the archive continues from another node, and the window is joined by GTIDs across them.
 */
export function archiveSourceCandidates(target: Named<TargetSpec>, followedLast?: Named<TargetSpec>): Array<Named<TargetSpec>> {
  const at = (host: string, port: number): Named<TargetSpec> => {
    const { socket: _socket, ...spec } = target.spec;
    return { ...target, spec: { ...spec, host, port } };
  };
  const members = (target.spec.galera?.members ?? []).map((member) => at(member.host, member.port));
  const candidates = [...(followedLast ? [followedLast] : []), target, ...members];
  const seen = new Set<string>();
  return candidates.filter((candidate) => {
    const key = candidate.spec.socket ?? `${candidate.spec.host}:${candidate.spec.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
