import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplicaWorkerOnlyActivities } from '../../activities';
import type { PopulateReplicaInput, PopulateReplicaResult } from '../../activities/replica-population';
import { describeFailure } from '../../clients/failure-description';
import { parseManifest } from '../../domain/manifest';
import { RESTORE_MARKER_FILE, RESTORE_MARKER_PARTIAL_FILE } from '../../domain/replica-volume-marker';
import { replicaActivityId, replicaTaskQueue } from '../../domain/session-ids';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { diffFingerprints, type DatabaseFingerprint } from '../../stack/database-fingerprint';
import { findFreePort } from '../../stack/free-port';
import { startMariaDbInstance, type MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, fingerprintDatabases, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { pollUntil } from '../support/poll';
import { loadSakila } from '../support/sample-data';
import { workflowFailureOf } from '../support/workflow-failure';

/**
 * Physical backups with mariadb-backup, restored into three replica data directories (replica 0
 * by its replica worker, the others copied from it by the session's worker), each started on its
 * data directory and compared with the source; a replica worker killed mid-population is redone alone.
 */
let stack: E2eStack;
let source: MariaDbInstance;
let expected: Record<string, DatabaseFingerprint>;
const DATABASES = ['sakila', 'bulk'];

const fingerprints = (instance: MariaDbInstance) => fingerprintDatabases(instance, DATABASES);

function resources() {
  const target = stack.targetDocument('source', source) as { spec: Record<string, unknown> };
  target.spec.datadir = source.datadir;
  return stack.resources(
    target,
    configurationDocument('physical', { target: 'source', method: 'physical' }),
    configurationDocument('logical', { target: 'source' }),
  );
}

async function backup(configuration: string) {
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(resources(), configuration))).result();
  if (result.outcome !== 'succeeded') throw new Error('skipped');
  return result;
}

async function restoreIntoVolumes(replicas: number, volumeTemplate: string, snapshotId?: string, configuration = 'physical') {
  const handle = await stack.client.restoreIntoVolumes({
    repository: resources().repositories.get('repo')!,
    configuration,
    selector: snapshotId ? { snapshotId } : {},
    replicas,
    volumeTemplate,
  });
  const result = handle.result();
  // Awaited by the test; this only keeps a test that fails early from leaving it unhandled.
  result.catch(() => undefined);
  return { handle, result };
}

/** Starts a server on each restored directory and checks it holds exactly the source's data. */
async function expectReplicasMatchSource(directories: string[]): Promise<void> {
  for (const datadir of directories) {
    const replica = await startMariaDbInstance({
      dir: path.join(path.dirname(datadir), `${path.basename(datadir)}-run`),
      existingDatadir: datadir,
      rootPassword: source.rootPassword,
    });
    try {
      const actual = await fingerprints(replica);
      for (const db of DATABASES) expect(diffFingerprints(expected[db]!, actual[db]!), `${datadir} ${db}`).toEqual([]);
    } finally {
      await replica.stop();
    }
  }
}

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  await loadSakila(source);
  // Enough data (about 120 MB) that populating a replica takes a few seconds.
  const connection = await rootConnection(source);
  await connection.query(`CREATE DATABASE bulk; CREATE TABLE bulk.rows (id INT PRIMARY KEY, payload TEXT) ENGINE=InnoDB;
    USE bulk; INSERT INTO bulk.rows SELECT seq, REPEAT(SHA2(seq, 256), 16) FROM seq_1_to_100000;`);
  await connection.end();
  expected = await fingerprints(source);
});

afterAll(async () => {
  await stack?.stop();
});

