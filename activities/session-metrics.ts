/**
 * A finished session's metrics in the Prometheus text format, and the one push that sends them
 * to a Pushgateway (the only I/O here). dbkeep pushes what Stash pushed, under `dbkeep_` names;
 * SESSION_METRICS_DOCUMENTATION says which Stash metric each one replaces.
 */

export interface SessionMetrics {
  /** `verify`: a restore drill (docs/restore-drills.md). */
  kind: 'backup' | 'restore' | 'prune' | 'verify';
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
  /** A scheduled backup's: the longest time between two of its schedule's slots. */
  scheduleIntervalSeconds?: number;
  /** A restore drill's: how long the restore itself took (the measured RTO). */
  restoreSeconds?: number;
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
  {
    metric: 'dbkeep_backup_schedule_interval_seconds',
    help: "The longest time between two slots of the configuration's backup schedule, in seconds: what a stale-backup alert compares the last success's age with.",
    replacesStash: 'none: Stash has no such metric',
    value: (m) => m.scheduleIntervalSeconds,
  },
  {
    metric: 'dbkeep_verification_restore_seconds',
    help: "How long the last restore drill's restore took, in seconds: the measured recovery time of the configuration's newest verified snapshot.",
    replacesStash: 'none: Stash has no such metric',
    value: (m) => m.restoreSeconds,
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
  return formatGauges(GAUGES, m);
}

/** Gauges in the text format, each with its HELP and TYPE lines; one a measurement leaves undefined is left out. */
function formatGauges<M>(gauges: ReadonlyArray<{ metric: string; help: string; value(m: M): number | undefined }>, m: M): string {
  const lines: string[] = [];
  for (const gauge of gauges) {
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
  await sendToPushgateway(
    gatewayUrl,
    pushgatewayGroupPath(m),
    m.success ? 'PUT' : 'POST',
    formatSessionMetrics(m),
    `${m.kind} metrics of ${m.configuration}`,
  );
}

/** What the binary log archive of a configuration reports (point-in-time recovery), as of `now`. */
export interface PointInTimeMetrics {
  configuration: string;
  repository: string;
  target: string;
  now: Date;
  /** The newest archived transaction's time: the latest point a restore can reach. */
  lastRecoverableAt?: Date;
  /** When everything the source had sent was last stored. */
  caughtUpAt?: Date;
  gaps?: number;
  archivedBytes?: number;
}

const PITR_GAUGES: ReadonlyArray<{ metric: string; help: string; value(m: PointInTimeMetrics): number | undefined }> = [
  {
    metric: 'dbkeep_pitr_last_recoverable_timestamp_seconds',
    help: 'Unix time of the newest archived transaction: the latest point a point-in-time restore can reach.',
    value: (m) => (m.lastRecoverableAt ? m.lastRecoverableAt.getTime() / 1000 : undefined),
  },
  {
    metric: 'dbkeep_pitr_lag_seconds',
    help: 'Seconds the archive trailed the source when pushed: since everything the source had sent was last stored.',
    value: (m) => (m.caughtUpAt ? Math.max(0, (m.now.getTime() - m.caughtUpAt.getTime()) / 1000) : undefined),
  },
  {
    metric: 'dbkeep_pitr_caught_up_timestamp_seconds',
    help: 'Unix time at which the archive last had everything the source had sent (alert on time() minus this: it keeps growing when pushes stop).',
    value: (m) => (m.caughtUpAt ? m.caughtUpAt.getTime() / 1000 : undefined),
  },
  {
    metric: 'dbkeep_pitr_gaps_total',
    help: 'Gaps in the archived binary log: transactions no archived piece holds, which no restore can cross.',
    value: (m) => m.gaps,
  },
  {
    metric: 'dbkeep_pitr_archived_bytes',
    help: 'Bytes of archived binary log in the repository for this configuration.',
    value: (m) => m.archivedBytes,
  },
];

export function formatPointInTimeMetrics(m: PointInTimeMetrics): string {
  return formatGauges(PITR_GAUGES, m);
}

/** POSTs into the group job=dbkeep, kind=pitr, configuration, repository, target: a gauge not measured this time keeps its value. */
export async function pushPointInTimeMetrics(gatewayUrl: string, m: PointInTimeMetrics): Promise<void> {
  const path = `/metrics/${[
    ['job', 'dbkeep'],
    ['kind', 'pitr'],
    ['configuration', m.configuration],
    ['repository', m.repository],
    ['target', m.target],
  ]
    .map(([name, value]) => groupingKeySegment(name!, value!))
    .join('/')}`;
  await sendToPushgateway(gatewayUrl, path, 'POST', formatPointInTimeMetrics(m), `point-in-time metrics of ${m.configuration}`);
}

async function sendToPushgateway(gatewayUrl: string, path: string, method: 'PUT' | 'POST', body: string, what: string): Promise<void> {
  const url = `${gatewayUrl.replace(/\/+$/, '')}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { 'Content-Type': 'text/plain; version=0.0.4' },
      body,
      signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
    });
  } catch (error) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout...) is its cause.
    const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
    const reason = [error instanceof Error ? error.message : String(error), cause?.code ?? cause?.message].filter(Boolean).join(': ');
    throw new Error(`pushing ${what} to the Pushgateway (${method} ${url}) failed: ${reason}`);
  }
  if (!response.ok) {
    const text = (await response.text().catch(() => '')).trim();
    throw new Error(`the Pushgateway refused ${what} (${method} ${url}): HTTP ${response.status}` + (text ? `: ${text}` : ''));
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
