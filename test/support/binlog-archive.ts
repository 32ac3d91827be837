import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { DbkeepClient } from '../../clients/dbkeep-client';
import { parseBinlogPiece, type BinlogPiece } from '../../domain/binlog-archive';
import type { PointInTimeTarget } from '../../domain/point-in-time-target';
import { resolveBackupConfiguration, resolveTarget, type ResourceSet } from '../../domain/resource-set';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { rootQuery, type E2eStack } from './e2e-stack';
import { pollUntil } from './poll';

/** The source's GTID state as its own variables say: MySQL's gtid_executed, MariaDB's gtid_binlog_pos. */
export async function gtidState(source: MariaDbInstance): Promise<string> {
  const sql = source.engine === 'mysql' ? 'SELECT @@GLOBAL.gtid_executed AS state' : 'SELECT @@GLOBAL.gtid_binlog_pos AS state';
  const [row] = await rootQuery(source, sql);
  return String(row!.state).replace(/\s+/g, '');
}

/** Every archived piece's index entry, read from the bucket as a tool without dbkeep would. */
export async function archivedPieces(stack: E2eStack, configuration: string): Promise<Array<{ key: string; piece: BinlogPiece }>> {
  const keys = (await stack.listKeys(`${configuration}/binlogs/`)).filter((key) => key.endsWith('.json')).map((key) => `dbkeep/${key}`);
  return Promise.all(
    keys.map(async (key) => {
      const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
      const parsed = parseBinlogPiece(await object.Body!.transformToString());
      if (!parsed.ok) throw new Error(`${key}: ${parsed.reason}`);
      return { key, piece: parsed.piece };
    }),
  );
}

/** Waits until an archived piece ends at `state`: the archive holds everything up to it. */
export async function waitForArchivedState(stack: E2eStack, configuration: string, state: string, timeoutMs = 120_000): Promise<void> {
  await pollUntil(
    async () => (await archivedPieces(stack, configuration)).map(({ piece }) => piece.gtidsAfter),
    (ends) => ends.includes(state),
    { what: `an archived piece of ${configuration} reaching ${state}`, timeoutMs },
  );
}

/**
 * The pieces as one chain: from the only piece no other one leads to, each next one starts where
 * the last ended. Returns how many pieces the walk visited and where it ended; a piece stored
 * twice or a gap shows as a walk shorter than the list, or a second start.
 */
export function walkArchiveChain(pieces: ReadonlyArray<{ piece: BinlogPiece }>): {
  /** Pieces no other one leads to: 1 for a whole archive. */
  starts: number;
  walked: number;
  /** Distinct starting states: as many as pieces when none is stored twice. */
  distinctStarts: number;
  end?: string;
} {
  const next = new Map(pieces.map(({ piece }) => [piece.gtidsBefore, piece]));
  const ends = new Set(pieces.map(({ piece }) => piece.gtidsAfter));
  const firsts = pieces.filter(({ piece }) => !ends.has(piece.gtidsBefore));
  let walked = 0;
  let end: string | undefined;
  for (let piece: BinlogPiece | undefined = firsts[0]?.piece; piece && walked <= pieces.length; piece = next.get(piece.gtidsAfter)) {
    walked += 1;
    end = piece.gtidsAfter;
  }
  return { starts: firsts.length, walked, distinctStarts: next.size, ...(end === undefined ? {} : { end }) };
}

/**
 * A point-in-time restore of `configuration` into the Target named `target`, both from
 * `resources`, and its session's result (a failed session rejects with its failure).
 */
export async function restoreToPoint(
  client: DbkeepClient,
  resources: ResourceSet,
  params: { configuration: string; target: string; pointInTime: PointInTimeTarget; overwrite: boolean },
) {
  const handle = await client.restore({
    repository: resolveBackupConfiguration(resources, params.configuration).repository,
    configuration: params.configuration,
    target: resolveTarget(resources, params.target),
    selector: {},
    overwrite: params.overwrite,
    pointInTime: params.pointInTime,
  });
  return handle.result();
}
