import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PointInTimeTarget } from '../../domain/point-in-time-target';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { replicaTaskQueue } from '../../domain/session-ids';
import { startMariaDbInstance, type MariaDbInstance } from '../../stack/mariadb-instance';
import { gtidState, waitForArchivedState } from '../support/binlog-archive';
import { runDbkeep } from '../support/cli-runner';
import { configurationDocument, rootConnection, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { pollUntil, untilNextSecond } from '../support/poll';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * Point-in-time recovery into replica volumes (MariaDB 10.11): a physical snapshot starts a
 * recoverable window; `restore --replicas N --at T` prepares the newest physical snapshot before T
 * in every volume, and each replica worker replays the archived binary log up to T with a server
 * of its own, then shuts it down: a server started on any volume holds exactly the rows committed
 * at or before T, and mariadb-backup's position file names where the data is.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let resources: ReturnType<E2eStack['resources']>;
let snapshot: { snapshotId: string; completedAt: string };
/** Rows committed after the snapshot, each in a second of its own, with the source's GTID state after it. */
const marks: Array<{ note: string; at: number; gtids: string }> = [];
const configuration = 'physical-pitr';

async function writeRow(note: string): Promise<void> {
  const connection = await rootConnection(source);
  try {
    await connection.query('INSERT INTO shop.ledger (note) VALUES (?)', [note]);
  } finally {
    await connection.end();
  }
}

const ledgerOf = async (instance: MariaDbInstance, upTo?: number) =>
  (
    await rootQuery(
      instance,
      `SELECT id, note, UNIX_TIMESTAMP(at) AS at FROM shop.ledger${upTo === undefined ? '' : ` WHERE at <= FROM_UNIXTIME(${upTo})`} ORDER BY id`,
    )
  ).map((r) => `${r.id}|${r.note}|${r.at}`);

/** A point-in-time restore of the configuration into `replicas` volumes under `root`. */
function startVolumeRestore(replicas: number, root: string, pointInTime: PointInTimeTarget) {
  return stack.client.restoreIntoVolumes({
    repository: resolveBackupConfiguration(resources, configuration).repository,
    configuration,
    selector: {},
    pointInTime,
    replicas,
    volumeTemplate: path.join(root, 'replica-${POD_ORDINAL}'),
  });
}

/** Starts a server on a restored volume, as its owner would, and reads its ledger. */
async function ledgerOnVolume(volume: string): Promise<string[]> {
  const replica = await startMariaDbInstance({ dir: `${volume}-run`, existingDatadir: volume, rootPassword: source.rootPassword });
  try {
    return await ledgerOf(replica);
  } finally {
    await replica.stop();
  }
}

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startDatabase({ extraArgs: ['--log-bin=binlog', '--server-id=1'] });
  await rootQuery(source, 'CREATE DATABASE shop');
  await rootQuery(
    source,
    'CREATE TABLE shop.ledger (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64), at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)',
  );
  await writeRow('before the snapshot');
  const target = stack.targetDocument('source', source) as { spec: Record<string, unknown> };
  target.spec.datadir = source.datadir;
  resources = stack.resources(
    target,
    configurationDocument(configuration, {
      target: 'source',
      method: 'physical',
      pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
    }),
  );
  expect(await stack.client.applyResources(resources)).toEqual([
    { configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'started' },
  ]);
  const backup = await (await stack.client.backupNow(resolveBackupConfiguration(resources, configuration))).result();
  if (backup.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
  const listed = await stack.client.listSnapshots(resolveBackupConfiguration(resources, configuration).repository, configuration);
  snapshot = listed.snapshots[0]!;
  for (const note of ['after 1', 'after 2', 'after 3']) {
    await untilNextSecond();
    await writeRow(note);
    const [row] = await rootQuery(source, `SELECT UNIX_TIMESTAMP(at) AS at FROM shop.ledger WHERE note = '${note}'`);
    marks.push({ note, at: Number(row!.at), gtids: await gtidState(source) });
  }
  await waitForArchivedState(stack, configuration, marks.at(-1)!.gtids);
});

afterAll(async () => {
  await stack?.client.stopArchive(configuration);
  await stack?.stop();
});

it('a physical snapshot starts the recoverable window, at the moment its data was consistent', async () => {
  const status = await stack.client.pointInTimeStatus(resolveBackupConfiguration(resources, configuration));
  expect(status.windows).toEqual([{ from: snapshot.completedAt, to: expect.any(String) }]);
  expect(Date.parse(status.windows[0]!.to)).toBeGreaterThanOrEqual(marks.at(-1)!.at * 1000);
});

