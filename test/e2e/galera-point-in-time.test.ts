import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { startGaleraCluster, type GaleraCluster } from '../../stack/galera-cluster';
import { startMariaDbInstance, type MariaDbInstance } from '../../stack/mariadb-instance';
import { archivedPieces, gtidState, waitForArchivedState } from '../support/binlog-archive';
import { configurationDocument, rootQuery, startE2eStack, type E2eStack } from '../support/e2e-stack';

/**
 * Point-in-time recovery of a real three-node MariaDB 10.11 Galera cluster whose nodes write a
 * binary log with the cluster's GTIDs (wsrep_gtid_mode): the archive follows the Target's host;
 * when that node goes away it continues from another member by itself, and the window runs on
 * across both nodes' files, joined by GTIDs, with no gap. A physical snapshot (taken from a
 * member other than the host) restored into a volume at `latest` holds every row once.
 */
let stack: E2eStack;
let cluster: GaleraCluster;
const configuration = 'galera-pitr';

const ledger = 'SELECT id, note FROM shop.ledger ORDER BY id';
const write = (instance: MariaDbInstance, notes: string[]) =>
  rootQuery(instance, `INSERT INTO shop.ledger (note) VALUES ${notes.map((note) => `('${note}')`).join(', ')}`);

function resources() {
  const [host] = cluster.nodes;
  const target = stack.targetDocument('galera', host!.instance) as { spec: Record<string, unknown> };
  target.spec.datadir = host!.instance.datadir;
  target.spec.galera = {
    members: cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.instance.port, datadir: node.instance.datadir })),
  };
  return stack.resources(
    target,
    configurationDocument(configuration, {
      target: 'galera',
      method: 'physical',
      pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
    }),
  );
}

beforeAll(async () => {
  stack = await startE2eStack();
  cluster = await startGaleraCluster({ rootPassword: `pw-${Math.random().toString(36).slice(2, 12)}`, binaryLog: true });
  stack.passwords.push(cluster.rootPassword);
  const host = cluster.nodes[0]!.instance;
  await rootQuery(host, 'CREATE DATABASE shop');
  await rootQuery(host, 'CREATE TABLE shop.ledger (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64))');
  await write(host, ['before the snapshot']);
  await cluster.waitUntilSynced();
}, 300_000);

afterAll(async () => {
  await stack?.client.stopArchive(configuration);
  await cluster?.stop();
  await stack?.stop();
});

it('carries the window on from another node when the host goes away, and restores every row once', async () => {
  const [host, other] = cluster.nodes.map((node) => node.instance);
  expect(await stack.client.applyResources(resources())).toEqual([
    { configuration, outcome: 'absent', drillSchedule: 'absent', archive: 'started' },
  ]);
  const backup = await (await stack.client.backupNow(resolveBackupConfiguration(resources(), configuration))).result();
  if (backup.outcome !== 'succeeded') throw new Error('the snapshot was skipped');
  await write(host!, ['host 1', 'host 2']);
  await waitForArchivedState(stack, configuration, await gtidState(host!));

  // The host goes away; the cluster goes on writing on another node, with the same GTIDs.
  await host!.stop();
  await write(other!, ['other 1', 'other 2']);
  const end = await gtidState(other!);
  await waitForArchivedState(stack, configuration, end);

  const status = await stack.client.pointInTimeStatus(resolveBackupConfiguration(resources(), configuration));
  expect(status.gaps).toEqual([]);
  expect(status.windows).toHaveLength(1);
  expect(new Set((await archivedPieces(stack, configuration)).map(({ piece }) => piece.source.name)).size).toBeGreaterThanOrEqual(2);

  const root = path.join(stack.dir, 'galera-volumes');
  const restore = await stack.client.restoreIntoVolumes({
    repository: resolveBackupConfiguration(resources(), configuration).repository,
    configuration,
    selector: {},
    pointInTime: { latest: true },
    replicas: 1,
    volumeTemplate: path.join(root, 'replica-${POD_ORDINAL}'),
  });
  const result = await restore.result();
  expect(result.snapshotId).toBe(backup.snapshotId);
  expect(result.replicas[0]!.replayed).toMatchObject({ reachedGtids: end });
  // A standalone server on the volume (no wsrep): the cluster's rows, each once.
  const volume = result.replicas[0]!.volume;
  const restored = await startMariaDbInstance({ dir: `${volume}-run`, existingDatadir: volume, rootPassword: cluster.rootPassword });
  try {
    expect((await rootQuery(restored, ledger)).map((row) => row.note)).toEqual([
      'before the snapshot',
      'host 1',
      'host 2',
      'other 1',
      'other 2',
    ]);
    expect(await rootQuery(restored, ledger)).toEqual(await rootQuery(other!, ledger));
  } finally {
    await restored.stop();
  }
});
