import { binlogArchivePrefix, isBinlogIndexKey, parseBinlogPiece, type BinlogPiece } from '../domain/binlog-archive';
import type { Storage } from '../storage/storage';

export interface BinlogCatalog {
  /** Pieces whose index entry parses and whose data object is there, at the size the entry says. */
  pieces: BinlogPiece[];
  /** Index entries that cannot be trusted, with why: a window never crosses them. */
  problems: Array<{ key: string; reason: string }>;
}

/**
 * Reads a configuration's archived binary log: every index entry, checked against its data
 * object. A data object without an entry is an upload that never finished and is no piece.
 */
export async function readBinlogCatalog(storage: Storage, configuration: string): Promise<BinlogCatalog> {
  const sizes = new Map<string, number>();
  const indexKeys: string[] = [];
  for await (const object of storage.list(binlogArchivePrefix(configuration))) {
    if (isBinlogIndexKey(object.key)) indexKeys.push(object.key);
    else sizes.set(object.key, object.size);
  }
  const pieces: BinlogPiece[] = [];
  const problems: BinlogCatalog['problems'] = [];
  for (const key of indexKeys.sort()) {
    const parsed = parseBinlogPiece((await storage.getBytes(key)).toString('utf8'));
    if (!parsed.ok) {
      problems.push({ key, reason: parsed.reason });
      continue;
    }
    const dataKey = `${key.slice(0, key.lastIndexOf('/') + 1)}${parsed.piece.data.file}`;
    const size = sizes.get(dataKey);
    if (size !== parsed.piece.data.storedBytes) {
      problems.push({
        key,
        reason:
          size === undefined
            ? `data object ${dataKey} is missing`
            : `data object has ${size} bytes, index says ${parsed.piece.data.storedBytes}`,
      });
      continue;
    }
    pieces.push(parsed.piece);
  }
  return { pieces, problems };
}
