import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { readSnapshotCatalog } from '../../activities/snapshot-catalog';
import { serializeManifest, type Manifest } from '../../domain/manifest';
import { snapshotKey } from '../../domain/repository-layout';
import { FilesystemStorage } from '../../storage/filesystem-storage';
import { manifestFor } from './manifest-fixture';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-catalog-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let storage: FilesystemStorage;
let n = 0;
beforeEach(() => {
  storage = new FilesystemStorage(join(scratch, `repo-${n++}`));
});

const ids = {
  oldest: '20261116T020000000Z-aaaaaa',
  middle: '20261117T020000000Z-bbbbbb',
  newest: '20261118T020000000Z-cccccc',
};

/** Writes a complete snapshot (data, then manifest) and returns its manifest. */
async function commitSnapshot(snapshotId: string, overrides: Partial<Manifest> = {}, configuration = 'nightly'): Promise<Manifest> {
  const data = Buffer.from(`-- dump ${snapshotId}\n`);
  const manifest = manifestFor({ snapshotId, configuration, ...overrides }, data);
  await storage.putBytes(snapshotKey(configuration, snapshotId, manifest.data.file), data);
  await storage.putBytes(snapshotKey(configuration, snapshotId, 'manifest.json'), Buffer.from(serializeManifest(manifest)));
  return manifest;
}

