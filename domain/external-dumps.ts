import type { CompressionAlgorithm } from './resources';
import { formatSnapshotId } from './snapshot-id';

/**
 * Dumps made elsewhere, named as mariadb-operator's migration runbook names them:
 * `backup.<RFC 3339 time>.sql`, optionally `.gz`, `.bz2` or `.zst`, uploaded next to a
 * configuration's snapshots. `dbkeep import` turns each into a snapshot.
 */
const EXTERNAL_DUMP = /^backup\.(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))\.sql(\.gz|\.bz2|\.zst)?$/;

const ALGORITHMS: Record<string, CompressionAlgorithm> = { '': 'none', '.gz': 'gzip', '.bz2': 'bzip2', '.zst': 'zstd' };

export interface ExternalDump {
  fileName: string;
  time: Date;
  compression: CompressionAlgorithm;
}

export function parseExternalDumpName(fileName: string): ExternalDump | undefined {
  const match = EXTERNAL_DUMP.exec(fileName);
  if (!match) return undefined;
  const time = new Date(match[1]!);
  if (Number.isNaN(time.getTime())) return undefined;
  return { fileName, time, compression: ALGORITHMS[match[2] ?? '']! };
}

/** Deterministic, so importing the same file twice finds the snapshot it made the first time. */
export function importedSnapshotId(dump: ExternalDump, sha256: string): string {
  return formatSnapshotId(dump.time, sha256.slice(0, 6));
}
