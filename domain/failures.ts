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
  RestoreStatementRejected: 'RestoreStatementRejected',
  /** The server refused the backup tool in a way no retry changes (a privilege it needs, say). */
  BackupToolRefused: 'BackupToolRefused',
  /** The Target's engine is not the server it reaches (MariaDB for MySQL, or the reverse). */
  EngineMismatch: 'EngineMismatch',
  /** The snapshot cannot load into the target's server (flavour or version), and converting it is not safe. */
  IncompatibleSnapshot: 'IncompatibleSnapshot',
  /** The server requires TLS and the Target's spec.tls.mode does not use it. */
  TlsRequired: 'TlsRequired',
  /** The Target's spec.tls.mode requires TLS and the server offers none. */
  TlsUnavailable: 'TlsUnavailable',
  /** The server's certificate does not verify against spec.tls.ca, has expired, or does not name the host. */
  TlsVerificationFailed: 'TlsVerificationFailed',
  /** The server refused the client certificate of spec.tls.clientCertificate (or wanted one). */
  TlsClientCertificateRejected: 'TlsClientCertificateRejected',
  /** The CA, certificate or key of spec.tls cannot be used as given (not PEM, key and certificate apart). */
  TlsConfigurationInvalid: 'TlsConfigurationInvalid',
  /** The Target's user lacks a privilege the session needs; the message names each and the GRANT. */
  InsufficientPrivileges: 'InsufficientPrivileges',
  /** A point-in-time restore asked for a time or GTID no recoverable window holds; the message lists the windows. */
  OutsideRecoverableWindow: 'OutsideRecoverableWindow',
  /** The worker's own server (a replay into a restored volume) did not start on the data directory: its log says why. */
  LocalServerFailed: 'LocalServerFailed',
  /** A notification webhook answered with a 4xx that no retry changes (a wrong URL or token). */
  NotificationRejected: 'NotificationRejected',
  /** A hook with `onFailure: fail` failed: its statement was refused, its request answered with an error, or its timeout passed. */
  HookFailed: 'HookFailed',
  /** A restore drill's restored copy differs from the fingerprint recorded at backup time; the message names what differs. */
  DrillFailed: 'DrillFailed',
  /** A backup's stream is longer than the largest object the repository takes from dbkeep (S3: 10,000 parts). */
  ObjectTooLarge: 'ObjectTooLarge',
} as const;

export type PermanentFailureType = (typeof PermanentFailureType)[keyof typeof PermanentFailureType];

export const permanentFailureTypes: readonly PermanentFailureType[] = Object.values(PermanentFailureType);

/**
 * How a restore's failure ends for the databases it replaced: the session puts them back
 * (workflows/restore-session.ts). A restore's permanent failures after its keep step say so in
 * these words.
 */
export const REPLACED_DATABASES_PUT_BACK = 'the databases it replaces are put back as they were';

/**
 * A failure no retry changes. A plain error, so that domain/ and the layers that throw it need no
 * Temporal SDK: the worker's activity interceptor (workers/activity-failures.ts) turns it into the
 * non-retryable ApplicationFailure Temporal records, with this type and message. Workflows throw
 * `ApplicationFailure.nonRetryable` themselves: a plain error would fail the workflow task instead.
 */
export class PermanentFailure extends Error {
  override readonly name = 'PermanentFailure';
  readonly nonRetryable = true as const;

  constructor(
    readonly type: PermanentFailureType,
    message: string,
  ) {
    super(message);
  }
}

export function permanentFailure(type: PermanentFailureType, message: string): PermanentFailure {
  return new PermanentFailure(type, message);
}

/** Whether `error` is a PermanentFailure (of `type`, when given). */
export function isPermanentFailure(error: unknown, type?: PermanentFailureType): error is PermanentFailure {
  return error instanceof PermanentFailure && (type === undefined || error.type === type);
}

/**
 * Transient failures with a stable type: retried with backoff like any other transient failure,
 * and typed so that a session failing with one once its retries are spent says what to wait
 * for, in a way clients can match on. Also part of the API, never renamed.
 */
export const TransientFailureType = {
  /** No node of a Galera target is Synced in the primary component: nodes resyncing or donating. */
  NoSyncedClusterNode: 'NoSyncedClusterNode',
} as const;

export type TransientFailureType = (typeof TransientFailureType)[keyof typeof TransientFailureType];

/** A transient failure with a stable type: a plain error, which the worker's activity interceptor makes a retryable ApplicationFailure. */
export class TransientFailure extends Error {
  override readonly name = 'TransientFailure';
  readonly nonRetryable = false as const;

  constructor(
    readonly type: TransientFailureType,
    message: string,
  ) {
    super(message);
  }
}

export function transientFailure(type: TransientFailureType, message: string): TransientFailure {
  return new TransientFailure(type, message);
}