describe('physical backup', () => {
  let snapshotId: string;

  it('streams mariadb-backup into the repository and records method, tool and version in the manifest', async () => {
    const result = await backup('physical');
    snapshotId = result.snapshotId;
    expect(await stack.listKeys(`physical/${snapshotId}/`)).toEqual([
      `physical/${snapshotId}/backup.xbstream.zst`,
      `physical/${snapshotId}/manifest.json`,
    ]);
    const listed = await stack.client.listSnapshots(resources().repositories.get('repo')!, 'physical');
    expect(listed.snapshots[0]?.snapshotId).toBe(snapshotId);
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/physical/${snapshotId}/manifest.json` }));
    const parsed = parseManifest(await object.Body!.transformToString());
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.manifest.method).toBe('physical');
    expect(parsed.manifest.tools.dump).toMatch(/^mariadb-backup based on MariaDB server 10\.11/);
    expect(parsed.manifest.databases).toEqual(expect.arrayContaining(DATABASES));
    expect(parsed.manifest.data.rawBytes).toBeGreaterThan(100_000_000);
  });

  it('restores into 3 replica directories, each a data directory a server starts on with the source data', async () => {
    const root = path.join(stack.dir, 'volumes-a');
    const { handle, result } = await restoreIntoVolumes(3, path.join(root, 'replica-${POD_ORDINAL}'), snapshotId);
    const restored = await result;
    expect(restored.snapshotId).toBe(snapshotId);
    expect(restored.replicas.map((r) => r.ordinal)).toEqual([0, 1, 2]);
    for (const replica of restored.replicas) {
      expect(replica.volume).toBe(path.join(root, `replica-${replica.ordinal}`));
      expect(replica.bytesOnVolume).toBeGreaterThan(100_000_000);
      expect(replica.preparedWith).toMatch(/mariadb-backup/);
    }
    // Replica 0 was downloaded and prepared once; the others are copies of its volume, made by
    // the session's own worker: no replica worker was started for them.
    expect(restored.replicas.map((r) => r.copiedFrom)).toEqual([undefined, 0, 0]);
    const scheduled = (await handle.fetchHistory()).events!.flatMap((e) =>
      e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityId!] : [],
    );
    expect(scheduled.filter((id) => id.startsWith('replica-')).sort()).toEqual([
      replicaActivityId(0, 'ensure-worker', 1),
      replicaActivityId(0, 'populate', 1),
      replicaActivityId(0, 'stop-worker'),
      replicaActivityId(1, 'copy'),
      replicaActivityId(2, 'copy'),
    ]);
    expect((await stack.client.status(handle.workflowId)).phase).toBe('Succeeded');
    // The replica workers were stopped once their replica was done: no process polls their task queues.
    const restoreId = handle.workflowId.split('/').at(-1)!;
    expect([0, 1, 2].map((ordinal) => findWorkerPid(replicaTaskQueue(restoreId, ordinal)))).toEqual([undefined, undefined, undefined]);
    await expectReplicasMatchSource(restored.replicas.map((r) => r.volume));
  });

  it('fails for good when one volume is refused, cancelling the other replicas, and leaves no replica worker running', async () => {
    const root = path.join(stack.dir, 'volumes-mixed');
    mkdirSync(path.join(root, 'replica-0'), { recursive: true });
    writeFileSync(path.join(root, 'replica-0', 'somebody-elses-file'), 'not a dbkeep restore');
    const { handle, result } = await restoreIntoVolumes(2, path.join(root, 'replica-${POD_ORDINAL}'), snapshotId);
    const failure = await workflowFailureOf(result);
    expect(failure).toMatchObject({ type: 'VolumeNotEmpty', nonRetryable: true });
    expect(failure.message).toContain('holds 1 entries not written by a dbkeep restore');
    // The refused volume is untouched; the other replica was cancelled, not left to run.
    expect(readdirSync(path.join(root, 'replica-0'))).toEqual(['somebody-elses-file']);
    const restoreId = handle.workflowId.split('/').at(-1)!;
    // The session ended after every population it had scheduled: cancelled, failed or done.
    const history = await handle.fetchHistory();
    const ended = new Set(
      (history.events ?? []).flatMap((e) => {
        const scheduledId = (
          e.activityTaskCompletedEventAttributes ??
          e.activityTaskFailedEventAttributes ??
          e.activityTaskCanceledEventAttributes
        )?.scheduledEventId;
        return scheduledId === undefined || scheduledId === null ? [] : [String(scheduledId)];
      }),
    );
    const populations = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'populateReplicaVolume',
    );
    // Replica 1's population may not have been scheduled yet when replica 0 was refused.
    const populated = populations.map((e) => e.activityTaskScheduledEventAttributes!.activityId);
    expect(populated).toContain(replicaActivityId(0, 'populate', 1));
    expect(populated.filter((id) => id !== replicaActivityId(0, 'populate', 1) && id !== replicaActivityId(1, 'populate', 1))).toEqual([]);
    expect(populations.filter((e) => !ended.has(String(e.eventId)))).toEqual([]);
    expect([0, 1].map((ordinal) => findWorkerPid(replicaTaskQueue(restoreId, ordinal)))).toEqual([undefined, undefined]);
  });

  it('redoes only the replica whose worker was killed mid-population, and the copies wait for it', async () => {
    const root = path.join(stack.dir, 'volumes-b');
    const { handle, result } = await restoreIntoVolumes(3, path.join(root, 'replica-${POD_ORDINAL}'), snapshotId);
    const restoreId = handle.workflowId.split('/').at(-1)!;
    const victimQueue = replicaTaskQueue(restoreId, 0);
    // Wait for replica 0's population (the download the others copy) to be running on its worker, then kill that worker.
    const victim = await (async () => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const pid = findWorkerPid(victimQueue);
        const session = await handle.describe().catch(() => undefined);
        const running = session?.raw.pendingActivities?.some((a) => a.activityId === replicaActivityId(0, 'populate', 1) && a.state === 2);
        if (pid !== undefined && running) return pid;
        if (Date.now() > deadline) throw new Error('replica 0 never started populating');
        await sleep(50);
      }
    })();
    process.kill(victim, 'SIGKILL');

    const restored = await result;
    expect(restored.replicas.map((r) => r.copiedFrom)).toEqual([undefined, 0, 0]);
    const history = await handle.fetchHistory();
    const populations = (history.events ?? []).flatMap((e) =>
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'populateReplicaVolume'
        ? [e.activityTaskScheduledEventAttributes.activityId]
        : [],
    );
    expect(populations.sort()).toEqual([replicaActivityId(0, 'populate', 1), replicaActivityId(0, 'populate', 2)]);
    // The copies started once replica 0's second attempt had completed its volume.
    const events = history.events ?? [];
    const at = (activityId: string) => events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityId === activityId);
    const secondAttempt = events[at(replicaActivityId(0, 'populate', 2))]!.eventId!;
    const completed = events.findIndex((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(secondAttempt));
    expect(completed).toBeGreaterThan(0);
    for (const ordinal of [1, 2]) expect(at(replicaActivityId(ordinal, 'copy'))).toBeGreaterThan(completed);
    await expectReplicasMatchSource(restored.replicas.map((r) => r.volume));
  });

  it("populates from the repository when the volume it was told to copy is not this restore's complete one, into a volume a killed worker left a torn marker in", async () => {
    const root = path.join(stack.dir, 'volumes-c');
    // A complete volume, but another restore's: copying it would hand out data nobody asked for.
    const foreign = path.join(root, 'foreign');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(path.join(foreign, RESTORE_MARKER_FILE), JSON.stringify({ restoreId: 'another-restore', snapshotId, complete: true }));
    writeFileSync(path.join(foreign, 'ibdata1'), "not this restore's");
    const volume = path.join(root, 'replica-1');
    // A worker killed while writing its marker leaves only the part written aside: nothing of anyone's.
    mkdirSync(volume, { recursive: true });
    writeFileSync(path.join(volume, RESTORE_MARKER_PARTIAL_FILE), '{"restoreId":"fallb');
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/physical/${snapshotId}/manifest.json` }));
    const parsed = parseManifest(await object.Body!.transformToString());
    if (!parsed.ok) throw new Error(parsed.reason);
    const { populateReplicaVolume } = createReplicaWorkerOnlyActivities({ volumeDir: volume });
    // The worker's activity itself, run where this test runs: the same host as the foreign volume, as in the embedded mode.
    const populated: PopulateReplicaResult = await new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run<
      [PopulateReplicaInput],
      PopulateReplicaResult,
      typeof populateReplicaVolume
    >(populateReplicaVolume, {
      repository: resources().repositories.get('repo')!,
      manifest: parsed.manifest,
      restoreId: 'fallback-restore',
      ordinal: 1,
      overwrite: false,
      copyFrom: { ordinal: 0, directory: foreign },
    });
    expect(populated.copiedFrom).toBeUndefined();
    expect(readdirSync(volume)).not.toContain(RESTORE_MARKER_PARTIAL_FILE);
    expect(populated.bytesOnVolume).toBeGreaterThan(100_000_000);
    expect(readFileSync(path.join(volume, 'ibdata1'))).not.toEqual(readFileSync(path.join(foreign, 'ibdata1')));
    await expectReplicasMatchSource([volume]);
  });

  it('refuses a logical restore of a physical snapshot and a physical restore of a logical one', async () => {
    const target = await stack.startMariaDb();
    const set = resources();
    const logicalRestore = await stack.client.restore({
      repository: set.repositories.get('repo')!,
      configuration: 'physical',
      target: { name: 'copy', spec: { ...set.targets.get('source')!.spec, port: target.port } },
      selector: {},
    });
    const refused = await logicalRestore.result().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowFailedError);
    expect(describeFailure(refused)).toMatchObject({ type: 'MethodMismatch', nonRetryable: true });
    expect(describeFailure(refused).message).toContain('is a physical backup (mariadb-backup');

    await backup('logical');
    const { result } = await restoreIntoVolumes(1, path.join(stack.dir, 'volumes-c', 'data'), undefined, 'logical');
    const reverse = await result.catch((e: unknown) => e);
    expect(describeFailure(reverse)).toMatchObject({ type: 'MethodMismatch' });
    expect(describeFailure(reverse).message).toContain('is a logical backup');
  });
});

