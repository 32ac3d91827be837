import { describe, expect, it } from 'vitest';
import { parseReplicaVolumeMarker, replicaVolumeClaimProblem } from '../../domain/replica-volume-marker';

describe('parseReplicaVolumeMarker', () => {
  it('reads a marker, takes one of an older dbkeep (no complete) as complete, and ignores foreign text', () => {
    expect(parseReplicaVolumeMarker('{"restoreId":"r1","snapshotId":"s1","complete":false}')).toEqual({
      restoreId: 'r1',
      snapshotId: 's1',
      complete: false,
    });
    expect(parseReplicaVolumeMarker('{"restoreId":"r1","snapshotId":"s1"}')).toEqual({ restoreId: 'r1', snapshotId: 's1', complete: true });
    expect(parseReplicaVolumeMarker(undefined)).toBeUndefined();
    expect(parseReplicaVolumeMarker('not json')).toBeUndefined();
    expect(parseReplicaVolumeMarker('{"restoreId":7}')).toBeUndefined();
  });
});

describe('replicaVolumeClaimProblem', () => {
  const unfinished = { restoreId: 'earlier', snapshotId: 's1', complete: false };
  const prepared = { ...unfinished, complete: true };
  const claim = (overrides: Partial<Parameters<typeof replicaVolumeClaimProblem>[0]>) =>
    replicaVolumeClaimProblem({ entryCount: 5, marker: undefined, restoreId: 'now', overwrite: false, ...overrides });

  it('lets a restore take an empty volume, its own, or the unfinished work of an earlier restore', () => {
    expect(claim({ entryCount: 0 })).toBeUndefined();
    expect(claim({ marker: { ...prepared, restoreId: 'now' } })).toBeUndefined();
    expect(claim({ marker: unfinished })).toBeUndefined();
  });

  it('refuses a data directory another restore prepared, and foreign data, unless overwrite', () => {
    expect(claim({ marker: prepared })).toBe('holds the data directory restore earlier prepared from snapshot s1');
    expect(claim({})).toBe('holds 5 entries not written by a dbkeep restore');
    expect(claim({ marker: prepared, overwrite: true })).toBeUndefined();
    expect(claim({ overwrite: true })).toBeUndefined();
  });
});
