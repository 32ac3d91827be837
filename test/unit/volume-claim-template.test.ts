import { describe, expect, it } from 'vitest';
import { replicaClaim, volumeClaimTemplateSchema } from '../../domain/volume-claim-template';

const workerDefaults = { name: 'dbkeep-restore-${POD_ORDINAL}', size: '20Gi', storageClassName: 'standard' };

describe('replicaClaim', () => {
  it('takes every field the restore sets, with the ordinal in the name', () => {
    const restore = {
      name: 'data-galera-${POD_ORDINAL}',
      storageClassName: 'fast',
      size: '50Gi',
      accessModes: ['ReadWriteOncePod' as const],
    };
    expect(replicaClaim(restore, workerDefaults, 2)).toEqual({
      name: 'data-galera-2',
      storageClassName: 'fast',
      size: '50Gi',
      accessModes: ['ReadWriteOncePod'],
    });
  });

  it('fills what the restore leaves out from the worker, and stands in for a restore without one', () => {
    expect(replicaClaim({ name: 'data-${POD_ORDINAL}' }, workerDefaults, 0)).toEqual({
      name: 'data-0',
      storageClassName: 'standard',
      size: '20Gi',
      accessModes: ['ReadWriteOnce'],
    });
    expect(replicaClaim(undefined, workerDefaults, 1)).toMatchObject({ name: 'dbkeep-restore-1', size: '20Gi' });
    expect(replicaClaim({ name: 'data-${POD_ORDINAL}', size: '5Gi' }, {}, 0)).toEqual({
      name: 'data-0',
      storageClassName: undefined,
      size: '5Gi',
      accessModes: ['ReadWriteOnce'],
    });
  });

  it('says what is missing or wrong', () => {
    expect(replicaClaim(undefined, {}, 0)).toEqual({
      problem:
        'no claim template: the restore has no volumeClaimTemplate (--volume-claim) and the worker has no DBKEEP_REPLICA_CLAIM_TEMPLATE',
    });
    expect(replicaClaim({ name: 'data-${POD_ORDINAL}' }, {}, 0)).toEqual({
      problem:
        "claim data-0: no size: set it in the restore's volumeClaimTemplate (--storage-size) or the worker's DBKEEP_REPLICA_STORAGE_SIZE",
    });
    expect(replicaClaim({ name: 'Data_${POD_ORDINAL}', size: 'lots' }, {}, 0)).toMatchObject({
      problem: expect.stringMatching(/^volumeClaimTemplate: name: must be a PVC name.*; size: must be a Kubernetes quantity/),
    });
    expect(replicaClaim(undefined, { name: 'Data-${POD_ORDINAL}', size: '1Gi' }, 3)).toMatchObject({
      problem: expect.stringContaining('"Data-3" is not a valid PVC name'),
    });
  });
});

describe('volumeClaimTemplateSchema', () => {
  it('refuses unknown fields and empty access modes', () => {
    expect(volumeClaimTemplateSchema.safeParse({ name: 'd-${POD_ORDINAL}', storage: '1Gi' }).success).toBe(false);
    expect(volumeClaimTemplateSchema.safeParse({ name: 'd-${POD_ORDINAL}', accessModes: [] }).success).toBe(false);
    expect(volumeClaimTemplateSchema.safeParse({ name: 'd-${POD_ORDINAL}', accessModes: ['ReadWriteMany'] }).success).toBe(true);
  });
});
