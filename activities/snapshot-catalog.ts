import { parseManifest, type Manifest } from '../domain/manifest';
import { configurationPrefix, DRILL_OUTCOME_FILE, MANIFEST_FILE, parseSnapshotKey, snapshotKey } from '../domain/repository-layout';
import type { Storage, StoredObject } from '../storage/storage';

/** A snapshot folder that has a manifest but cannot be trusted; listing reports it instead of throwing. */
export interface SnapshotProblem {
  snapshotId: string;
  reason: string;
}

/** A snapshot folder without a manifest: a session still writing it, or one that never finished. */
export interface UnfinishedFolder {
  snapshotId: string;
  keys: string[];
  /** The newest of its objects' write times. */
  lastModified: Date;
}

export interface SnapshotCatalog {
  /** Valid snapshots, oldest first. */
  snapshots: Manifest[];
  /** The valid snapshots whose folder holds a restore drill's outcome (DRILL_OUTCOME_FILE), as the listing shows. */
  drilled: ReadonlySet<string>;
  problems: SnapshotProblem[];
  unfinished: UnfinishedFolder[];
}

/**
 * Reads every committed snapshot of a configuration. A folder without a manifest is an
 * unfinished (or failed) session and is not a snapshot: it is not listed, only returned as
 * unfinished for retention to clean up once it is old. A manifest
 * that does not parse, or whose data object is missing or of another size, is reported.
 */
export async function readSnapshotCatalog(storage: Storage, configuration: string): Promise<SnapshotCatalog> {
  const folders = new Map<string, Map<string, StoredObject>>();
  for await (const object of storage.list(configurationPrefix(configuration))) {
    const parsed = parseSnapshotKey(object.key);
    if (!parsed || parsed.configuration !== configuration) continue;
    let files = folders.get(parsed.snapshotId);
    if (!files) folders.set(parsed.snapshotId, (files = new Map()));
    files.set(parsed.fileName, object);
  }

  const snapshots: Manifest[] = [];
  const drilled = new Set<string>();
  const problems: SnapshotProblem[] = [];
  const unfinished: UnfinishedFolder[] = [];
  for (const [snapshotId, files] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
    if (!files.has(MANIFEST_FILE)) {
      const objects = [...files.values()];
      unfinished.push({
        snapshotId,
        keys: objects.map((o) => o.key),
        lastModified: new Date(Math.max(...objects.map((o) => o.lastModified.getTime()))),
      });
      continue;
    }
    const text = (await storage.getBytes(snapshotKey(configuration, snapshotId, MANIFEST_FILE))).toString('utf8');
    const parsed = parseManifest(text);
    if (!parsed.ok) {
      problems.push({ snapshotId, reason: parsed.reason });
      continue;
    }
    const { manifest } = parsed;
    if (manifest.snapshotId !== snapshotId || manifest.configuration !== configuration) {
      problems.push({ snapshotId, reason: `manifest describes ${manifest.configuration}/${manifest.snapshotId}, not this folder` });
      continue;
    }
    const size = files.get(manifest.data.file)?.size;
    if (size === undefined) {
      problems.push({ snapshotId, reason: `data object ${manifest.data.file} is missing` });
      continue;
    }
    if (size !== manifest.data.storedBytes) {
      problems.push({
        snapshotId,
        reason: `data object ${manifest.data.file} has ${size} bytes, manifest says ${manifest.data.storedBytes}`,
      });
      continue;
    }
    snapshots.push(manifest);
    if (files.has(DRILL_OUTCOME_FILE)) drilled.add(snapshotId);
  }
  return { snapshots, drilled, problems, unfinished };
}
