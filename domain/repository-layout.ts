import type { BackupMethod, CompressionAlgorithm } from './resources';

/**
 * Where a snapshot's objects live, relative to the repository's prefix:
 *
 *   <configuration>/<snapshot-id>/dump.sql.zst    the data (backup.xbstream.zst if physical), written first
 *   <configuration>/<snapshot-id>/manifest.json   written last; its presence is what makes a snapshot
 *
 * Names are validated (DNS labels, snapshot id pattern), so a key never leaves its prefix.
 */
export const MANIFEST_FILE = 'manifest.json';

const EXTENSIONS: Record<CompressionAlgorithm, string> = { zstd: '.zst', gzip: '.gz', bzip2: '.bz2', none: '' };

/**
 * `dump.sql.zst` (logical) or `backup.xbstream.zst` (physical), `.age` when encrypted: the
 * name says which standard tools read it back.
 */
export function dataFileName(method: BackupMethod, algorithm: CompressionAlgorithm, encrypted: boolean): string {
  return `${method === 'logical' ? 'dump.sql' : 'backup.xbstream'}${storedSuffix(algorithm, encrypted)}`;
}

/** `.zst`, `.gz.age`…: what a stored object's name adds for the filters it went through. */
export function storedSuffix(algorithm: CompressionAlgorithm, encrypted: boolean): string {
  return `${EXTENSIONS[algorithm]}${encrypted ? '.age' : ''}`;
}

/** The dump's fingerprint in a snapshot's folder (manifest `fingerprint`), `.age` when the snapshot is encrypted. */
export function fingerprintFileName(encrypted: boolean): string {
  return `fingerprint.json${encrypted ? '.age' : ''}`;
}

/** The last restore drill's outcome of a snapshot, beside its manifest (`dbkeep snapshots` shows it). */
export const DRILL_OUTCOME_FILE = 'verification.json';

export function drillOutcomeKey(configuration: string, snapshotId: string): string {
  return snapshotKey(configuration, snapshotId, DRILL_OUTCOME_FILE);
}

export function configurationPrefix(configuration: string): string {
  return `${configuration}/`;
}

export function snapshotKey(configuration: string, snapshotId: string, fileName: string): string {
  return `${configuration}/${snapshotId}/${fileName}`;
}

/** Splits `<configuration>/<snapshot-id>/<file>`; undefined for keys of any other shape. */
export function parseSnapshotKey(key: string): { configuration: string; snapshotId: string; fileName: string } | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined;
  const [configuration, snapshotId, fileName] = parts as [string, string, string];
  return { configuration, snapshotId, fileName };
}
