import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pushSessionMetrics, type SessionMetrics } from '../../activities/session-metrics';
import { isPidAlive } from '../../pipeline/managed-process';
import { startPushgateway } from '../../stack/pushgateway';
import * as samples from '../support/session-metrics-samples';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-pushgateway-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const group = 'configuration="nightly",instance="",job="dbkeep",kind="backup",repository="repo",target="db"';
const successFinishedAt = new Date('2025-01-02T03:04:05Z');

// The shared samples, with whole seconds and no snapshotsRemoved: what this file's scrapes expect.
const successfulBackup: SessionMetrics = {
  ...samples.successfulBackup,
  durationSeconds: 42,
  finishedAt: successFinishedAt,
  snapshotsRemoved: undefined,
};
const { failedBackup } = samples;

/** The sample lines of the gateway's /metrics whose name starts with dbkeep_. */
async function scrapeDbkeepSamples(url: string): Promise<string[]> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return (await response.text()).split('\n').filter((line) => line.startsWith('dbkeep_'));
}

describe('Pushgateway', () => {
  it('keeps the last success timestamp across a failed backup, keeps the groups across a restart, and stops', async () => {
    const dir = join(scratch, 'gateway');
    const server = await startPushgateway({ dir });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      await pushSessionMetrics(server.url, successfulBackup);
      expect(await scrapeDbkeepSamples(server.url)).toContain(`dbkeep_session_success{${group}} 1`);

      await pushSessionMetrics(server.url, failedBackup);
      expect((await scrapeDbkeepSamples(server.url)).sort()).toEqual(
        [
          `dbkeep_session_success{${group}} 0`,
          `dbkeep_session_duration_seconds{${group}} 3`,
          // successFinishedAt in Unix seconds; Go writes values of a million and more with an exponent.
          `dbkeep_session_last_success_timestamp_seconds{${group}} 1.735787045e+09`,
          `dbkeep_session_data_size_bytes{${group}} 1.048576e+06`,
          `dbkeep_session_uploaded_bytes{${group}} 200000`,
          `dbkeep_repository_size_bytes{${group}} 5e+06`,
          `dbkeep_repository_snapshot_count{${group}} 7`,
        ].sort(),
      );
    } finally {
      await server.stop();
    }
    expect(isPidAlive(server.pid)).toBe(false);

    const restarted = await startPushgateway({ dir });
    try {
      expect(await scrapeDbkeepSamples(restarted.url)).toContain(`dbkeep_session_success{${group}} 0`);
    } finally {
      await restarted.stop();
    }
    expect(isPidAlive(restarted.pid)).toBe(false);
  });

  it('accepts grouping-key values with a slash, a space or no characters', async () => {
    const server = await startPushgateway({ dir: join(scratch, 'gateway-encoding') });
    try {
      await pushSessionMetrics(server.url, {
        kind: 'prune',
        configuration: 'weekly full',
        target: '',
        repository: 's3/backups',
        success: true,
        durationSeconds: 1,
        finishedAt: successFinishedAt,
        snapshotsRemoved: 0,
      });
      expect(await scrapeDbkeepSamples(server.url)).toContain(
        'dbkeep_session_snapshots_removed{configuration="weekly full",instance="",job="dbkeep",kind="prune",repository="s3/backups",target=""} 0',
      );
    } finally {
      await server.stop();
    }
    expect(isPidAlive(server.pid)).toBe(false);
  });
});