describe('readSnapshotCatalog', () => {
  it('is empty for an empty repository', async () => {
    expect(await readSnapshotCatalog(storage, 'nightly')).toEqual({ snapshots: [], drilled: new Set(), problems: [], unfinished: [] });
  });

  it('returns valid snapshots oldest first, whatever order they were written in', async () => {
    const newest = await commitSnapshot(ids.newest);
    const oldest = await commitSnapshot(ids.oldest);
    const middle = await commitSnapshot(ids.middle);
    expect(await readSnapshotCatalog(storage, 'nightly')).toEqual({
      snapshots: [oldest, middle, newest],
      drilled: new Set(),
      problems: [],
      unfinished: [],
    });
  });

  it('only reads the given configuration', async () => {
    const mine = await commitSnapshot(ids.oldest);
    await commitSnapshot(ids.middle, {}, 'nightly-2');
    await commitSnapshot(ids.newest, {}, 'hourly');
    expect(await readSnapshotCatalog(storage, 'nightly')).toEqual({ snapshots: [mine], drilled: new Set(), problems: [], unfinished: [] });
  });

  it('does not list a folder without a manifest, nor report it as a problem: it is returned as unfinished', async () => {
    const done = await commitSnapshot(ids.oldest);
    await storage.putBytes(snapshotKey('nightly', ids.newest, 'dump.sql.zst'), Buffer.from('unfinished session'));
    const catalog = await readSnapshotCatalog(storage, 'nightly');
    expect(catalog).toMatchObject({ snapshots: [done], problems: [] });
    expect(catalog.unfinished).toEqual([
      { snapshotId: ids.newest, keys: [snapshotKey('nightly', ids.newest, 'dump.sql.zst')], lastModified: expect.any(Date) },
    ]);
    expect(Date.now() - catalog.unfinished[0]!.lastModified.getTime()).toBeLessThan(60_000);
  });

  it('says which snapshots hold a restore drill outcome, from the listing alone', async () => {
    const drilled = await commitSnapshot(ids.oldest);
    await commitSnapshot(ids.middle);
    await storage.putBytes(snapshotKey('nightly', ids.oldest, 'verification.json'), Buffer.from('{}'));
    expect((await readSnapshotCatalog(storage, 'nightly')).drilled).toEqual(new Set([drilled.snapshotId]));
  });

  it('ignores objects that are not in the snapshot layout', async () => {
    const done = await commitSnapshot(ids.oldest);
    await storage.putBytes('nightly/README', Buffer.from('x'));
    await storage.putBytes(`nightly/${ids.middle}/nested/manifest.json`, Buffer.from('x'));
    expect(await readSnapshotCatalog(storage, 'nightly')).toEqual({ snapshots: [done], drilled: new Set(), problems: [], unfinished: [] });
  });

  it('reports a manifest that does not parse, without throwing', async () => {
    const good = await commitSnapshot(ids.oldest);
    await storage.putBytes(snapshotKey('nightly', ids.middle, 'manifest.json'), Buffer.from('{ truncated'));
    const catalog = await readSnapshotCatalog(storage, 'nightly');
    expect(catalog.snapshots).toEqual([good]);
    expect(catalog.problems).toHaveLength(1);
    expect(catalog.problems[0]!.snapshotId).toBe(ids.middle);
    expect(catalog.problems[0]!.reason).toMatch(/^manifest is not JSON: /);
  });

  it('reports a manifest that is JSON but invalid, naming the field', async () => {
    const manifest = manifestFor({ snapshotId: ids.middle });
    await storage.putBytes(
      snapshotKey('nightly', ids.middle, 'manifest.json'),
      Buffer.from(JSON.stringify({ ...manifest, formatVersion: 2 })),
    );
    const catalog = await readSnapshotCatalog(storage, 'nightly');
    expect(catalog.snapshots).toEqual([]);
    expect(catalog.problems).toEqual([{ snapshotId: ids.middle, reason: expect.stringMatching(/^manifest is invalid: formatVersion: /) }]);
  });

  it('reports a manifest that describes another folder', async () => {
    const copied = manifestFor({ snapshotId: ids.oldest });
    await storage.putBytes(snapshotKey('nightly', ids.middle, 'manifest.json'), Buffer.from(serializeManifest(copied)));
    await storage.putBytes(snapshotKey('nightly', ids.middle, 'dump.sql'), Buffer.alloc(copied.data.storedBytes));
    const otherConfiguration = manifestFor({ snapshotId: ids.newest, configuration: 'hourly' });
    await storage.putBytes(snapshotKey('nightly', ids.newest, 'manifest.json'), Buffer.from(serializeManifest(otherConfiguration)));
    const catalog = await readSnapshotCatalog(storage, 'nightly');
    expect(catalog.snapshots).toEqual([]);
    expect(catalog.problems).toEqual([
      { snapshotId: ids.middle, reason: `manifest describes nightly/${ids.oldest}, not this folder` },
      { snapshotId: ids.newest, reason: `manifest describes hourly/${ids.newest}, not this folder` },
    ]);
  });

  it('reports a snapshot whose data object is missing', async () => {
    await commitSnapshot(ids.middle);
    await storage.delete(snapshotKey('nightly', ids.middle, 'dump.sql'));
    expect(await readSnapshotCatalog(storage, 'nightly')).toEqual({
      snapshots: [],
      drilled: new Set(),
      problems: [{ snapshotId: ids.middle, reason: 'data object dump.sql is missing' }],
      unfinished: [],
    });
  });

  it('reports a snapshot whose data object has another size', async () => {
    const manifest = await commitSnapshot(ids.middle);
    await storage.putBytes(snapshotKey('nightly', ids.middle, 'dump.sql'), Buffer.from('short'));
    expect(await readSnapshotCatalog(storage, 'nightly')).toEqual({
      snapshots: [],
      drilled: new Set(),
      problems: [{ snapshotId: ids.middle, reason: `data object dump.sql has 5 bytes, manifest says ${manifest.data.storedBytes}` }],
      unfinished: [],
    });
  });

  it('returns the valid snapshots and every problem together', async () => {
    const oldest = await commitSnapshot(ids.oldest);
    await commitSnapshot(ids.middle);
    await storage.delete(snapshotKey('nightly', ids.middle, 'dump.sql'));
    const newest = await commitSnapshot(ids.newest);
    await storage.putBytes(snapshotKey('nightly', '20261119T020000000Z-dddddd', 'manifest.json'), Buffer.from('[]'));
    const catalog = await readSnapshotCatalog(storage, 'nightly');
    expect(catalog.snapshots).toEqual([oldest, newest]);
    expect(catalog.problems.map((p) => p.snapshotId)).toEqual([ids.middle, '20261119T020000000Z-dddddd']);
  });
});