describe('bootstrap', () => {
  it("populates a new instance's data directory from a physical snapshot before it starts", async () => {
    const datadir = path.join(stack.dir, 'fresh-physical', 'data');
    const fresh = stack.targetDocument('fresh', source) as { spec: Record<string, unknown> };
    fresh.spec.datadir = datadir;
    fresh.spec.bootstrapFrom = { configuration: 'physical' };
    const set = stack.resources(fresh, configurationDocument('physical', { target: 'fresh', method: 'physical' }));
    const result = await (await stack.client.bootstrap(set, 'fresh')).result();
    expect(result).toMatchObject({ method: 'physical', target: 'fresh' });
    await expectReplicasMatchSource([datadir]);
  });

  it('waits for a new instance to accept connections, then applies a logical snapshot', async () => {
    const port = await findFreePort();
    const password = 'fresh-instance-pw';
    const fresh = { ...stack.targetDocument('fresh-logical', source, password) } as { spec: Record<string, unknown> };
    fresh.spec.port = port;
    fresh.spec.bootstrapFrom = { configuration: 'logical' };
    const set = stack.resources(fresh, configurationDocument('logical', { target: 'fresh-logical' }));
    // The new instance's data directory is made (and root given its password) beforehand, as an
    // image's entrypoint does with networking off: a poll must never meet root without it.
    const initialized = await startMariaDbInstance({ dir: path.join(stack.dir, 'fresh-logical-init'), rootPassword: password });
    await initialized.stop();
    const handle = await stack.client.bootstrap(set, 'fresh-logical', { waitSeconds: 120 });
    // The instance comes up only once the session waits for it.
    await pollUntil(
      () => stack.client.status(handle.workflowId),
      (status) => status.steps.at(-1)?.name === 'wait-for-target',
      { what: 'the bootstrap session waiting for its target', timeoutMs: 60_000 },
    );
    const instance = await startMariaDbInstance({
      dir: path.join(stack.dir, 'fresh-logical'),
      port,
      existingDatadir: initialized.datadir,
      rootPassword: password,
    });
    try {
      expect(await handle.result()).toMatchObject({ method: 'logical', target: 'fresh-logical' });
      const actual = await fingerprints(instance);
      for (const db of DATABASES) expect(diffFingerprints(expected[db]!, actual[db]!), db).toEqual([]);
    } finally {
      await instance.stop();
    }
  });
});

/** The pid of the replica worker process polling `taskQueue`, from /proc. */
function findWorkerPid(taskQueue: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (commandLine.includes('replica-worker') && commandLine.includes(taskQueue)) return Number(entry);
    } catch {
      // the process went away meanwhile
    }
  }
  return undefined;
}
