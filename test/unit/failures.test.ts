import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  permanentFailure,
  PermanentFailureType,
  permanentFailureTypes,
  transientFailure,
  TransientFailureType,
} from '../../domain/failures';

describe('permanentFailure', () => {
  it('is a non-retryable ApplicationFailure carrying the type and message', () => {
    const failure = permanentFailure(PermanentFailureType.SnapshotNotFound, 'no snapshot 20261121T161704123Z-3f9a1c');
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.type).toBe('SnapshotNotFound');
    expect(failure.message).toBe('no snapshot 20261121T161704123Z-3f9a1c');
  });

  it.each(permanentFailureTypes)('works for %s', (type) => {
    const failure = permanentFailure(type, 'x');
    expect(failure.type).toBe(type);
    expect(failure.nonRetryable).toBe(true);
  });

  it('has stable type names equal to their keys', () => {
    expect(Object.entries(PermanentFailureType).every(([key, value]) => key === value)).toBe(true);
    expect(permanentFailureTypes).toEqual([
      'InvalidInput',
      'SecretUnavailable',
      'AuthenticationFailed',
      'TargetUnreachable',
      'UnknownDatabase',
      'SnapshotNotFound',
      'RestoreTargetNotEmpty',
      'ChecksumMismatch',
      'RepositoryAccessDenied',
      'ToolNotFound',
      'MethodMismatch',
      'VolumeNotEmpty',
      'TargetReferenceUnavailable',
      'RestoreStatementRejected',
      'BackupToolRefused',
      'EngineMismatch',
      'IncompatibleSnapshot',
      'TlsRequired',
      'TlsUnavailable',
      'TlsVerificationFailed',
      'TlsClientCertificateRejected',
      'TlsConfigurationInvalid',
      'InsufficientPrivileges',
      'OutsideRecoverableWindow',
      'LocalServerFailed',
      'NotificationRejected',
      'HookFailed',
      'DrillFailed',
    ]);
  });
});

describe('transientFailure', () => {
  it('is a retryable ApplicationFailure with a stable type, distinct from every permanent one', () => {
    const failure = transientFailure(TransientFailureType.NoSyncedClusterNode, 'no synced Galera node');
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.type).toBe('NoSyncedClusterNode');
    expect(Object.entries(TransientFailureType).every(([key, value]) => key === value)).toBe(true);
    expect(Object.values(TransientFailureType).filter((type) => (permanentFailureTypes as readonly string[]).includes(type))).toEqual([]);
  });
});
