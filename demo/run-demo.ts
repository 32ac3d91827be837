import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConnection } from 'mysql2/promise';
import { stringify } from 'yaml';
import { waitShowingProgress } from '../clients/cli/session-progress';
import { DbkeepClient } from '../clients/dbkeep-client';
import { describeFailure } from '../clients/failure-description';
import { resolveBackupConfiguration, resolveTarget } from '../domain/resource-set';
import { loadResourceFiles } from '../domain/resource-files';
import { API_VERSION } from '../domain/resources';
import { diffFingerprints, fingerprintDatabase, fingerprintSize } from '../stack/database-fingerprint';
import { dbkeepWorkerCommand, defaultDevDir, DEV_REPOSITORY_NAME, devStackUp } from '../stack/dev-stack';
import {
  pathWithReleaseTools,
  startDatabaseInstance,
  type DatabaseInstance as MariaDbInstance,
  type DatabaseRelease,
} from '../stack/database-instance';
import { sakilaDatasetFiles } from '../stack/sakila-dataset';
import { loadSqlFiles } from '../stack/sql-loader';

/**
 * The README's first command: the embedded stack, a database server loaded with Sakila, a backup
 * through Temporal into MinIO, a restore into a second fresh server, and a check that every
 * table, view, trigger, routine and event came back identical. `--engine mysql` runs it on
 * MySQL 9.7 with GTIDs on instead of MariaDB 10.11.
 */
const DATABASE = 'sakila';
const CONFIGURATION = 'demo-sakila';

const ENGINES: Record<string, { release: DatabaseRelease; gtid: boolean; name: string }> = {
  mariadb: { release: 'mariadb-10.11', gtid: false, name: 'MariaDB 10.11' },
  mysql: { release: 'mysql-9.7', gtid: true, name: 'MySQL 9.7' },
};

/** `--engine mariadb|mysql` (default mariadb): the only option the demo takes. */
function engineFromArgv(argv: readonly string[]): (typeof ENGINES)[string] {
  const [flag, value, ...rest] = argv;
  if (flag === undefined) return ENGINES.mariadb!;
  const engine =
    flag === '--engine' ? ENGINES[value ?? ''] : flag.startsWith('--engine=') ? ENGINES[flag.slice('--engine='.length)] : undefined;
  if (engine === undefined || rest.length > 0) {
    process.stderr.write('usage: npm run demo [-- --engine mariadb|mysql]\n');
    process.exit(2);
  }
  return engine;
}

function say(line: string): void {
  console.log(`dbkeep demo: ${line}`);
}

async function withRoot<T>(instance: MariaDbInstance, use: (c: Awaited<ReturnType<typeof createConnection>>) => Promise<T>) {
  const connection = await createConnection({ socketPath: instance.socket, user: 'root', password: instance.rootPassword });
  try {
    return await use(connection);
  } finally {
    await connection.end();
  }
}

function demoResourcesYaml(dir: string, source: MariaDbInstance, restored: MariaDbInstance): string {
  const target = (name: string, instance: MariaDbInstance) => {
    const passwordFile = path.join(dir, `${name}.password`);
    writeFileSync(passwordFile, instance.rootPassword, { mode: 0o600 });
    return {
      apiVersion: API_VERSION,
      kind: 'Target',
      metadata: { name },
      spec: { engine: instance.engine, host: instance.host, port: instance.port, user: 'root', password: { file: passwordFile } },
    };
  };
  const documents = [
    target('demo-source', source),
    target('demo-restored', restored),
    {
      apiVersion: API_VERSION,
      kind: 'BackupConfiguration',
      metadata: { name: CONFIGURATION },
      spec: { target: 'demo-source', repository: DEV_REPOSITORY_NAME, databases: [DATABASE], compression: 'zstd' },
    },
  ];
  return documents.map((d) => stringify(d)).join('---\n');
}

