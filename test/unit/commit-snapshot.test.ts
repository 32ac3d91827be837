import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackupActivities } from '../../activities/backup-activities';
import { readSnapshotCatalog } from '../../activities/snapshot-catalog';
import { PermanentFailure } from '../../domain/failures';
import type { Manifest } from '../../domain/manifest';
import { snapshotKey } from '../../domain/repository-layout';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { FilesystemStorage } from '../../storage/filesystem-storage';
import { manifestFor } from './manifest-fixture';

/** commitSnapshot on a filesystem repository: it writes only a manifest the catalog will accept. */
const root = mkdtempSync(join(tmpdir(), 'dbkeep-commit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const storage = new FilesystemStorage(root);
const repository = { name: 'local', spec: { filesystem: { path: '/unused' } } };

async function commit(manifest: Manifest) {
  const { commitSnapshot } = createBackupActivities({ secrets: createSecretResolver({}), openStorage: async () => storage });
  return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(() => commitSnapshot({ repository, manifest }));
}

describe('commitSnapshot', () => {
  it('writes the manifest of a complete snapshot, which the catalog then lists', async () => {
    const data = Buffer.from('-- dump\n');
    const manifest = manifestFor({ snapshotId: '20261201T020000000Z-aaaaaa' }, data);
    await storage.putBytes(snapshotKey('nightly', manifest.snapshotId, manifest.data.file), data);
    await commit(manifest);
    expect((await readSnapshotCatalog(storage, 'nightly')).snapshots).toEqual([manifest]);
  });

  it('refuses, for good, a manifest the catalog would report as damaged, and writes nothing', async () => {
    const data = Buffer.from('-- dump\n');
    const manifest = { ...manifestFor({ snapshotId: '20261202T020000000Z-bbbbbb' }, data), databases: [] };
    await storage.putBytes(snapshotKey('nightly', manifest.snapshotId, manifest.data.file), data);
    const refused = await commit(manifest).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PermanentFailure);
    expect(refused).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect((refused as Error).message).toMatch(/^snapshot 20261202T020000000Z-bbbbbb not committed: manifest is invalid: databases: /);
    const catalog = await readSnapshotCatalog(storage, 'nightly');
    expect(catalog.snapshots.map((s) => s.snapshotId)).not.toContain(manifest.snapshotId);
    expect(catalog.problems).toEqual([]);
  });
});
