/**
 * A finished session's metrics in the Prometheus text format, and the one push that sends them
 * to a Pushgateway (the only I/O here). dbkeep pushes what Stash pushed, under `dbkeep_` names;
 * SESSION_METRICS_DOCUMENTATION says which Stash metric each one replaces.
 */

export interface SessionMetrics {
  kind: 'backup' | 'restore' | 'prune';
  configuration: string;
  target?: string;
  repository: string;
  success: boolean;
  durationSeconds: number;
  finishedAt: Date;
  dataSizeBytes?: number;
  uploadedBytes?: number;
  repositorySizeBytes?: number;
  snapshotCount?: number;
  snapshotsRemoved?: number;
}

interface GaugeDefinition {
  metric: string;
  help: string;
  replacesStash: string;
  /** undefined: the session did not measure it, and the gauge is left out of the push. */
  value(m: SessionMetrics): number | undefined;
}

// Stash's names are those of its monitoring guide, stashed/docs
// docs/guides/monitoring/overview/index.md ("Available Metrics").
const GAUGES: readonly GaugeDefinition[] = [
  {
    metric: 'dbkeep_session_success',
    help: 'Whether the last session of this kind for this configuration succeeded (1) or failed (0).',
    replacesStash:
      'stash_backup_session_success (backup), stash_restore_session_success (restore); per target also ' +
      'stash_backup_target_success and stash_backup_host_backup_success. Stash has no prune session: it prunes inside the backup session.',
    value: (m) => (m.success ? 1 : 0),
  },
  {
    metric: 'dbkeep_session_duration_seconds',
    help: 'Wall-clock time the last session took, from start to finish, in seconds.',
    replacesStash:
      'stash_backup_session_duration_seconds (backup), stash_restore_session_duration_seconds (restore); ' +
      'per host also stash_backup_host_backup_duration_seconds and stash_restore_host_restore_duration_seconds.',
    value: (m) => m.durationSeconds,
  },
  {
    metric: 'dbkeep_session_last_success_timestamp_seconds',
    help: 'Unix time at which the last successful session of this kind finished; kept across failed sessions.',
    replacesStash:
      'stash_backup_last_success_time_seconds (per target: stash_backup_target_last_success_time_seconds). ' +
      'Stash documents no such metric for restores.',
    value: (m) => (m.success ? m.finishedAt.getTime() / 1000 : undefined),
  },
  {
    metric: 'dbkeep_session_data_size_bytes',
    help: 'Size of the data the session read from the target (the dump before compression), in bytes.',
    replacesStash: 'stash_backup_host_data_size_bytes',
    value: (m) => m.dataSizeBytes,
  },
  {
    metric: 'dbkeep_session_uploaded_bytes',
    help: 'Bytes the session wrote to the repository.',
    replacesStash: 'stash_backup_host_data_uploaded_bytes',
    value: (m) => m.uploadedBytes,
  },
  {
    metric: 'dbkeep_repository_size_bytes',
    help: 'Size of the repository after the session, in bytes.',
    replacesStash: 'stash_repository_size_bytes',
    value: (m) => m.repositorySizeBytes,
  },
  {
    metric: 'dbkeep_repository_snapshot_count',
    help: 'Number of snapshots of this configuration in the repository after the session.',
    replacesStash: 'stash_repository_snapshot_count',
    value: (m) => m.snapshotCount,
  },
  {
    metric: 'dbkeep_session_snapshots_removed',
    help: 'Number of snapshots the session removed under the retention policy.',
    replacesStash: 'stash_repository_snapshot_cleaned',
    value: (m) => m.snapshotsRemoved,
  },
];

/** Each metric dbkeep pushes, what it means, and the Stash metric it takes the place of. */
export const SESSION_METRICS_DOCUMENTATION: Array<{ metric: string; help: string; replacesStash: string }> = GAUGES.map(
  ({ metric, help, replacesStash }) => ({ metric, help, replacesStash }),
);

/**
 * The Prometheus text exposition format (version 0.0.4) of the session's gauges, each with its
 * HELP and TYPE lines. The samples carry no labels: configuration, target, repository and kind
 * are the Pushgateway grouping key (pushgatewayGroupPath), which it adds to every sample.
 */
export function formatSessionMetrics(m: SessionMetrics): string {
  const lines: string[] = [];
  for (const gauge of GAUGES) {
    const value = gauge.value(m);
    if (value === undefined) continue;
    lines.push(`# HELP ${gauge.metric} ${gauge.help}`, `# TYPE ${gauge.metric} gauge`, `${gauge.metric} ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The Pushgateway path of the session's group: /metrics/job/dbkeep/kind/…/configuration/…/repository/…[/target/…]. */
export function pushgatewayGroupPath(m: SessionMetrics): string {
  const labels: Array<[string, string]> = [
    ['job', 'dbkeep'],
    ['kind', m.kind],
    ['configuration', m.configuration],
    ['repository', m.repository],
  ];
  if (m.target !== undefined) labels.push(['target', m.target]);
  return `/metrics/${labels.map(([name, value]) => groupingKeySegment(name, value)).join('/')}`;
}

const PUSH_TIMEOUT_MS = 10_000;

/**
 * Pushes the session's metrics to the Pushgateway at gatewayUrl, into the group of its
 * kind, configuration, repository and target.
 *
 * A successful session PUTs, replacing the whole group, so no gauge from an earlier session
 * outlives it. A failed session POSTs instead, which replaces only the metrics it sends: a PUT
 * would drop dbkeep_session_last_success_timestamp_seconds, and "hours since the last good
 * backup" is the alert that matters most after a failure. The gauges a failed session did not
 * measure (sizes, counts) keep the last successful session's values for the same reason.
 */
export async function pushSessionMetrics(gatewayUrl: string, m: SessionMetrics): Promise<void> {
  const url = `${gatewayUrl.replace(/\/+$/, '')}${pushgatewayGroupPath(m)}`;
  const method = m.success ? 'PUT' : 'POST';
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { 'Content-Type': 'text/plain; version=0.0.4' },
      body: formatSessionMetrics(m),
      signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
    });
  } catch (error) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout...) is its cause.
    const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
    const reason = [error instanceof Error ? error.message : String(error), cause?.code ?? cause?.message].filter(Boolean).join(': ');
    throw new Error(`pushing ${m.kind} metrics of ${m.configuration} to the Pushgateway (${method} ${url}) failed: ${reason}`);
  }
  if (!response.ok) {
    const body = (await response.text().catch(() => '')).trim();
    throw new Error(
      `the Pushgateway refused ${m.kind} metrics of ${m.configuration} (${method} ${url}): HTTP ${response.status}` +
        (body ? `: ${body}` : ''),
    );
  }
}

/**
 * A value with a slash cannot travel percent-encoded (the Pushgateway splits the decoded path
 * on it), and an empty one would leave an empty segment; both go in the `@base64` form its
 * README specifies, where `=` stands for the empty value.
 */
function groupingKeySegment(name: string, value: string): string {
  if (value === '') return `${name}@base64/=`;
  if (value.includes('/')) return `${name}@base64/${Buffer.from(value, 'utf8').toString('base64url')}`;
  return `${name}/${encodeURIComponent(value)}`;
}
