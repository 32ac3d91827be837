import type { SessionMetrics } from '../../activities/session-metrics';

/** A backup that measured every gauge, its duration and finish time with fractions of a second. */
export const successfulBackup: SessionMetrics = {
  kind: 'backup',
  configuration: 'nightly',
  target: 'db',
  repository: 'repo',
  success: true,
  durationSeconds: 12.5,
  finishedAt: new Date('2025-01-02T03:04:05.500Z'),
  dataSizeBytes: 1_048_576,
  uploadedBytes: 200_000,
  repositorySizeBytes: 5_000_000,
  snapshotCount: 7,
  snapshotsRemoved: 2,
};

/** A backup that failed before it measured anything but its duration. */
export const failedBackup: SessionMetrics = {
  kind: 'backup',
  configuration: 'nightly',
  target: 'db',
  repository: 'repo',
  success: false,
  durationSeconds: 3,
  finishedAt: new Date('2025-01-03T03:00:00Z'),
};
