import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushSessionMetrics, SESSION_METRICS_DOCUMENTATION, type SessionMetrics } from '../../activities/session-metrics';
import { findFreePort } from '../../stack/free-port';
import { startPushgateway, type PushgatewayServer } from '../../stack/pushgateway';
import { failedBackup, successfulBackup } from '../support/session-metrics-samples';

/**
 * pushSessionMetrics against Debian's prometheus-pushgateway: what the gateway then serves on
 * /metrics, the PUT of a success and the POST of a failure, a push it refuses, and one it never
 * gets. (test/stack/pushgateway.test.ts covers the gateway's own start, restart and encodings.)
 */

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-session-metrics-push-'));
let gateway: PushgatewayServer;

beforeAll(async () => {
  gateway = await startPushgateway({ dir: join(scratch, 'gateway') });
});
afterAll(async () => {
  await gateway?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Each test pushes its own configuration, so each has a group of its own on the shared gateway. */
function session(configuration: string, fields: Partial<SessionMetrics> & Pick<SessionMetrics, 'success'>): SessionMetrics {
  return { ...failedBackup, configuration, ...fields };
}

async function scrape(server: PushgatewayServer): Promise<string> {
  const response = await fetch(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** name → value of the gateway's samples of the metric names in `names`, in `configuration`'s group on `server`. */
async function groupSamples(
  server: PushgatewayServer,
  configuration: string,
  names = SESSION_METRICS_DOCUMENTATION.map((row) => row.metric),
): Promise<Record<string, string>> {
  const labels = `{configuration="${configuration}",instance="",job="dbkeep",kind="backup",repository="repo",target="db"}`;
  const found: Record<string, string> = {};
  for (const line of (await scrape(server)).split('\n')) {
    const [series, value] = line.split(' ');
    const name = series?.slice(0, -labels.length);
    if (value !== undefined && series?.endsWith(labels) && names.includes(name!)) found[name!] = value;
  }
  return found;
}

describe('pushSessionMetrics to a real Pushgateway', () => {
  it('serves every gauge of a success with its HELP text, as a gauge, under the labels of its grouping key', async () => {
    // With the gauges of a scheduled backup and of a drill too, so that every documented one is served.
    await pushSessionMetrics(`${gateway.url}/`, {
      ...successfulBackup,
      configuration: 'served',
      scheduleIntervalSeconds: 86_400,
      restoreSeconds: 3.5,
    });
    // Go writes values of a million and more with an exponent.
    expect(await groupSamples(gateway, 'served')).toEqual({
      dbkeep_session_success: '1',
      dbkeep_session_duration_seconds: '12.5',
      dbkeep_session_last_success_timestamp_seconds: '1.7357870455e+09',
      dbkeep_session_data_size_bytes: '1.048576e+06',
      dbkeep_session_uploaded_bytes: '200000',
      dbkeep_repository_size_bytes: '5e+06',
      dbkeep_repository_snapshot_count: '7',
      dbkeep_session_snapshots_removed: '2',
      dbkeep_backup_schedule_interval_seconds: '86400',
      dbkeep_verification_restore_seconds: '3.5',
    });
    const text = await scrape(gateway);
    for (const { metric, help } of SESSION_METRICS_DOCUMENTATION) {
      expect(text).toContain(`# HELP ${metric} ${help}\n# TYPE ${metric} gauge\n`);
    }
  });

  it('replaces the whole group with the PUT of a success, and only the gauges it sends with the POST of a failure', async () => {
    const firstSuccess = session('put-then-post', {
      success: true,
      durationSeconds: 40,
      finishedAt: new Date('2025-01-01T00:00:00Z'),
      dataSizeBytes: 5_000,
      snapshotsRemoved: 2,
    });
    await pushSessionMetrics(gateway.url, firstSuccess);
    expect(await groupSamples(gateway, 'put-then-post')).toMatchObject({
      dbkeep_session_data_size_bytes: '5000',
      dbkeep_session_snapshots_removed: '2',
    });

    // A later success measured no removals: the earlier session's count must not outlive it.
    await pushSessionMetrics(gateway.url, {
      ...firstSuccess,
      durationSeconds: 30,
      finishedAt: new Date('2025-01-02T00:00:00Z'),
      dataSizeBytes: 6_000,
      snapshotsRemoved: undefined,
    });
    expect(await groupSamples(gateway, 'put-then-post')).toEqual({
      dbkeep_session_success: '1',
      dbkeep_session_duration_seconds: '30',
      dbkeep_session_last_success_timestamp_seconds: '1.735776e+09',
      dbkeep_session_data_size_bytes: '6000',
    });

    // A failure keeps the last success timestamp and the sizes it did not measure.
    await pushSessionMetrics(gateway.url, session('put-then-post', { success: false, durationSeconds: 3 }));
    expect(await groupSamples(gateway, 'put-then-post')).toEqual({
      dbkeep_session_success: '0',
      dbkeep_session_duration_seconds: '3',
      dbkeep_session_last_success_timestamp_seconds: '1.735776e+09',
      dbkeep_session_data_size_bytes: '6000',
    });
  });

  it("fails with the gateway's HTTP 400 and its reason when another pusher gave a metric name another type, and the group stays empty", async () => {
    // A gateway of its own: the gateway checks every push against all the groups it holds, so
    // the other tests' gauges would make it refuse the other pusher's counter instead.
    const own = await startPushgateway({ dir: join(scratch, 'gateway-refusing') });
    try {
      // Another job owns dbkeep_session_success as a counter; a gauge of that name is then refused.
      // The gateway names whichever of the two it meets first as the wrong type.
      const claimed = await fetch(`${own.url}/metrics/job/other-exporter`, {
        method: 'PUT',
        body: '# TYPE dbkeep_session_success counter\ndbkeep_session_success 1\n',
      });
      expect(claimed.status).toBe(200);
      await expect(pushSessionMetrics(own.url, session('refused', { success: true }))).rejects.toThrow(
        new RegExp(
          String.raw`^the Pushgateway refused backup metrics of refused \(PUT ${own.url}/metrics/job/dbkeep/kind/backup/configuration/refused/repository/repo/target/db\): ` +
            String.raw`HTTP 400: pushed metrics are invalid or inconsistent with existing metrics: collected metric "dbkeep_session_success" .* is not a (GAUGE|COUNTER)$`,
        ),
      );
      expect(await groupSamples(own, 'refused')).toEqual({});
      // The gateway records the refused push on the group, where an alert can see it.
      expect(Object.keys(await groupSamples(own, 'refused', ['push_failure_time_seconds']))).toEqual(['push_failure_time_seconds']);
    } finally {
      await own.stop();
    }
  });

  it('names the method, the URL and the reason for a Pushgateway that nothing listens on', async () => {
    const closedPort = await findFreePort();
    await expect(pushSessionMetrics(`http://127.0.0.1:${closedPort}`, session('unreachable', { success: false }))).rejects.toThrow(
      `pushing backup metrics of unreachable to the Pushgateway (POST http://127.0.0.1:${closedPort}/metrics/job/dbkeep/kind/backup/configuration/unreachable/repository/repo/target/db) failed: fetch failed: ECONNREFUSED`,
    );
  });
});
