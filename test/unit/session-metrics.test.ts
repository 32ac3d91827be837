import { describe, expect, it } from 'vitest';
import { formatSessionMetrics, pushgatewayGroupPath, SESSION_METRICS_DOCUMENTATION } from '../../activities/session-metrics';
import { failedBackup, successfulBackup } from '../support/session-metrics-samples';

/** name → value of each sample line. */
function samples(text: string): Map<string, string> {
  const lines = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  return new Map(lines.map((line) => line.split(' ') as [string, string]));
}

describe('formatSessionMetrics', () => {
  it('writes every gauge of a successful backup with HELP and TYPE lines and no sample labels', () => {
    const text = formatSessionMetrics(successfulBackup);
    expect(text.endsWith('\n')).toBe(true);
    expect(Object.fromEntries(samples(text))).toEqual({
      dbkeep_session_success: '1',
      dbkeep_session_duration_seconds: '12.5',
      dbkeep_session_last_success_timestamp_seconds: '1735787045.5',
      dbkeep_session_data_size_bytes: '1048576',
      dbkeep_session_uploaded_bytes: '200000',
      dbkeep_repository_size_bytes: '5000000',
      dbkeep_repository_snapshot_count: '7',
      dbkeep_session_snapshots_removed: '2',
    });
    expect(text).not.toContain('{');
    for (const name of samples(text).keys()) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.*\\n# TYPE ${name} gauge\\n${name} `, 'm'));
    }
  });

  it('leaves out the last-success timestamp after a failure, and every gauge without a value', () => {
    const text = formatSessionMetrics(failedBackup);
    expect(Object.fromEntries(samples(text))).toEqual({
      dbkeep_session_success: '0',
      dbkeep_session_duration_seconds: '3',
    });
    expect(text).not.toContain('last_success');
  });

  it('writes a zero that was measured', () => {
    const text = formatSessionMetrics({ ...failedBackup, kind: 'prune', snapshotsRemoved: 0 });
    expect(samples(text).get('dbkeep_session_snapshots_removed')).toBe('0');
  });
});

describe('the schedule interval of a scheduled backup', () => {
  it("is pushed with the session's gauges, whatever its outcome, and only for a scheduled configuration", () => {
    expect(
      samples(formatSessionMetrics({ ...failedBackup, scheduleIntervalSeconds: 259_200 })).get('dbkeep_backup_schedule_interval_seconds'),
    ).toBe('259200');
    expect(samples(formatSessionMetrics(successfulBackup)).has('dbkeep_backup_schedule_interval_seconds')).toBe(false);
  });
});

describe('SESSION_METRICS_DOCUMENTATION', () => {
  it('documents exactly the metrics formatSessionMetrics can write, each with the Stash metric it replaces', () => {
    const written = [
      ...samples(formatSessionMetrics({ ...successfulBackup, scheduleIntervalSeconds: 86_400, restoreSeconds: 12.5 })).keys(),
    ];
    expect(SESSION_METRICS_DOCUMENTATION.map((row) => row.metric)).toEqual(written);
    for (const row of SESSION_METRICS_DOCUMENTATION) {
      expect(row.help).not.toBe('');
      expect(row.replacesStash).toMatch(/\bstash_[a-z_]+|^none: Stash has no such metric$/);
    }
  });
});

describe('pushgatewayGroupPath', () => {
  it('puts kind, configuration, repository and target into the grouping key', () => {
    expect(pushgatewayGroupPath(successfulBackup)).toBe('/metrics/job/dbkeep/kind/backup/configuration/nightly/repository/repo/target/db');
  });

  it('leaves the target out when the session has none', () => {
    expect(pushgatewayGroupPath({ ...successfulBackup, kind: 'prune', target: undefined })).toBe(
      '/metrics/job/dbkeep/kind/prune/configuration/nightly/repository/repo',
    );
  });

  it('percent-encodes plain values and base64url-encodes values with a slash or no characters', () => {
    expect(pushgatewayGroupPath({ ...successfulBackup, configuration: 'a b?c', repository: 's3/backups', target: '' })).toBe(
      '/metrics/job/dbkeep/kind/backup/configuration/a%20b%3Fc/repository@base64/czMvYmFja3Vwcw/target@base64/=',
    );
  });
});
