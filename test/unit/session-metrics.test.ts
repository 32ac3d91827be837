import { describe, expect, it } from 'vitest';
import {
  formatSessionMetrics,
  pushgatewayGroupPath,
  pushSessionMetrics,
  SESSION_METRICS_DOCUMENTATION,
  type SessionMetrics,
} from '../../activities/session-metrics';

const successfulBackup: SessionMetrics = {
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

const failedBackup: SessionMetrics = {
  kind: 'backup',
  configuration: 'nightly',
  target: 'db',
  repository: 'repo',
  success: false,
  durationSeconds: 3,
  finishedAt: new Date('2025-01-03T03:00:00Z'),
};

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

describe('SESSION_METRICS_DOCUMENTATION', () => {
  it('documents exactly the metrics formatSessionMetrics can write, each with the Stash metric it replaces', () => {
    const written = [...samples(formatSessionMetrics(successfulBackup)).keys()];
    expect(SESSION_METRICS_DOCUMENTATION.map((row) => row.metric)).toEqual(written);
    for (const row of SESSION_METRICS_DOCUMENTATION) {
      expect(row.help).not.toBe('');
      expect(row.replacesStash).toMatch(/\bstash_[a-z_]+/);
    }
  });
});

describe('pushgatewayGroupPath', () => {
  it('puts kind, configuration, repository and target into the grouping key', () => {
    expect(pushgatewayGroupPath(successfulBackup)).toBe(
      '/metrics/job/dbkeep/kind/backup/configuration/nightly/repository/repo/target/db',
    );
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

interface CapturedRequest {
  url: string;
  method?: string;
  headers: Record<string, string>;
  body?: string;
  hasSignal: boolean;
}

function recordingFetch(status = 200, responseBody = ''): { fetchImpl: typeof fetch; requests: CapturedRequest[] } {
  const requests: CapturedRequest[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    requests.push({
      url: String(input),
      method: init?.method,
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof init?.body === 'string' ? init.body : undefined,
      hasSignal: init?.signal instanceof AbortSignal,
    });
    return new Response(responseBody, { status });
  }) as typeof fetch;
  return { fetchImpl, requests };
}

describe('pushSessionMetrics', () => {
  it('PUTs a successful session, replacing its whole group', async () => {
    const { fetchImpl, requests } = recordingFetch();
    await pushSessionMetrics('http://127.0.0.1:9091/', successfulBackup, fetchImpl);
    expect(requests).toEqual([
      {
        url: 'http://127.0.0.1:9091/metrics/job/dbkeep/kind/backup/configuration/nightly/repository/repo/target/db',
        method: 'PUT',
        headers: { 'content-type': 'text/plain; version=0.0.4' },
        body: formatSessionMetrics(successfulBackup),
        hasSignal: true,
      },
    ]);
  });

  it('POSTs a failed session, so the group keeps the last success timestamp', async () => {
    const { fetchImpl, requests } = recordingFetch(202);
    await pushSessionMetrics('http://127.0.0.1:9091', failedBackup, fetchImpl);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.method).toBe('POST');
    expect(requests[0]?.url).toBe(
      'http://127.0.0.1:9091/metrics/job/dbkeep/kind/backup/configuration/nightly/repository/repo/target/db',
    );
    expect(requests[0]?.body).toBe(formatSessionMetrics(failedBackup));
  });

  it('fails with the status and the answer of a Pushgateway that refuses the push', async () => {
    const { fetchImpl } = recordingFetch(400, 'pushed metrics are invalid or inconsistent with existing metrics\n');
    await expect(pushSessionMetrics('http://127.0.0.1:9091', successfulBackup, fetchImpl)).rejects.toThrow(
      /refused backup metrics of nightly \(PUT http:\/\/127\.0\.0\.1:9091\/metrics\/job\/dbkeep\/.*\): HTTP 400: pushed metrics are invalid/,
    );
  });

  it('names the Pushgateway when it cannot be reached', async () => {
    const fetchImpl = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await expect(pushSessionMetrics('http://127.0.0.1:9', failedBackup, fetchImpl)).rejects.toThrow(
      'pushing backup metrics of nightly to the Pushgateway (POST http://127.0.0.1:9/metrics/job/dbkeep/kind/backup/configuration/nightly/repository/repo/target/db) failed: fetch failed',
    );
  });
});
