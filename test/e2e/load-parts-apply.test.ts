import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetSpecSchema } from '../../domain/resources';
import {
  loadDataClientCommand,
  logicalDumpCommand,
  logicalRestoreCommand,
  optionFileContents,
  restoreFilters,
} from '../../domain/tool-commands';
import { applySegmentFile, consecutiveRuns } from '../../pipeline/parallel-apply';
import { stageDumpSegments, type StagedSegmentFile } from '../../pipeline/restore-staging';
import { startDatabaseInstance, type DatabaseInstance } from '../../stack/database-instance';
import { FilesystemStorage } from '../../storage/filesystem-storage';

/**
 * A big table's load parts share one client session (pipeline/parallel-apply.ts): a real dump of
 * a real MariaDB, staged by the real dbkeep-stage in parts of 256 KiB, applied by real clients.
 */
const ROOT_PASSWORD = 'load-parts-pw';
const DATABASE = 'parts';
const ROWS = 30_000;
const dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-load-parts-'));
const optionFile = path.join(dir, 'client.cnf');
const repository = new FilesystemStorage(path.join(dir, 'repository'));
let server: DatabaseInstance;
let root: Connection;
let dump: string;

beforeAll(async () => {
  server = await startDatabaseInstance({ dir: path.join(dir, 'server'), rootPassword: ROOT_PASSWORD });
  writeFileSync(optionFile, optionFileContents(ROOT_PASSWORD), { mode: 0o600 });
  root = await createConnection({ host: server.host, port: server.port, user: 'root', password: ROOT_PASSWORD, multipleStatements: true });
  await root.query(`CREATE DATABASE ${DATABASE}; USE ${DATABASE}; CREATE TABLE big (id INT PRIMARY KEY, h CHAR(64) NOT NULL)`);
  for (let from = 0; from < ROWS; from += 1000) {
    const rows = Array.from({ length: 1000 }, (_, k) => [from + k, `${from + k}`.padStart(64, 'x')]);
    await root.query('INSERT INTO big VALUES ?', [rows]);
  }
  // INSERTs of at most 64 KiB (1 MiB by default), so that parts of 256 KiB cut the table's rows several times.
  const dumpCommand = logicalDumpCommand({ target: target(), optionFile, databases: [DATABASE], extraArgs: ['--net-buffer-length=65536'] });
  dump = execFileSync(dumpCommand.command, dumpCommand.args, { maxBuffer: 1 << 26 }).toString('utf8');
});

afterAll(async () => {
  await root?.end();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function target() {
  return targetSpecSchema.parse({ engine: 'mariadb', host: server.host, port: server.port });
}

let stagings = 0;

/** `sql` stored zstd-compressed, then staged in parts of 256 KiB with big tables' rows as loads. */
async function staged(sql: string): Promise<StagedSegmentFile[]> {
  const name = `dump-${stagings++}`;
  await repository.putBytes(`${name}.sql.zst`, execFileSync('zstd', ['-3', '-c', '-q'], { input: sql, maxBuffer: 1 << 26 }));
  const staging = path.join(dir, name);
  mkdirSync(staging);
  const { segments } = await stageDumpSegments({
    storage: repository,
    key: `${name}.sql.zst`,
    filters: restoreFilters({ algorithm: 'zstd' }),
    dir: staging,
    groupBytes: 1,
    loadData: true,
    partBytes: 256 * 1024,
    controller: new AbortController(),
    progress: { phase: 'staging', bytesRead: 0, bytesWritten: 0 },
  });
  return segments;
}

/** Applies the segments in dump order, one at a time. */
async function apply(segments: readonly StagedSegmentFile[]): Promise<void> {
  const client = logicalRestoreCommand({ target: target(), optionFile });
  const progress = { phase: 'applying', bytesRead: 0, bytesWritten: 0 };
  for (const segment of segments) {
    await applySegmentFile(segment, { client, loadClient: loadDataClientCommand(client), controller: new AbortController(), progress });
  }
}

async function status(name: string): Promise<number> {
  const [rows] = await root.query<RowDataPacket[]>('SHOW GLOBAL STATUS WHERE Variable_name = ?', [name]);
  return Number(rows[0]?.Value);
}

async function tableChecksum(): Promise<string> {
  const [rows] = await root.query<RowDataPacket[]>(`CHECKSUM TABLE ${DATABASE}.big`);
  return String(rows[0]?.Checksum);
}

describe('load parts applied by one client session', () => {
  it('loads consecutive parts of a table in one session, each part checked, and the table as it was', async () => {
    const before = await tableChecksum();
    const segments = await staged(dump);
    const parts = segments.flatMap((segment) => segment.parts);
    const loads = parts.filter((part) => part.kind === 'load');
    expect(loads.length).toBeGreaterThanOrEqual(4);
    const runs = segments.flatMap((segment) => consecutiveRuns(segment.parts));
    // The table's rows come as consecutive loads: one session for all of them.
    expect(runs.filter((run) => run.kind === 'load')).toHaveLength(1);
    const sessions = runs.length;

    await root.query(`DROP DATABASE ${DATABASE}`);
    const [connections, loadStatements] = [await status('Connections'), await status('Com_load')];
    await apply(segments);
    expect(await status('Com_load')).toBe(loadStatements + loads.length);
    expect(await status('Connections')).toBe(connections + sessions);
    expect(await tableChecksum()).toBe(before);
  });

  it('fails, non-retryable and naming the table and the part, when a later part of the run loads a row short', async () => {
    // The first row of the run's third part, read from what the intact dump stages into.
    const intact = (await staged(dump)).flatMap((segment) => consecutiveRuns(segment.parts)).find((run) => run.kind === 'load');
    if (intact?.kind !== 'load') throw new Error('no load run staged');
    const third = intact.parts[2]!;
    const id = Number(readFileSync(third.dataFile, 'utf8').split('\t', 1)[0]);
    // mariadb-dump starts every row on a line of its own: that row becomes a second copy of the one before.
    expect(dump).toContain(`\n(${id},`);
    const segments = await staged(dump.replace(`\n(${id},`, `\n(${id - 1},`));

    await root.query(`DROP DATABASE ${DATABASE}`);
    const failure = await apply(segments).then(
      () => undefined,
      (err: unknown) => err as { type?: string; nonRetryable?: boolean; message: string },
    );
    expect(failure).toMatchObject({ type: 'RestoreStatementRejected', nonRetryable: true });
    const match = /^table `big`: the target loaded (\d+) of its (\d+) rows/.exec(failure!.message);
    expect(match, failure?.message).not.toBeNull();
    // Parts are checked in order, so the two before it in the same session loaded all their rows.
    expect([Number(match![1]), Number(match![2])]).toEqual([third.rows - 1, third.rows]);
    expect(segments.flatMap((segment) => segment.parts).filter((part) => part.kind === 'load')).toHaveLength(intact.parts.length);
  });
});
