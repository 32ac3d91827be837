import { describe, expect, it } from 'vitest';
import {
  isPermanentFailure,
  PermanentFailure,
  permanentFailure,
  PermanentFailureType,
  permanentFailureTypes,
  TransientFailure,
  transientFailure,
  TransientFailureType,
} from '../../domain/failures';

describe('permanentFailure', () => {
  it('is a non-retryable PermanentFailure carrying the type and message', () => {
    const failure = permanentFailure(PermanentFailureType.SnapshotNotFound, 'no snapshot 20261121T161704123Z-3f9a1c');
    expect(failure).toBeInstanceOf(PermanentFailure);
    expect(failure).toBeInstanceOf(Error);
    expect(failure.name).toBe('PermanentFailure');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.type).toBe('SnapshotNotFound');
    expect(failure.message).toBe('no snapshot 20261121T161704123Z-3f9a1c');
  });

  it('is told apart by isPermanentFailure, of any type or of one', () => {
    const failure = permanentFailure(PermanentFailureType.TargetUnreachable, 'connect ECONNREFUSED');
    expect(isPermanentFailure(failure)).toBe(true);
    expect(isPermanentFailure(failure, PermanentFailureType.TargetUnreachable)).toBe(true);
    expect(isPermanentFailure(failure, PermanentFailureType.AuthenticationFailed)).toBe(false);
    expect(isPermanentFailure(new Error('connect ECONNREFUSED'))).toBe(false);
    expect(isPermanentFailure(transientFailure(TransientFailureType.NoSyncedClusterNode, 'x'))).toBe(false);
    expect(isPermanentFailure({ type: 'TargetUnreachable', nonRetryable: true })).toBe(false);
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
      'ObjectTooLarge',
    ]);
  });
});

describe('transientFailure', () => {
  it('is a retryable TransientFailure with a stable type, distinct from every permanent one', () => {
    const failure = transientFailure(TransientFailureType.NoSyncedClusterNode, 'no synced Galera node');
    expect(failure).toBeInstanceOf(TransientFailure);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.type).toBe('NoSyncedClusterNode');
    expect(Object.entries(TransientFailureType).every(([key, value]) => key === value)).toBe(true);
    expect(Object.values(TransientFailureType).filter((type) => (permanentFailureTypes as readonly string[]).includes(type))).toEqual([]);
  });
});