async function runDemo(engine: (typeof ENGINES)[string]): Promise<void> {
  // Sakila is loaded with the engine's own client, as its users would.
  process.env.PATH = pathWithReleaseTools(engine.release);
  const { state } = await devStackUp({ dir: defaultDevDir(), workerCommand: dbkeepWorkerCommand() });
  say(`stack up: Temporal ${state.temporal.address}, UI ${state.temporal.uiUrl}, MinIO ${state.minio.endpoint}`);

  const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-demo-'));
  const instances: MariaDbInstance[] = [];
  try {
    const start = (name: string) =>
      startDatabaseInstance({
        release: engine.release,
        gtid: engine.gtid || undefined,
        dir: path.join(dir, name),
        rootPassword: randomBytes(12).toString('base64url'),
      });
    const source = await start('source');
    instances.push(source);
    const restored = await start('restored');
    instances.push(restored);
    await loadSqlFiles(source, sakilaDatasetFiles());
    // Sakila ships no event; one (disabled) event makes the check cover events too.
    await withRoot(source, (c) =>
      c.query(
        `CREATE EVENT ${DATABASE}.purge_old_payments ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM ${DATABASE}.payment WHERE payment_date < '2000-01-01'`,
      ),
    );
    const expected = await withRoot(source, (c) => fingerprintDatabase(c, DATABASE));
    say(`source ${engine.name} on 127.0.0.1:${source.port} loaded with Sakila (${fingerprintSize(expected)})`);

    const resourcesFile = path.join(dir, 'demo-resources.yaml');
    writeFileSync(resourcesFile, demoResourcesYaml(dir, source, restored));
    const resources = await loadResourceFiles([state.resourcesFile, resourcesFile]);

    const client = await DbkeepClient.connect({ address: state.temporal.address, namespace: state.temporal.namespace });
    try {
      const progress = (line: string) => say(`  ${line}`);
      const backup = await client.backupNow(resolveBackupConfiguration(resources, CONFIGURATION));
      say(`backup session ${backup.workflowId} started`);
      const snapshot = await waitShowingProgress(backup.result(), () => client.describeSession(backup.workflowId), progress, 1_000);
      if (snapshot.outcome !== 'succeeded') throw new Error(`backup skipped: ${snapshot.runningSession} was running`);
      say(
        `snapshot ${snapshot.snapshotId} committed: ${snapshot.storedBytes} bytes stored, ${snapshot.rawBytes} bytes of SQL, sha256 ${snapshot.sha256}`,
      );

      const restore = await client.restore({
        repository: resolveBackupConfiguration(resources, CONFIGURATION).repository,
        configuration: CONFIGURATION,
        target: resolveTarget(resources, 'demo-restored'),
        selector: { snapshotId: snapshot.snapshotId },
      });
      say(`restore session ${restore.workflowId} started`);
      await waitShowingProgress(restore.result(), () => client.describeSession(restore.workflowId), progress, 1_000);
      const actual = await withRoot(restored, (c) => fingerprintDatabase(c, DATABASE));
      const differences = diffFingerprints(expected, actual);
      if (differences.length > 0) throw new Error(`restored database differs from the source:\n  ${differences.join('\n  ')}`);

      const link = (id: string) => `${state.temporal.uiUrl}/namespaces/${state.temporal.namespace}/workflows/${encodeURIComponent(id)}`;
      say(`sessions in the Temporal UI: ${link(backup.workflowId)}`);
      say(`                             ${link(restore.workflowId)}`);
      say(`the stack keeps running for you to look around; stop it with: node bin/dbkeep.js dev down`);
      say(
        `OK: Sakila on ${engine.name} backed up and restored through Temporal; ${fingerprintSize(actual)} identical (CHECKSUM TABLE and definitions). Temporal UI: ${state.temporal.uiUrl}`,
      );
    } finally {
      await client.close();
    }
  } finally {
    for (const instance of instances) await instance.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

runDemo(engineFromArgv(process.argv.slice(2))).catch((error: unknown) => {
  const failure = describeFailure(error);
  process.stderr.write(`dbkeep demo: FAILED: ${failure.type ? `${failure.type}: ` : ''}${failure.message}\n`);
  process.exit(1);
});
