import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createRetentionActivities } from '../../activities/retention-activities';
import { readSnapshotCatalog } from '../../activities/snapshot-catalog';
import { serializeManifest } from '../../domain/manifest';
import { snapshotKey } from '../../domain/repository-layout';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { FilesystemStorage } from '../../storage/filesystem-storage';
import type { Storage } from '../../storage/storage';
import { manifestFor } from './manifest-fixture';

/**
 * applyRetention on a real filesystem repository, run as an activity (MockActivityEnvironment).
 * The storage the activity gets is that repository, wrapped to record the order of deletes, and
 * once to stop after the first of them as a worker killed mid-prune would.
 */
const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-retention-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const DAY_MS = 24 * 3600 * 1000;
const repository = { name: 'local', spec: { filesystem: { path: '/unused' } } };
const ids = ['20261110T020000000Z-aaaaaa', '20261111T020000000Z-bbbbbb', '20261112T020000000Z-cccccc'];

let root: string;
let storage: FilesystemStorage;
let deletes: string[];
let interruptAfterDeletes: number | undefined;
let n = 0;

beforeEach(() => {
  root = join(scratch, `repo-${n++}`);
  storage = new FilesystemStorage(root);
  deletes = [];
  interruptAfterDeletes = undefined;
});

function recordingStorage(): Storage {
  return {
    location: storage.location,
    putStream: (...args) => storage.putStream(...args),
    putBytes: (...args) => storage.putBytes(...args),
    getStream: (key) => storage.getStream(key),
    getBytes: (...args) => storage.getBytes(...args),
    list: (prefix) => storage.list(prefix),
    delete: async (key) => {
      if (interruptAfterDeletes !== undefined && deletes.length >= interruptAfterDeletes) throw new Error('worker killed');
      deletes.push(key);
      await storage.delete(key);
    },
  };
}

async function commitSnapshot(snapshotId: string): Promise<void> {
  const data = Buffer.from(`-- dump ${snapshotId}\n`);
  const manifest = manifestFor({ snapshotId }, data);
  await storage.putBytes(snapshotKey('nightly', snapshotId, manifest.data.file), data);
  await storage.putBytes(snapshotKey('nightly', snapshotId, 'manifest.json'), Buffer.from(serializeManifest(manifest)));
}

/** Data without a manifest, last written `ageMs` ago. */
async function unfinishedFolder(snapshotId: string, ageMs: number): Promise<void> {
  const key = snapshotKey('nightly', snapshotId, 'dump.sql.zst');
  await storage.putBytes(key, Buffer.from('a session that never committed'));
  const then = new Date(Date.now() - ageMs);
  utimesSync(join(root, key), then, then);
}

function applyRetention(policy: { keepLast: number }, dryRun = false) {
  const { applyRetention: activity } = createRetentionActivities({
    secrets: createSecretResolver({}),
    openStorage: async () => recordingStorage(),
  });
  return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(() =>
    activity({ repository, configuration: 'nightly', policy: { ...policy, dryRun }, protect: [], dryRun }),
  );
}

describe('applyRetention', () => {
  it("deletes each removed snapshot's manifest before its data", async () => {
    for (const id of ids) await commitSnapshot(id);
    const result = await applyRetention({ keepLast: 1 });
    expect(result).toMatchObject({ removedCount: 2, keptCount: 1, abandoned: [] });
    expect([...deletes].sort()).toEqual(
      [ids[0]!, ids[1]!].flatMap((id) => [snapshotKey('nightly', id, 'dump.sql'), snapshotKey('nightly', id, 'manifest.json')]).sort(),
    );
    for (const id of [ids[0]!, ids[1]!]) {
      expect(deletes.indexOf(snapshotKey('nightly', id, 'manifest.json'))).toBeLessThan(
        deletes.indexOf(snapshotKey('nightly', id, 'dump.sql')),
      );
    }
  });

  it('interrupted after a manifest: the snapshot is no longer listed, and its data goes once abandoned', async () => {
    for (const id of ids) await commitSnapshot(id);
    interruptAfterDeletes = 1;
    await expect(applyRetention({ keepLast: 2 })).rejects.toThrow('worker killed');
    const catalog = await readSnapshotCatalog(storage, 'nightly');
    expect(catalog.snapshots.map((s) => s.snapshotId)).toEqual([ids[1], ids[2]]);
    expect(catalog.problems).toEqual([]);
    expect(catalog.unfinished.map((f) => f.snapshotId)).toEqual([ids[0]]);

    // The retry finds nothing to remove by policy; the leftover data is fresh, so it stays...
    interruptAfterDeletes = undefined;
    expect(await applyRetention({ keepLast: 2 })).toMatchObject({ removedCount: 0, abandoned: [] });
    // ...until nothing has written to it for a day.
    const then = new Date(Date.now() - DAY_MS - 60_000);
    utimesSync(join(root, snapshotKey('nightly', ids[0]!, 'dump.sql')), then, then);
    expect(await applyRetention({ keepLast: 2 })).toMatchObject({ removedCount: 0, abandoned: [ids[0]] });
    expect((await readSnapshotCatalog(storage, 'nightly')).unfinished).toEqual([]);
  });

  it('deletes folders of sessions that never committed once a day old, never one being written, and only reports them in a dry run', async () => {
    await commitSnapshot(ids[2]!);
    await unfinishedFolder(ids[0]!, 2 * DAY_MS);
    await unfinishedFolder(ids[1]!, 60_000);

    expect(await applyRetention({ keepLast: 5 }, true)).toMatchObject({ dryRun: true, abandoned: [ids[0]] });
    expect(deletes).toEqual([]);

    expect(await applyRetention({ keepLast: 5 })).toMatchObject({ dryRun: false, removedCount: 0, abandoned: [ids[0]] });
    expect(deletes).toEqual([snapshotKey('nightly', ids[0]!, 'dump.sql.zst')]);
    const catalog = await readSnapshotCatalog(storage, 'nightly');
    expect(catalog.snapshots.map((s) => s.snapshotId)).toEqual([ids[2]]);
    expect(catalog.unfinished.map((f) => f.snapshotId)).toEqual([ids[1]]);
  });
});
