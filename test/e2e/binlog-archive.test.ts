import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BinlogPiece } from '../../domain/binlog-archive';
import { BinlogScanner } from '../../domain/binlog-scanner';
import type { PointInTimeTarget } from '../../domain/point-in-time-target';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { binlogArchiveWorkflowId } from '../../domain/session-ids';
import { binlogArchiveStatusQuery, type binlogArchive } from '../../workflows/binlog-archive';
import { searchAttributes } from '../../workflows/search-attributes';
import type { PointInTimeStatus } from '../../clients/dbkeep-client';
import { pathWithReleaseTools, type DatabaseRelease } from '../../stack/database-instance';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { allHistoriesJson, configurationDocument, rootConnection, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { archivedPieces, gtidState, restoreToPoint, waitForArchivedState, walkArchiveChain } from '../support/binlog-archive';
import { pollUntil, untilNextSecond } from '../support/poll';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * Continuous binary log archiving (point-in-time recovery's first half) against real servers:
 * `dbkeep apply` starts `binlog-archive/<configuration>`, which follows the source as a replica
 * and stores pieces of whole transactions with their index entries; the recoverable window runs
 * from the snapshot to the last commit, through a log rotation and a source restart, with no gap.
 */
let stack: E2eStack;
const hostPath = process.env.PATH ?? '';

interface EngineCase {
  name: string;
  release: DatabaseRelease;
  gtid?: boolean;
  sourceArgs?: string[];
  /** A restore user's grants for a point-in-time restore of `shop`, as docs/security.md lists them. */
  replayGrants: string[];
  /** The one of them a restore without a replay does not need, checked before the restore starts. */
  replayOnlyGrant?: string;
}

const WORK_SCHEMAS_GRANT = 'GRANT ALL ON `\\_dbkeep\\_%`.* TO ?';
const ON_SHOP = 'GRANT ALL ON shop.* TO ?';

const ENGINES: EngineCase[] = [
  {
    name: 'MariaDB 10.11',
    release: 'mariadb-10.11',
    sourceArgs: ['--log-bin=binlog', '--server-id=1'],
    replayGrants: [WORK_SCHEMAS_GRANT, ON_SHOP, 'GRANT SELECT ON mysql.proc TO ?', 'GRANT SUPER ON *.* TO ?'],
  },
  {
    name: 'MariaDB 11.8',
    release: 'mariadb-11.8',
    sourceArgs: ['--log-bin=binlog', '--server-id=1'],
    replayGrants: [WORK_SCHEMAS_GRANT, ON_SHOP, 'GRANT SET USER, SUPER ON *.* TO ?', 'GRANT BINLOG REPLAY ON *.* TO ?'],
    // MariaDB 11's SUPER no longer holds BINLOG REPLAY, which the decoder's first statement needs.
    replayOnlyGrant: 'GRANT BINLOG REPLAY ON *.* TO ?',
  },
  {
    name: 'MySQL 9.7 with GTIDs',
    release: 'mysql-9.7',
    gtid: true,
    sourceArgs: ['--server-id=1'],
    replayGrants: [
      WORK_SCHEMAS_GRANT,
      ON_SHOP,
      'GRANT SUPER, SET_ANY_DEFINER, SYSTEM_USER, SESSION_VARIABLES_ADMIN, SHOW_ROUTINE ON *.* TO ?',
    ],
  },
];

beforeAll(async () => {
  stack = await startE2eStack();
});

afterAll(async () => {
  process.env.PATH = hostPath;
  await stack?.stop();
});

/** The configuration's PITR status, once `done` holds of it. */
async function waitForStatus(
  resources: ReturnType<E2eStack['resources']>,
  configuration: string,
  done: (status: PointInTimeStatus) => boolean,
  timeoutMs = 120_000,
): Promise<PointInTimeStatus> {
  return pollUntil(() => stack.client.pointInTimeStatus(resolveBackupConfiguration(resources, configuration)), done, {
    what: `the archive of ${configuration} getting there`,
    timeoutMs,
  });
}

/** The pitr gauges of a configuration's Pushgateway group, once `metric` satisfies `done`. */
async function waitForMetric(configuration: string, metric: string, done: (value: number) => boolean): Promise<Map<string, number>> {
  const readGroup = async () => {
    const text = await (await fetch(`${stack.pushgateway.url}/metrics`)).text();
    const values = new Map<string, number>();
    for (const line of text.split('\n')) {
      const sample = /^(dbkeep_pitr_\w+)\{([^}]*)\} (\S+)$/.exec(line);
      if (sample && sample[2]!.includes(`configuration="${configuration}"`) && sample[2]!.includes('kind="pitr"')) {
        values.set(sample[1]!, Number(sample[3]));
      }
    }
    return values;
  };
  const pushed = await pollUntil(
    async () => [...(await readGroup())],
    (entries) => entries.some(([name, value]) => name === metric && done(value)),
    { what: `${metric} of ${configuration}`, timeoutMs: 60_000 },
  );
  return new Map(pushed);
}

/** The GTID of the last transaction the source committed. */
async function lastGtid(source: MariaDbInstance): Promise<string> {
  if (source.engine === 'mariadb') {
    const [row] = await rootQuery(source, 'SELECT @@GLOBAL.gtid_binlog_pos AS pos');
    return String(row!.pos);
  }
  const executed = await gtidState(source);
  const [uuid, interval] = executed.split(':');
  return `${uuid}:${interval!.split('-').at(-1)}`;
}

describe.each(ENGINES)('$name', ({ release, gtid, sourceArgs, replayGrants, replayOnlyGrant }) => {
  const configuration = `archive-${release.replace('.', '-')}`;
  let source: MariaDbInstance;
  let resources: ReturnType<E2eStack['resources']>;
  let snapshotStartedAt: string;

  const writeRows = async (notes: string[]) => {
    const connection = await rootConnection(source);
    try {
      for (const note of notes) await connection.query('INSERT INTO shop.ledger (note) VALUES (?)', [note]);
    } finally {
      await connection.end();
    }
  };

  beforeAll(async () => {
    process.env.PATH = pathWithReleaseTools(release, hostPath);
    source = await stack.startDatabase({ release, gtid, extraArgs: sourceArgs });
    await rootQuery(source, 'CREATE DATABASE shop');
    await rootQuery(
      source,
      'CREATE TABLE shop.ledger (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64), at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)',
    );
    await writeRows(['before the snapshot']);
    resources = stack.resources(
      stack.targetDocument('source', source),
      configurationDocument(configuration, {
        target: 'source',
        databases: ['shop'],
        pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
      }),
    );
    const result = await (await stack.client.backupNow(resolveBackupConfiguration(resources, configuration))).result();
    if (result.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
    const snapshots = await stack.client.listSnapshots(resolveBackupConfiguration(resources, configuration).repository, configuration);
    snapshotStartedAt = snapshots.snapshots[0]!.startedAt;
  });

  afterAll(async () => {
    await stack.client.stopArchive(configuration);
    process.env.PATH = hostPath;
  });

  it('dbkeep apply starts the archive, and the window runs from the snapshot to the last commit', async () => {
    const applied = await stack.client.applyResources(resources);
    expect(applied).toEqual([{ configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'started' }]);
    await writeRows(['after the snapshot 1', 'after the snapshot 2']);
    const state = await gtidState(source);
    const status = await waitForStatus(
      resources,
      configuration,
      (s) => s.windows.length > 0 && s.pieces > 0 && s.archive.progress?.gtids === state,
    );
    expect(status.windows).toEqual([{ from: snapshotStartedAt, to: expect.any(String) }]);
    expect(Date.parse(status.windows[0]!.to)).toBeGreaterThanOrEqual(Date.parse(snapshotStartedAt));
    expect(status.gaps).toEqual([]);
    expect(status.archive).toMatchObject({ enabled: true, running: true });
    expect(status.lagSeconds).toBeLessThan(30);

    // The archive's gauges reach the Pushgateway, in the configuration's group (times to the second, as the binary log has them).
    const pushed = await waitForMetric(
      configuration,
      'dbkeep_pitr_last_recoverable_timestamp_seconds',
      (value) => value >= Math.floor(Date.parse(snapshotStartedAt) / 1000),
    );
    expect(pushed.get('dbkeep_pitr_gaps_total')).toBe(0);
    expect(pushed.get('dbkeep_pitr_lag_seconds')).toBeLessThan(30);
    expect(pushed.get('dbkeep_pitr_archived_bytes')).toBeGreaterThan(0);
  });

  it('follows a log rotation and a source restart without a gap or a piece stored twice', async () => {
    await writeRows(['before the flush']);
    await rootQuery(source, 'FLUSH BINARY LOGS');
    await writeRows(['after the flush']);
    await source.restart();
    await writeRows(['after the restart 1', 'after the restart 2']);
    const state = await gtidState(source);
    const status = await waitForStatus(resources, configuration, (s) => s.archive.progress?.gtids === state);
    expect(status.gaps).toEqual([]);
    expect(status.windows).toHaveLength(1);

    const pieces = await archivedPieces(stack, configuration);
    // Within a file the pieces are contiguous byte ranges from its start; across files each starts where the last ended.
    const byFolder = new Map<string, BinlogPiece[]>();
    for (const { key, piece } of pieces) {
      const folder = key.slice(0, key.lastIndexOf('/'));
      byFolder.set(folder, [...(byFolder.get(folder) ?? []), piece]);
    }
    expect(byFolder.size).toBeGreaterThanOrEqual(3);
    for (const folder of byFolder.values()) {
      folder.sort((a, b) => a.from - b.from);
      expect(folder[0]!.from).toBe(0);
      for (let i = 1; i < folder.length; i++) {
        expect(folder[i]!.from).toBe(folder[i - 1]!.to);
        expect(folder[i]!.gtidsBefore).toBe(folder[i - 1]!.gtidsAfter);
      }
    }
    // Every transaction once: from the first piece, each next one starts where the last ended, up to the source's state.
    expect(walkArchiveChain(pieces)).toEqual({ starts: 1, walked: pieces.length, distinctStarts: pieces.length, end: state });

    // A file's pieces, decompressed and concatenated, are a binary log the scanner reads to the same end.
    const [folderKey, folderPieces] = [...byFolder].find(([, list]) => list.some((p) => p.gtidsAfter === state))!;
    const scanner = new BinlogScanner(source.engine);
    const file: Buffer[] = [];
    for (const piece of folderPieces) {
      const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: `${folderKey}/${piece.data.file}` }));
      file.push(execFileSync('zstd', ['-d', '-c'], { input: Buffer.from(await object.Body!.transformToByteArray()) }));
      scanner.push(file.at(-1)!);
    }
    expect(scanner.committed.gtids).toBe(state);
    // …and the engine's own tool decodes it, down to the last row written.
    const binlogPath = path.join(stack.dir, `${configuration}.binlog`);
    writeFileSync(binlogPath, Buffer.concat(file));
    const decoded = execFileSync(source.engine === 'mysql' ? 'mysqlbinlog' : 'mariadb-binlog', ['--verbose', binlogPath], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(decoded).toContain('after the restart 2');
  });

  it('restores to any second: at a commit, between two commits, in the file still being written, latest, and just before a DROP TABLE', async () => {
    // Rows in distinct seconds: each row's `at` is its statement time, the time the binary log records.
    const marks: Array<{ note: string; at: number }> = [];
    for (const note of ['pitr 1', 'pitr 2', 'pitr 3']) {
      await untilNextSecond();
      await writeRows([note]);
      const [row] = await rootQuery(source, `SELECT UNIX_TIMESTAMP(at) AS at FROM shop.ledger WHERE note = '${note}'`);
      marks.push({ note, at: Number(row!.at) });
    }
    await rootQuery(source, 'CREATE TABLE shop.precious (id INT PRIMARY KEY)');
    await rootQuery(source, 'INSERT INTO shop.precious VALUES (1), (2), (3)');
    const [beforeDrop] = await rootQuery(source, 'SELECT COUNT(*) AS n FROM shop.ledger');
    await rootQuery(source, 'DROP TABLE shop.precious');
    const dropGtid = await lastGtid(source);
    await writeRows(['after the drop']);
    const state = await gtidState(source);
    await waitForStatus(resources, configuration, (s) => s.archive.progress?.gtids === state);

    // MariaDB without a binary log has executed nothing, so the first restore takes the snapshot's GTIDs.
    const into = await stack.startDatabase({ release, gtid });
    const restoreTo = async (pointInTime: PointInTimeTarget) => {
      const set = stack.resources(
        stack.targetDocument('source', source),
        stack.targetDocument('restored', into),
        configurationDocument(configuration, {
          target: 'source',
          databases: ['shop'],
          pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
        }),
      );
      return restoreToPoint(stack.client, set, { configuration, target: 'restored', pointInTime, overwrite: true });
    };
    const ledgerOf = async (instance: MariaDbInstance, upTo?: number) =>
      (
        await rootQuery(
          instance,
          `SELECT id, note, UNIX_TIMESTAMP(at) AS at FROM shop.ledger${upTo === undefined ? '' : ` WHERE at <= FROM_UNIXTIME(${upTo})`} ORDER BY id`,
        )
      ).map((r) => `${r.id}|${r.note}|${r.at}`);
    const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

    // Exactly at the second of a commit: it is in, the next is not. The first restore goes into an empty server.
    const first = await restoreTo({ at: iso(marks[1]!.at) });
    // The replay keeps the source's GTIDs exactly when the target took the snapshot's.
    expect(first.replayed?.sourceGtids).toBe(first.gtid.startsWith('target took'));
    expect(first.replayed?.transactions).toBeGreaterThan(0);
    expect(await ledgerOf(into)).toEqual(await ledgerOf(source, marks[1]!.at));
    // Between two commits (half a second after the first mark, before the second): the same as the earlier one.
    await restoreTo({ at: new Date(marks[0]!.at * 1000 + 500).toISOString() });
    expect(await ledgerOf(into)).toEqual(await ledgerOf(source, marks[0]!.at));
    // Just before the DROP TABLE: the table is back with its rows, and nothing after it was replayed.
    const undone = await restoreTo({ beforeGtid: dropGtid });
    expect(undone.replayed?.sourceGtids).toBe(false);
    expect(await rootQuery(into, 'SELECT id FROM shop.precious ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect((await ledgerOf(into)).length).toBe(Number(beforeDrop!.n));
    // Latest: everything the source committed, read from pieces of the file it is still writing.
    await restoreTo({ latest: true });
    expect(await ledgerOf(into)).toEqual(await ledgerOf(source));
    expect(await rootQuery(into, "SHOW TABLES FROM shop LIKE 'precious'")).toEqual([]);
  });

  it('bootstraps a new instance to a point in time (bootstrapFrom.pointInTime)', async () => {
    await writeRows(['before the bootstrap']);
    const state = await gtidState(source);
    await waitForStatus(resources, configuration, (s) => s.archive.progress?.gtids === state);
    const fresh = await stack.startDatabase({ release, gtid });
    const target = stack.targetDocument('fresh', fresh) as { spec: Record<string, unknown> };
    target.spec.bootstrapFrom = { configuration, pointInTime: { latest: true } };
    const set = stack.resources(
      target,
      configurationDocument(configuration, { target: 'fresh', databases: ['shop'], pointInTimeRecovery: { enabled: true } }),
    );
    const result = await (await stack.client.bootstrap(set, 'fresh', { waitSeconds: 60 })).result();
    expect(result).toMatchObject({ method: 'logical', target: 'fresh', replayed: { transactions: expect.any(Number) } });
    expect(result.replayed!.transactions).toBeGreaterThan(0);
    const ledger = 'SELECT id, note FROM shop.ledger ORDER BY id';
    expect(await rootQuery(fresh, ledger)).toEqual(await rootQuery(source, ledger));
  });

  it('replays as a restore user with exactly the documented grants, into a server with a history of its own', async () => {
    await writeRows(['for the least-privileged replay']);
    const state = await gtidState(source);
    await waitForStatus(resources, configuration, (s) => s.archive.progress?.gtids === state);
    const into = await stack.startDatabase({
      release,
      gtid,
      extraArgs: [...(sourceArgs ?? []).filter((a) => !a.startsWith('--server-id')), '--server-id=3'],
    });
    const restoreAs = async (user: string, grants: string[]) => {
      const account = `'${user}'@'127.0.0.1'`;
      await rootQuery(into, `CREATE USER ${account} IDENTIFIED BY 'restore-pw-1'`);
      for (const grant of grants) await rootQuery(into, grant.replace('?', account));
      const target = stack.targetDocument('least', into, 'restore-pw-1') as { spec: Record<string, unknown> };
      const set = stack.resources(
        { ...target, spec: { ...target.spec, user } },
        configurationDocument(configuration, { target: 'least', databases: ['shop'], pointInTimeRecovery: { enabled: true } }),
      );
      return restoreToPoint(stack.client, set, { configuration, target: 'least', pointInTime: { latest: true }, overwrite: false });
    };
    if (replayOnlyGrant) {
      // Without the grant only the replay needs, the restore is refused before it starts, naming it.
      const failure = await workflowFailureOf(
        restoreAs(
          'short',
          replayGrants.filter((grant) => grant !== replayOnlyGrant),
        ),
      );
      expect(failure.type).toBe('InsufficientPrivileges');
      expect(failure.message).toContain(replayOnlyGrant.replace('?', "'short'@'127.0.0.1'"));
      expect(await rootQuery(into, "SHOW DATABASES LIKE 'shop'")).toEqual([]);
    }
    const result = await restoreAs('restore', replayGrants);
    // The target keeps its own GTID history: every replayed transaction is a new one of its own.
    expect(result.replayed?.sourceGtids).toBe(false);
    const ledger = 'SELECT id, note FROM shop.ledger ORDER BY id';
    expect(await rootQuery(into, ledger)).toEqual(await rootQuery(source, ledger));
  });

  it('refuses a point outside every window before touching the target', async () => {
    const set = stack.resources(
      stack.targetDocument('restored', source),
      configurationDocument(configuration, { target: 'restored', databases: ['shop'], pointInTimeRecovery: { enabled: true } }),
    );
    const failure = await workflowFailureOf(
      restoreToPoint(stack.client, set, {
        configuration,
        target: 'restored',
        pointInTime: { at: new Date(Date.parse(snapshotStartedAt) - 3_600_000).toISOString() },
        overwrite: true,
      }),
    );
    expect(failure.type).toBe('OutsideRecoverableWindow');
    expect(failure.message).toContain(`outside every recoverable window (${snapshotStartedAt} to `);
  });

  it('apply leaves an unchanged archive running, and stops it when PITR is turned off: cleanly, with no secret in any history', async () => {
    expect(await stack.client.applyResources(resources)).toEqual([
      { configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'running' },
    ]);
    const off = stack.resources(
      stack.targetDocument('source', source),
      configurationDocument(configuration, { target: 'source', databases: ['shop'], pointInTimeRecovery: { enabled: false } }),
    );
    expect(await stack.client.applyResources(off)).toEqual([
      { configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'stopped' },
    ]);
    const handle = stack.client.temporal.workflow.getHandle(binlogArchiveWorkflowId(configuration));
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    const history = await handle.fetchHistory();
    const failedTasks = (history.events ?? []).filter(
      (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    );
    expect(failedTasks).toEqual([]);
    const { json } = await allHistoriesJson(stack);
    for (const password of stack.passwords) expect(json).not.toContain(password);
  });

  it('records binary logs purged while the archive was stopped as a gap, refuses a restore into it, and prunes the archive with the snapshots', async () => {
    await writeRows(['while stopped 1']);
    await rootQuery(source, 'FLUSH BINARY LOGS');
    await writeRows(['while stopped 2']);
    await rootQuery(source, 'FLUSH BINARY LOGS');
    const [current] = await rootQuery(source, 'SHOW BINARY LOGS').then((logs) => logs.slice(-1));
    await rootQuery(source, `PURGE BINARY LOGS TO '${String(current!.Log_name)}'`);
    await untilNextSecond();
    await writeRows(['after the purge']);
    const [afterPurge] = await rootQuery(source, "SELECT UNIX_TIMESTAMP(at) AS at FROM shop.ledger WHERE note = 'after the purge'");
    const state = await gtidState(source);

    expect(await stack.client.applyResources(resources)).toEqual([
      { configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'started' },
    ]);
    const status = await waitForStatus(resources, configuration, (s) => s.archive.progress?.gtids === state);
    expect(status.gaps).toHaveLength(1);
    expect(status.gaps[0]!.missing).not.toBe('');
    // Still one window, from the snapshot to the last transaction before the gap.
    expect(status.windows).toHaveLength(1);
    expect(Date.parse(status.windows[0]!.to)).toBeLessThan(Number(afterPurge!.at) * 1000);

    const failure = await workflowFailureOf(
      restoreToPoint(stack.client, resources, {
        configuration,
        target: 'source',
        pointInTime: { at: new Date(Number(afterPurge!.at) * 1000).toISOString() },
        overwrite: true,
      }),
    );
    expect(failure.type).toBe('OutsideRecoverableWindow');

    // A snapshot after the gap opens a second window.
    const backup = await (await stack.client.backupNow(resolveBackupConfiguration(resources, configuration))).result();
    expect(backup.outcome).toBe('succeeded');
    await writeRows(['after the second snapshot']);
    const later = await gtidState(source);
    const reopened = await waitForStatus(resources, configuration, (s) => s.archive.progress?.gtids === later && s.windows.length === 2);
    expect(reopened.gaps).toHaveLength(1);
    await stack.client.stopArchive(configuration);

    // Keeping only the newest snapshot prunes the archive before it: one window from that snapshot, no gap, and
    // the files it still needs are still there.
    const pruned = await stack.client.prune(
      resolveBackupConfiguration(
        stack.resources(
          stack.targetDocument('source', source),
          configurationDocument(configuration, { target: 'source', databases: ['shop'], retention: { keepLast: 1 } }),
        ),
        configuration,
      ),
    );
    expect(pruned.binlogFilesRemoved).toBeGreaterThan(0);
    const after = await stack.client.pointInTimeStatus(resolveBackupConfiguration(resources, configuration));
    expect(after.gaps).toEqual([]);
    expect(after.windows).toEqual([reopened.windows[1]]);
  });
});

describe('a replica taking over from the source (MariaDB 10.11)', () => {
  it('carries the window on through the replica: no gap, and a restore has every row once', async () => {
    process.env.PATH = hostPath;
    const primary = await stack.startDatabase({ extraArgs: ['--log-bin=binlog', '--server-id=1', '--log-slave-updates'] });
    const replica = await stack.startDatabase({ extraArgs: ['--log-bin=binlog', '--server-id=2', '--log-slave-updates'] });
    await rootQuery(primary, "CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-pw-1'");
    await rootQuery(primary, "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'");
    // The replica's binary log holds only what it replicates from here on, as a replica built from a backup would.
    const [primaryState] = await rootQuery(primary, 'SELECT @@GLOBAL.gtid_binlog_pos AS pos');
    await rootQuery(replica, 'RESET MASTER');
    await rootQuery(replica, `SET GLOBAL gtid_slave_pos = '${String(primaryState!.pos)}'`);
    await rootQuery(
      replica,
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='repl', MASTER_PASSWORD='repl-pw-1', MASTER_USE_GTID=slave_pos`,
    );
    await rootQuery(replica, 'START SLAVE');
    await rootQuery(primary, 'CREATE DATABASE shop');
    await rootQuery(primary, 'CREATE TABLE shop.ledger (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64))');
    await rootQuery(primary, "INSERT INTO shop.ledger (note) VALUES ('primary 1')");

    const configuration = 'archive-failover';
    const resourcesOn = (source: MariaDbInstance) =>
      stack.resources(
        stack.targetDocument('source', source),
        configurationDocument(configuration, {
          target: 'source',
          databases: ['shop'],
          pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
        }),
      );
    const onPrimary = resourcesOn(primary);
    expect((await (await stack.client.backupNow(resolveBackupConfiguration(onPrimary, configuration))).result()).outcome).toBe('succeeded');
    expect(await stack.client.applyResources(onPrimary)).toEqual([
      { configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'started' },
    ]);
    await rootQuery(primary, "INSERT INTO shop.ledger (note) VALUES ('primary 2'), ('primary 3')");
    const primaryEnd = await gtidState(primary);
    await waitForArchivedState(stack, configuration, primaryEnd);

    // The failover: the replica has everything, the primary goes away, the replica is promoted and written to.
    await pollUntil(
      async () => String((await rootQuery(replica, 'SELECT @@GLOBAL.gtid_slave_pos AS pos'))[0]!.pos),
      (pos) => pos === primaryEnd,
      { what: `the replica reaching ${primaryEnd}`, timeoutMs: 60_000 },
    );
    await primary.stop();
    await rootQuery(replica, 'STOP SLAVE');
    await rootQuery(replica, 'RESET SLAVE ALL');
    await rootQuery(replica, "INSERT INTO shop.ledger (note) VALUES ('replica 1'), ('replica 2')");
    const onReplica = resourcesOn(replica);
    expect(await stack.client.applyResources(onReplica)).toEqual([
      { configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'restarted' },
    ]);
    const replicaEnd = await gtidState(replica);
    await waitForArchivedState(stack, configuration, replicaEnd);

    // One window across both servers' pieces, joined by GTIDs, not by server or file name.
    const status = await stack.client.pointInTimeStatus(resolveBackupConfiguration(onReplica, configuration));
    expect(status.gaps).toEqual([]);
    expect(status.windows).toHaveLength(1);
    const sources = new Set((await archivedPieces(stack, configuration)).map(({ piece }) => piece.source.name));
    expect(sources.size).toBe(2);

    // The replica's first file repeats the primary's transactions: each is applied once.
    const into = await stack.startDatabase();
    const restored = await restoreToPoint(
      stack.client,
      stack.resources(
        stack.targetDocument('restored', into),
        configurationDocument(configuration, { target: 'restored', databases: ['shop'], pointInTimeRecovery: { enabled: true } }),
      ),
      { configuration, target: 'restored', pointInTime: { latest: true }, overwrite: true },
    );
    expect(restored.replayed?.lastAppliedGtid).toBe(replicaEnd);
    const ledger = 'SELECT id, note FROM shop.ledger ORDER BY id';
    expect((await rootQuery(into, ledger)).map((row) => row.note)).toEqual([
      'primary 1',
      'primary 2',
      'primary 3',
      'replica 1',
      'replica 2',
    ]);
    expect(await rootQuery(into, ledger)).toEqual(await rootQuery(replica, ledger));
    await stack.client.stopArchive(configuration);
  });
});

describe('hours of archiving, compressed: many short runs and continue-as-new', () => {
  it('keeps each history small, and the archive whole across every run', async () => {
    process.env.PATH = hostPath;
    const source = await stack.startDatabase({ extraArgs: ['--log-bin=binlog'] });
    await rootQuery(source, 'CREATE DATABASE shop');
    await rootQuery(
      source,
      'CREATE TABLE shop.ledger (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64), at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)',
    );
    const configuration = 'archive-turnover';
    const set = stack.resources(
      stack.targetDocument('source', source),
      configurationDocument(configuration, {
        target: 'source',
        databases: ['shop'],
        pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
      }),
    );
    const resolved = resolveBackupConfiguration(set, configuration);
    expect((await (await stack.client.backupNow(resolved)).result()).outcome).toBe('succeeded');
    // Runs of a second and a half: six of them, then continue-as-new, over and over while a writer commits.
    const handle = await stack.client.temporal.workflow.start<typeof binlogArchive>('binlogArchive', {
      taskQueue: stack.taskQueue,
      workflowId: binlogArchiveWorkflowId(configuration),
      args: [{ configuration: resolved.configuration, target: resolved.target, repository: resolved.repository, runForMs: 1500 }],
    });
    // The writer commits until the archive has run twelve times (two continue-as-new), whatever the machine's speed.
    const connection = await rootConnection(source);
    const current = handle.client.getHandle(binlogArchiveWorkflowId(configuration));
    const deadline = Date.now() + 120_000;
    for (let i = 0; ; i++) {
      await connection.query('INSERT INTO shop.ledger (note) VALUES (?)', [`row ${i}`]);
      // A run that has just continued as new answers once its first task ran: until then, keep writing.
      if (i % 20 === 19 && ((await current.query(binlogArchiveStatusQuery).catch(() => undefined))?.runs ?? 0) >= 12) break;
      if (Date.now() > deadline) throw new Error('the archive did not run twelve times within 120 s');
    }
    await connection.end();
    const state = await gtidState(source);
    // Runs this short rarely heartbeat: wait on the repository instead, for the piece that ends at the source's state.
    await waitForArchivedState(stack, configuration, state, 60_000);
    expect((await stack.client.pointInTimeStatus(resolved)).gaps).toEqual([]);

    const description = await current.describe();
    expect(description.runId).not.toBe(handle.firstExecutionRunId);
    // The UI's list can filter archives by where they stand, as of their last finished run.
    expect(description.typedSearchAttributes.get(searchAttributes.pitrPosition)).toMatch(/^binlog\.\d{6}:\d+$/);
    expect(description.typedSearchAttributes.get(searchAttributes.pitrCaughtUpAt)).toBeInstanceOf(Date);
    const archived = await current.query(binlogArchiveStatusQuery);
    expect(archived.runs).toBeGreaterThanOrEqual(12);
    // The history of a run stays a few dozen events, however long the archive has run.
    expect((await current.fetchHistory()).events!.length).toBeLessThan(60);

    // Every run restarted the reader where the archive ended: one chain of pieces, nothing twice, nothing missing.
    const pieces = await archivedPieces(stack, configuration);
    expect(walkArchiveChain(pieces)).toEqual({ starts: 1, walked: pieces.length, distinctStarts: pieces.length, end: state });
    await stack.client.stopArchive(configuration);
  });
});

describe('an archiving user without the replication privileges', () => {
  it('fails the archive at once, naming the grants', async () => {
    process.env.PATH = hostPath;
    const source = await stack.startDatabase({ extraArgs: ['--log-bin=binlog', '--server-id=1'] });
    await rootQuery(source, "CREATE USER 'reader'@'%' IDENTIFIED BY 'reader-pw-1'");
    await rootQuery(source, "GRANT SELECT ON *.* TO 'reader'@'%'");
    const target = stack.targetDocument('weak', source, 'reader-pw-1') as { spec: Record<string, unknown> };
    target.spec.user = 'reader';
    const configuration = 'archive-weak';
    const set = stack.resources(target, configurationDocument(configuration, { target: 'weak', pointInTimeRecovery: { enabled: true } }));
    expect(await stack.client.applyResources(set)).toEqual([
      { configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'started' },
    ]);
    const failure = await workflowFailureOf(stack.client.temporal.workflow.getHandle(binlogArchiveWorkflowId(configuration)).result());
    expect(failure.type).toBe('InsufficientPrivileges');
    expect(failure.message).toContain('REPLICATION SLAVE, BINLOG MONITOR on *.*');
    expect(failure.message).toContain("GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'reader'@'%'");
  });
});