it('restores two replica volumes to a second: each holds exactly the rows committed by then, and says at which GTID', async () => {
  const root = path.join(stack.dir, 'volumes-at');
  const result = await (await startVolumeRestore(2, root, { at: new Date(marks[1]!.at * 1000).toISOString() })).result();
  expect(result.snapshotId).toBe(snapshot.snapshotId);
  const expected = await ledgerOf(source, marks[1]!.at);
  expect(expected.at(-1)).toContain('after 2');
  // Replica 0 replayed; replica 1 is a copy of its volume and reports the same replay.
  expect(result.replicas.map((replica) => replica.copiedFrom)).toEqual([undefined, 0]);
  for (const replica of result.replicas) {
    expect(replica.replayed).toMatchObject({ transactions: 2, sourceGtids: false, reachedGtids: marks[1]!.gtids });
    // mariadb-backup's position file now names the replay's end, where a replica made from the volume starts.
    const info = readFileSync(path.join(replica.volume, 'xtrabackup_binlog_info'), 'utf8').trim().split('\t');
    expect(info).toEqual([expect.stringMatching(/^binlog\.\d+$/), expect.stringMatching(/^\d+$/), marks[1]!.gtids]);
    expect(await ledgerOnVolume(replica.volume)).toEqual(expected);
  }
});

it('dbkeep restore --replicas --latest replays everything archived, over the volume of an earlier restore with --overwrite', async () => {
  const file = path.join(stack.dir, 'physical-pitr.yaml');
  const target = stack.targetDocument('source', source) as { spec: Record<string, unknown> };
  target.spec.datadir = source.datadir;
  writeFileSync(
    file,
    stack.resourcesYaml(
      target,
      configurationDocument(configuration, {
        target: 'source',
        method: 'physical',
        pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
      }),
    ),
  );
  const volume = path.join(stack.dir, 'volumes-at', 'replica-0');
  const env = { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address, DBKEEP_TASK_QUEUE: stack.taskQueue };
  const cli = await runDbkeep(
    ['restore', '-f', file, '--config', configuration, '--replicas', '1', '--volume-dir', volume, '--latest', '--overwrite', '--wait'],
    { env, cwd: stack.dir },
  );
  expect(cli.code, cli.stderr).toBe(0);
  expect(cli.stdout).toContain(`then 3 transaction(s) of the archived binary log replayed`);
  expect(cli.stdout).toContain(`its data is at GTID ${marks[2]!.gtids}`);
  expect(await ledgerOnVolume(volume)).toEqual(await ledgerOf(source));
});

it('refuses a point before the physical snapshot, before any volume is touched', async () => {
  const root = path.join(stack.dir, 'volumes-refused');
  const before = new Date(Date.parse(snapshot.completedAt) - 60_000).toISOString();
  const failure = await workflowFailureOf((await startVolumeRestore(1, root, { at: before })).result());
  expect(failure).toMatchObject({ type: 'OutsideRecoverableWindow', nonRetryable: true });
  expect(failure.message).toContain(`${before} is outside every recoverable window (${snapshot.completedAt} to `);
  expect(failure.message).toContain('counting physical snapshots only; nothing was touched');
  expect(() => readFileSync(root)).toThrow(/ENOENT/);
});

it('kills the server a killed replica worker left replaying, and redoes the replica', async () => {
  // Enough transactions that the replay takes a while: one commit each.
  await rootQuery(source, 'CREATE TABLE shop.bulk (id INT PRIMARY KEY)');
  const connection = await rootConnection(source);
  try {
    for (let batch = 0; batch < 40; batch++) {
      await connection.query(Array.from({ length: 250 }, (_, i) => `INSERT INTO shop.bulk VALUES (${batch * 250 + i})`).join(';'));
    }
  } finally {
    await connection.end();
  }
  const state = await gtidState(source);
  await waitForArchivedState(stack, configuration, state);
  const volume = path.join(stack.dir, 'volumes-killed', 'replica-0');
  const handle = await startVolumeRestore(1, path.join(stack.dir, 'volumes-killed'), { latest: true });
  const restoreId = handle.workflowId.split('/').at(-1)!;
  const replaying = await pollUntil(
    async () => ({ server: processesWith(`--datadir=${volume}`), worker: processesWith(replicaTaskQueue(restoreId, 0)) }),
    (found) => found.server.length === 1 && found.worker.length === 1,
    { what: 'the replica worker replaying into its volume', timeoutMs: 120_000, intervalMs: 50 },
  );
  process.kill(replaying.worker[0]!, 'SIGKILL');
  const result = await handle.result();
  expect(result.replicas[0]!.replayed).toMatchObject({ reachedGtids: state });
  // The killed worker's server is gone, and so is the one the new attempt replayed with.
  expect(processesWith(`--datadir=${volume}`)).toEqual([]);
  const replica = await startMariaDbInstance({ dir: `${volume}-run`, existingDatadir: volume, rootPassword: source.rootPassword });
  try {
    expect(await ledgerOf(replica)).toEqual(await ledgerOf(source));
    expect(await rootQuery(replica, 'SELECT COUNT(*) AS n FROM shop.bulk')).toEqual([{ n: 10_000 }]);
  } finally {
    await replica.stop();
  }
});

/** The pids of the processes whose argv holds `argument`, from /proc. */
function processesWith(argument: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(argument)) pids.push(Number(entry));
    } catch {
      // the process went away meanwhile
    }
  }
  return pids;
}
