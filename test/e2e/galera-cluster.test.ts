import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupActivities } from '../../activities/backup-activities';
import { TransientFailure } from '../../domain/failures';
import { parseManifest, type Manifest } from '../../domain/manifest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { createSecretResolver } from '../../secrets/secret-resolver';
import { diffFingerprints, fingerprintDatabase } from '../../stack/database-fingerprint';
import { startGaleraCluster, type GaleraCluster, type GaleraNode } from '../../stack/galera-cluster';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { loadSakila } from '../support/sample-data';

/**
 * Backups of a real three-node MariaDB Galera cluster on loopback. Node 0 is the Target's own
 * host, the write primary; all three are its members. A backup is taken from the first synced
 * node that is not the write primary, the manifest's position brackets the cluster's, and a
 * logical snapshot restores into a standalone server with the same checksums.
 */
let stack: E2eStack;
let cluster: GaleraCluster;
let primary: GaleraNode;

beforeAll(async () => {
  stack = await startE2eStack();
  cluster = await startGaleraCluster({ rootPassword: `pw-${Math.random().toString(36).slice(2, 12)}` });
  stack.passwords.push(cluster.rootPassword);
  primary = cluster.nodes[0]!;
  await loadSakila(primary.instance);
  const connection = await rootConnection(primary.instance);
  await connection.query(
    'CREATE DATABASE churn; CREATE TABLE churn.ticks (id INT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP(6) DEFAULT NOW(6))',
  );
  await connection.end();
  // Loaded on node 0; the backups below must see it on every node.
  await cluster.waitUntilSynced();
}, 300_000);

afterAll(async () => {
  await cluster?.stop();
  await stack?.stop();
});

const address = (node: GaleraNode) => `127.0.0.1:${node.instance.port}`;

function resources(extra: object[] = []) {
  const target = stack.targetDocument('galera', primary.instance) as { spec: Record<string, unknown> };
  target.spec.datadir = primary.instance.datadir;
  target.spec.galera = {
    members: cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.instance.port, datadir: node.instance.datadir })),
  };
  return stack.resources(
    target,
    // Uncompressed, so the test reads the SQL as stored; churn is left out, the writer's database.
    // `mysql` listed, as mariadb-operator's --all-databases backups hold it: its global_priv stays out.
    configurationDocument('logical', { target: 'galera', databases: ['sakila', 'mysql'], compression: { algorithm: 'none' } }),
    configurationDocument('physical', { target: 'galera', method: 'physical' }),
    ...extra,
  );
}

async function backup(configuration: string) {
  const result = await (await stack.client.backupNow(resolveBackupConfiguration(resources(), configuration))).result();
  if (result.outcome !== 'succeeded') throw new Error(`backup of ${configuration} was skipped`);
  const manifest = parseManifest((await readObject(`${configuration}/${result.snapshotId}/manifest.json`)).toString('utf8'));
  if (!manifest.ok) throw new Error(manifest.reason);
  return { result, manifest: manifest.manifest };
}

async function readObject(key: string): Promise<Buffer> {
  const object = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: `dbkeep/${key}` }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

async function lastCommitted(node: GaleraNode): Promise<{ uuid: string; seqno: number }> {
  const status = await cluster.wsrepStatus(node);
  return { uuid: status.wsrep_cluster_state_uuid!, seqno: Number(status.wsrep_last_committed) };
}

/** Commits on the write primary until stopped, so the cluster's position moves during a backup. */
function startWriter(): { stop(): Promise<number> } {
  let stopping = false;
  let writes = 0;
  const running = (async () => {
    const connection: Connection = await rootConnection(primary.instance);
    try {
      while (!stopping) {
        await connection.query('INSERT INTO churn.ticks () VALUES ()');
        writes += 1;
        await sleep(10);
      }
    } finally {
      await connection.end();
    }
  })();
  return {
    async stop() {
      stopping = true;
      await running;
      return writes;
    },
  };
}

/** The bounds the manifest records, checked against the cluster's position before and after the session. */
async function expectPositionBracketed(manifest: Manifest, before: { uuid: string; seqno: number }) {
  const after = await lastCommitted(primary);
  const galera = manifest.galera!;
  expect(galera.clusterStateUuid).toBe(before.uuid);
  for (const node of cluster.nodes) expect((await cluster.wsrepStatus(node)).wsrep_cluster_state_uuid).toBe(galera.clusterStateUuid);
  expect(galera.lastCommitted).toBeGreaterThanOrEqual(before.seqno);
  expect(galera.lastCommittedAtEnd).toBeGreaterThan(galera.lastCommitted);
  expect(galera.lastCommittedAtEnd).toBeLessThanOrEqual(after.seqno);
}

async function setDesync(node: GaleraNode, on: boolean): Promise<void> {
  const connection = await rootConnection(node.instance);
  try {
    await connection.query(`SET GLOBAL wsrep_desync = ${on ? 'ON' : 'OFF'}`);
  } finally {
    await connection.end();
  }
  if (!on) return;
  const deadline = Date.now() + 30_000;
  while ((await cluster.wsrepStatus(node)).wsrep_local_state !== '2') {
    if (Date.now() > deadline) throw new Error(`node${node.index} never became Donor/Desynced`);
    await sleep(100);
  }
}

