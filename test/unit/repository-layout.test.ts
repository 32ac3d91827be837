import { describe, expect, it } from 'vitest';
import { configurationPrefix, dataFileName, MANIFEST_FILE, parseSnapshotKey, snapshotKey } from '../../domain/repository-layout';

const id = '20261121T161704123Z-3f9a1c';

describe('snapshotKey and parseSnapshotKey', () => {
  it('builds <configuration>/<snapshot-id>/<file>', () => {
    expect(snapshotKey('nightly', id, 'dump.sql.zst')).toBe(`nightly/${id}/dump.sql.zst`);
    expect(snapshotKey('nightly', id, MANIFEST_FILE)).toBe(`nightly/${id}/manifest.json`);
  });

  it('round-trips', () => {
    for (const fileName of [MANIFEST_FILE, 'dump.sql', 'dump.sql.gz', 'dump.sql.bz2', 'dump.sql.zst']) {
      const key = snapshotKey('prod-db-1', id, fileName);
      expect(parseSnapshotKey(key)).toEqual({ configuration: 'prod-db-1', snapshotId: id, fileName });
    }
  });

  it('starts with the configuration prefix, which does not match a longer configuration name', () => {
    expect(configurationPrefix('nightly')).toBe('nightly/');
    expect(snapshotKey('nightly', id, 'x').startsWith(configurationPrefix('nightly'))).toBe(true);
    expect(snapshotKey('nightly-2', id, 'x').startsWith(configurationPrefix('nightly'))).toBe(false);
  });

  it.each([
    '',
    'nightly',
    'nightly/',
    `nightly/${id}`,
    `nightly/${id}/`,
    `/nightly/${id}/dump.sql`,
    `nightly//dump.sql`,
    `nightly/${id}/sub/dump.sql`,
    `a/b/c/d`,
    '//',
  ])('rejects the key %j', (key) => {
    expect(parseSnapshotKey(key)).toBeUndefined();
  });
});

describe('dataFileName', () => {
  it('names the data file after its method, compression and encryption', () => {
    expect(dataFileName('logical', 'zstd', false)).toBe('dump.sql.zst');
    expect(dataFileName('logical', 'gzip', false)).toBe('dump.sql.gz');
    expect(dataFileName('logical', 'bzip2', false)).toBe('dump.sql.bz2');
    expect(dataFileName('logical', 'none', false)).toBe('dump.sql');
    expect(dataFileName('logical', 'zstd', true)).toBe('dump.sql.zst.age');
    expect(dataFileName('physical', 'zstd', false)).toBe('backup.xbstream.zst');
    expect(dataFileName('physical', 'none', true)).toBe('backup.xbstream.age');
  });

  it('never collides with the manifest', () => {
    for (const method of ['logical', 'physical'] as const) {
      for (const algorithm of ['zstd', 'gzip', 'bzip2', 'none'] as const) {
        for (const encrypted of [false, true]) expect(dataFileName(method, algorithm, encrypted)).not.toBe(MANIFEST_FILE);
      }
    }
  });
});
