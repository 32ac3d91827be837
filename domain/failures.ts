import { ApplicationFailure } from '@temporalio/common';

/**
 * Stable failure types. They are part of dbkeep's API: the CLI, the TypeScript client
 * and tests match on them, so a value here is never renamed.
 * Every one of them is permanent (non-retryable); anything else an activity throws is
 * treated as transient and retried with backoff by Temporal.
 */
export const PermanentFailureType = {
  InvalidInput: 'InvalidInput',
  SecretUnavailable: 'SecretUnavailable',
  AuthenticationFailed: 'AuthenticationFailed',
  TargetUnreachable: 'TargetUnreachable',
  UnknownDatabase: 'UnknownDatabase',
  SnapshotNotFound: 'SnapshotNotFound',
  RestoreTargetNotEmpty: 'RestoreTargetNotEmpty',
  ChecksumMismatch: 'ChecksumMismatch',
  RepositoryAccessDenied: 'RepositoryAccessDenied',
  ToolNotFound: 'ToolNotFound',
  MethodMismatch: 'MethodMismatch',
  VolumeNotEmpty: 'VolumeNotEmpty',
  TargetReferenceUnavailable: 'TargetReferenceUnavailable',
} as const;

export type PermanentFailureType = (typeof PermanentFailureType)[keyof typeof PermanentFailureType];

export const permanentFailureTypes: readonly PermanentFailureType[] = Object.values(PermanentFailureType);

export function permanentFailure(type: PermanentFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}
