/**
 * A snapshot folder without a manifest is never a snapshot (rule 4: the manifest is written
 * last). It is either a session still writing it, or what a failed one left: a data object the
 * commit never followed, or the data of a snapshot whose prune was interrupted after the
 * manifest was deleted. Retention deletes the second kind once nothing has written to the folder
 * for this long: a session completes its data object only when the dump ends and writes the
 * manifest within the minutes of its commit step, and an import commits each copy right away,
 * so a day of silence means nobody will. (An S3 upload in progress is no object yet.)
 */
export const ABANDONED_FOLDER_AFTER_MS = 24 * 3600 * 1000;

export function selectAbandonedFolders<T extends { lastModified: Date }>(
  folders: readonly T[],
  now: Date,
  abandonedAfterMs: number = ABANDONED_FOLDER_AFTER_MS,
): T[] {
  return folders.filter((folder) => now.getTime() - folder.lastModified.getTime() >= abandonedAfterMs);
}
