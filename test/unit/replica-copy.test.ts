import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createReplicaCopyActivities, type CopyReplicaVolumeInput, type CopyReplicaVolumeResult } from '../../activities/replica-copy';
import { PermanentFailure } from '../../domain/failures';
import { RESTORE_MARKER_FILE, RESTORE_MARKER_PARTIAL_FILE } from '../../domain/replica-volume-marker';

/**
 * copyReplicaVolume, the session worker's copy of replica 0's complete volume (activities/replica-copy.ts),
 * on directories of its own: only this restore's complete volume is copied, and only into a volume
 * the restore may claim.
 */
describe('copyReplicaVolume', () => {
  let root: string;
  let source: string;
  let volume: string;
  const restoreId = 'restore-a';
  const snapshotId = '20261207T010000000Z-aaaaaa';
  const ibdata = Buffer.alloc(200_000, 3);

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'dbkeep-replica-copy-'));
    source = path.join(root, 'replica-0');
    volume = path.join(root, 'replica-1');
    mkdirSync(path.join(source, 'sakila'), { recursive: true });
    writeFileSync(path.join(source, 'ibdata1'), ibdata);
    writeFileSync(path.join(source, 'sakila', 'actor.ibd'), 'rows');
    writeFileSync(path.join(source, RESTORE_MARKER_FILE), JSON.stringify({ restoreId, snapshotId, complete: true }));
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const copy = (overrides: Partial<CopyReplicaVolumeInput> = {}): Promise<CopyReplicaVolumeResult> => {
    const { copyReplicaVolume } = createReplicaCopyActivities();
    const input: CopyReplicaVolumeInput = {
      restoreId,
      snapshotId,
      ordinal: 1,
      overwrite: false,
      directory: volume,
      from: { ordinal: 0, directory: source },
      ...overrides,
    };
    return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(() => copyReplicaVolume(input));
  };
  const marker = (dir: string) => JSON.parse(readFileSync(path.join(dir, RESTORE_MARKER_FILE), 'utf8')) as unknown;

  it("copies this restore's complete volume, and marks the copy complete once it is whole", async () => {
    const result = await copy();
    // Measured as a replica worker measures its volume: the claim's marker is in it then.
    const claimMarker = JSON.stringify({ restoreId, snapshotId, complete: false });
    expect(result).toMatchObject({ copied: true, volume, bytesOnVolume: ibdata.length + 'rows'.length + claimMarker.length });
    expect(readFileSync(path.join(volume, 'ibdata1'))).toEqual(ibdata);
    expect(readFileSync(path.join(volume, 'sakila', 'actor.ibd'), 'utf8')).toBe('rows');
    expect(marker(volume)).toEqual({ restoreId, snapshotId, complete: true });
    expect(readdirSync(volume).sort()).toEqual([RESTORE_MARKER_FILE, 'ibdata1', 'sakila']);
  });

  it('replaces what an earlier attempt of the same restore left unfinished', async () => {
    mkdirSync(volume);
    writeFileSync(path.join(volume, 'ibdata1'), 'half a copy');
    writeFileSync(path.join(volume, RESTORE_MARKER_FILE), JSON.stringify({ restoreId, snapshotId, complete: false }));
    await expect(copy()).resolves.toMatchObject({ copied: true });
    expect(readFileSync(path.join(volume, 'ibdata1'))).toEqual(ibdata);
  });

  it.each([
    ['still being prepared', { restoreId, snapshotId, complete: false }],
    ["another restore's", { restoreId: 'restore-b', snapshotId, complete: true }],
    ['of another snapshot', { restoreId, snapshotId: '20261207T020000000Z-bbbbbb', complete: true }],
  ])('makes no copy of a volume %s, and leaves the target alone', async (_, sourceMarker) => {
    writeFileSync(path.join(source, RESTORE_MARKER_FILE), JSON.stringify(sourceMarker));
    const result = await copy();
    expect(result).toEqual({ copied: false, reason: `replica 0's volume ${source} is not this restore's complete one here` });
    expect(readdirSync(root)).toEqual(['replica-0']);
  });

  it('makes no copy of a volume it cannot see', async () => {
    await expect(copy({ from: { ordinal: 0, directory: path.join(root, 'elsewhere') } })).resolves.toMatchObject({ copied: false });
    expect(readdirSync(root)).toEqual(['replica-0']);
  });

  it('refuses, for good, a volume holding data that is not a dbkeep restore, and changes nothing', async () => {
    mkdirSync(volume);
    writeFileSync(path.join(volume, 'somebody-elses-file'), 'keep me');
    const refused = await copy().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PermanentFailure);
    expect(refused).toMatchObject({ type: 'VolumeNotEmpty', nonRetryable: true });
    expect((refused as Error).message).toBe(
      `replica 1: volume ${volume} holds 1 entries not written by a dbkeep restore; nothing was changed. Use an empty volume, or pass overwrite to replace its contents`,
    );
    expect(readdirSync(volume)).toEqual(['somebody-elses-file']);
  });

  it('replaces such a volume with overwrite', async () => {
    mkdirSync(volume);
    writeFileSync(path.join(volume, 'somebody-elses-file'), 'replace me');
    writeFileSync(path.join(volume, RESTORE_MARKER_PARTIAL_FILE), '{"restoreId":"torn');
    await expect(copy({ overwrite: true })).resolves.toMatchObject({ copied: true });
    expect(readdirSync(volume).sort()).toEqual([RESTORE_MARKER_FILE, 'ibdata1', 'sakila']);
  });
});
