import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DbkeepClient } from '../clients/dbkeep-client';
import { resolveBackupConfiguration } from '../domain/resource-set';
import type { CompressionSpec } from '../domain/resources';
import type { ManagedProcess } from '../pipeline/managed-process';
import { projectRoot } from '../pipeline/project-root';
import { formatResultTable, PEAK_RSS_GOAL_MIB, writeResultFiles, type BackupMemoryResult } from './backup-memory-report';
import { describeEnvironment, resolveSizeMiB, runBenchmarkMain, say } from './bench-run';
import { runBackupSession } from './bench-sessions';
import { benchResources, generateBenchDatabase, startBenchServices, startWorkerProcess } from './bench-stack';
import type { CleanupStack } from './cleanup-stack';
import { planSyntheticDatabase } from './synthetic-database';
import { bytesToMiB, measureWorkerDuring, printWorkerLogTail } from './worker-usage';

/**
 * `npm run bench:memory [-- --size-mb N]`: how much memory a dbkeep worker process needs to
 * stream one logical backup of about N MiB (default 1 GiB) from MariaDB to S3 (MinIO).
 * Exits 1 when the worker's peak RSS reaches the goal, 2 when the benchmark itself fails.
 */
const CONFIGURATION = 'bench-memory';

const describeCompression = ({ algorithm, level }: CompressionSpec): string =>
  level === undefined ? `${algorithm} (default level)` : `${algorithm} level ${level}`;

async function runBenchmark(sizeMiB: number, cleanup: CleanupStack): Promise<BackupMemoryResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-bench-'));
  cleanup.defer(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));

  const services = await startBenchServices(dir, cleanup);
  say(
    `Temporal ${services.temporal.address}, MinIO ${services.minio.endpoint}, ${services.database.engine} 127.0.0.1:${services.database.port} (in ${dir})`,
  );

  const plan = planSyntheticDatabase(sizeMiB);
  say(`generating ${plan.tables.length} tables x ${plan.rowsPerTable} rows (~${sizeMiB} MiB of dump)`);
  const generation = await generateBenchDatabase(services, plan);
  say(`generated in ${generation.seconds.toFixed(1)} s`);

  const client = await DbkeepClient.connect({ address: services.temporal.address, namespace: services.temporal.namespace });
  cleanup.defer('close Temporal client', () => client.close());
  let worker: ManagedProcess | undefined;
  try {
    worker = await startWorkerProcess(dir, services.temporal, client, cleanup);
    say(`worker pid ${worker.pid} polling task queue ${client.taskQueue}`);
    const resolved = resolveBackupConfiguration(
      benchResources(services, [{ name: CONFIGURATION, repository: 'minio', database: plan.database }]),
      CONFIGURATION,
    );
    const session = await measureWorkerDuring(worker, () => runBackupSession(client, resolved));
    const { rawBytes, storedBytes, snapshotId } = session.result.result;
    return {
      measuredAt: new Date().toISOString(),
      goal: { peakRssMiB: PEAK_RSS_GOAL_MIB },
      passed: session.usage.peakRssMiB < PEAK_RSS_GOAL_MIB,
      database: {
        requestedDumpMiB: sizeMiB,
        tables: plan.tables.length,
        rowsPerTable: plan.rowsPerTable,
        generationSeconds: generation.seconds,
      },
      backup: {
        snapshotId,
        compression: describeCompression(resolved.configuration.spec.compression),
        rawBytes,
        storedBytes,
        durationSeconds: session.durationSeconds,
        throughputMiBps: bytesToMiB(rawBytes) / session.durationSeconds,
      },
      worker: session.usage,
      environment: describeEnvironment(generation.server),
    };
  } catch (error) {
    printWorkerLogTail(worker);
    throw error;
  }
}

function sizeFromArguments(): number {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { 'size-mb': { type: 'string' } }, strict: true });
  return resolveSizeMiB(values['size-mb'], process.env);
}

runBenchmarkMain(
  (cleanup) => runBenchmark(sizeFromArguments(), cleanup),
  (result) => {
    console.log(`\n${formatResultTable(result)}\n`);
    for (const file of writeResultFiles(path.join(projectRoot(), 'bench', 'results'), result)) say(`wrote ${file}`);
    return result.passed ? 0 : 1;
  },
);
