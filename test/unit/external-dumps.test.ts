import { describe, expect, it } from 'vitest';
import { importedSnapshotId, parseExternalDumpName } from '../../domain/external-dumps';

describe('parseExternalDumpName', () => {
  it('reads the time and compression of mariadb-operator style names', () => {
    expect(parseExternalDumpName('backup.2023-12-18T16:14:00Z.sql')).toEqual({
      fileName: 'backup.2023-12-18T16:14:00Z.sql',
      time: new Date('2023-12-18T16:14:00Z'),
      compression: 'none',
    });
    expect(parseExternalDumpName('backup.2023-12-18T16:14:00Z.sql.gz')?.compression).toBe('gzip');
    expect(parseExternalDumpName('backup.2023-12-18T16:14:00Z.sql.bz2')?.compression).toBe('bzip2');
    expect(parseExternalDumpName('backup.2023-12-18T16:14:00.250+01:00.sql.zst')).toMatchObject({
      compression: 'zstd',
      time: new Date('2023-12-18T15:14:00.250Z'),
    });
  });

  it('ignores everything else', () => {
    for (const name of [
      'backup.sql',
      'backup.2023-12-18.sql',
      'backup.2023-12-18T16:14:00Z.sql.xz',
      'dump.2023-12-18T16:14:00Z.sql',
      'backup.2023-13-45T99:99:99Z.sql',
      'manifest.json',
    ]) {
      expect(parseExternalDumpName(name), name).toBeUndefined();
    }
  });

  it('gives a snapshot id that sorts by the dump time and is stable for the same content', () => {
    const dump = parseExternalDumpName('backup.2023-12-18T16:14:00Z.sql')!;
    expect(importedSnapshotId(dump, 'abcdef0123')).toBe('20231218T161400000Z-abcdef');
  });
});