describe('a three-node Galera cluster', () => {
  it('runs on loopback, every node synced in one primary component', async () => {
    for (const node of cluster.nodes) {
      const status = await cluster.wsrepStatus(node);
      expect(status).toMatchObject({ wsrep_local_state: '4', wsrep_ready: 'ON', wsrep_cluster_status: 'Primary', wsrep_cluster_size: '3' });
    }
    console.log(`galera cluster of 3 started in ${cluster.startSeconds.toFixed(1)} s`);
  });

  let logicalSnapshot: string;

  it('backs up logically from a synced node other than the write primary, with the mysql schema but not its global_priv, without LOCK TABLES', async () => {
    const before = await lastCommitted(cluster.nodes[1]!);
    const writer = startWriter();
    const { result, manifest } = await backup('logical').finally(() => writer.stop());
    logicalSnapshot = result.snapshotId;
    expect(manifest.galera?.node).toBe(address(cluster.nodes[1]!));
    expect(manifest.target.address).toBe(address(cluster.nodes[1]!));
    await expectPositionBracketed(manifest, before);

    const sql = (await readObject(`logical/${result.snapshotId}/dump.sql`)).toString('utf8');
    expect(sql).toContain('CREATE TABLE `payment`');
    // As statements: mysql.help_topic's text mentions both too (booleans keep a failure's output short).
    expect(/^(UN)?LOCK TABLES/im.test(sql)).toBe(false);
    expect(manifest.databases).toEqual(['sakila', 'mysql']);
    expect(sql.includes('USE `mysql`;')).toBe(true);
    expect(sql.includes('CREATE TABLE `db`')).toBe(true);
    expect(/CREATE TABLE `global_priv`|INSERT INTO `global_priv`/.test(sql)).toBe(false);
  });

  it('restores the logical snapshot into a standalone server with identical checksums', async () => {
    const fresh = await stack.startMariaDb();
    const set = resources([stack.targetDocument('fresh', fresh)]);
    const handle = await stack.client.restore({
      repository: set.repositories.get('repo')!,
      configuration: 'logical',
      target: resolveTarget(set, 'fresh'),
      selector: { snapshotId: logicalSnapshot },
    });
    await handle.result();
    const [expected, actual] = await Promise.all(
      [cluster.nodes[1]!.instance, fresh].map(async (instance) => {
        const connection = await rootConnection(instance);
        try {
          return await fingerprintDatabase(connection, 'sakila');
        } finally {
          await connection.end();
        }
      }),
    );
    expect(Object.keys(expected!.tables).length).toBeGreaterThan(10);
    expect(diffFingerprints(expected!, actual!)).toEqual([]);
  });

  it("backs up physically from the same node, the stream's exact position inside the manifest's bounds", async () => {
    const before = await lastCommitted(cluster.nodes[1]!);
    const writer = startWriter();
    const { result, manifest } = await backup('physical').finally(() => writer.stop());
    expect(manifest.method).toBe('physical');
    expect(manifest.galera?.node).toBe(address(cluster.nodes[1]!));
    await expectPositionBracketed(manifest, before);

    const dir = path.join(stack.dir, 'physical-extract');
    mkdirSync(dir, { recursive: true });
    const stream = path.join(stack.dir, 'backup.xbstream.zst');
    writeFileSync(stream, await readObject(`physical/${result.snapshotId}/backup.xbstream.zst`));
    execFileSync('bash', ['-o', 'pipefail', '-c', 'zstd -d -c "$1" | mbstream -x -C "$2"', 'extract', stream, dir]);
    // mariadb-backup --galera-info: "uuid:seqno domain", written while commits were blocked.
    const info = readFileSync(path.join(dir, 'xtrabackup_galera_info'), 'utf8');
    const [, uuid, seqno] = /^([0-9a-f-]{36}):(\d+)/.exec(info) ?? [];
    expect(uuid).toBe(manifest.galera!.clusterStateUuid);
    expect(Number(seqno)).toBeGreaterThanOrEqual(manifest.galera!.lastCommitted);
    expect(Number(seqno)).toBeLessThanOrEqual(manifest.galera!.lastCommittedAtEnd!);
  });

  it('passes over a desynced node for the next synced one', async () => {
    const desynced = cluster.nodes[1]!;
    await setDesync(desynced, true);
    try {
      const { manifest } = await backup('logical');
      expect(manifest.galera?.node).toBe(address(cluster.nodes[2]!));
    } finally {
      await setDesync(desynced, false);
      await cluster.waitUntilSynced();
    }
  });

  it('with no node synced, fails the preflight as the retryable NoSyncedClusterNode, naming each node and its state', async () => {
    const set = resources();
    const resolved = resolveBackupConfiguration(set, 'logical');
    const { preflightTarget } = createBackupActivities({ secrets: createSecretResolver({}) });
    for (const node of cluster.nodes) await setDesync(node, true);
    try {
      // The worker's logger would print the expected failure as a warning.
      const failure = await new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') })
        .run(() => preflightTarget({ target: resolved.target, configuration: resolved.configuration, repository: resolved.repository }))
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(TransientFailure);
      expect(failure).toMatchObject({ type: 'NoSyncedClusterNode', nonRetryable: false });
      const message = (failure as Error).message;
      expect(message).toMatch(/^Target "galera": no synced Galera node to back up from: /);
      expect(message).toContain(
        `${address(primary)} (write primary): wsrep_local_state=2 (Donor/Desynced), wsrep_ready=ON, wsrep_cluster_status=Primary`,
      );
      for (const node of cluster.nodes.slice(1)) expect(message).toContain(`; ${address(node)}: wsrep_local_state=2 (Donor/Desynced)`);
    } finally {
      for (const node of cluster.nodes) await setDesync(node, false);
      await cluster.waitUntilSynced();
    }
  });
});
