import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetSpecSchema } from '../../domain/resources';
import { logicalDumpCommand, logicalRestoreCommand, optionFileContents, type ToolCommand } from '../../domain/tool-commands';
import { pathWithReleaseTools, startDatabaseInstance, type DatabaseRelease, type DatabaseInstance } from '../../stack/database-instance';
import { diffFingerprints, fingerprintDatabase } from '../../stack/database-fingerprint';
import { isPidAlive } from '../../pipeline/managed-process';

const ROOT_PASSWORD = 'engine-servers-pw';
const DATABASE = 'engine_check';
const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

interface FlavorCase {
  release: DatabaseRelease;
  engine: 'mariadb' | 'mysql';
  version: RegExp;
  gtid?: boolean;
  /** What the release's dump tool writes first. */
  dumpFirstLine: RegExp;
}

const RELEASES: FlavorCase[] = [
  // MariaDB's dump tools turn on the client's sandbox first (since 10.5.25/10.6.18/10.11.8/11.x),
  // a line MySQL's client stops on.
  {
    release: 'mariadb-10.11',
    engine: 'mariadb',
    version: /^10\.11\.\d+-MariaDB/,
    dumpFirstLine: /^\/\*M!999999\\- enable the sandbox mode \*\/ $/,
  },
  {
    release: 'mariadb-11.8',
    engine: 'mariadb',
    version: /^11\.8\.\d+-MariaDB/,
    dumpFirstLine: /^\/\*M!999999\\- enable the sandbox mode \*\/ $/,
  },
  { release: 'mysql-9.7', engine: 'mysql', version: /^9\.7\.\d+/, gtid: true, dumpFirstLine: /^-- MySQL dump \d+\.\d+/ },
];

async function rootConnection(instance: DatabaseInstance): Promise<Connection> {
  return createConnection({ host: instance.host, port: instance.port, user: 'root', password: instance.rootPassword });
}

/** Tables, a view, a trigger, routines and an event, with data a careless dump would mangle. */
async function createSampleDatabase(instance: DatabaseInstance): Promise<void> {
  const connection = await rootConnection(instance);
  try {
    await connection.query(`CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4`);
    await connection.query(`USE ${DATABASE}`);
    await connection.query(
      'CREATE TABLE customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL, note TEXT NULL, photo BLOB NULL, joined DATETIME(6) NOT NULL) ENGINE=InnoDB',
    );
    await connection.query(
      'CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2) NOT NULL, FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB',
    );
    const customers: Array<[string, string | null, Buffer | null, string]> = [
      ['Zoë 😀 漢字', 'quotes \' " ` backslash \\ newline\n tab\t', EVERY_BYTE, '2026-01-02 03:04:05.678901'],
      ['Nobody', null, null, '1999-12-31 23:59:59.000000'],
      ['Empty', '', Buffer.alloc(0), '2000-01-01 00:00:00.000001'],
    ];
    for (const row of customers) await connection.query('INSERT INTO customers (name, note, photo, joined) VALUES (?, ?, ?, ?)', row);
    await connection.query('INSERT INTO orders VALUES (1, 1, 250.00), (2, 1, 12.50), (3, 2, 999.99)');
    await connection.query('CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100');
    await connection.query(
      'CREATE TRIGGER orders_not_negative BEFORE INSERT ON orders FOR EACH ROW SET NEW.total = GREATEST(NEW.total, 0)',
    );
    await connection.query('CREATE FUNCTION with_tax(amount DECIMAL(10,2)) RETURNS DECIMAL(10,2) DETERMINISTIC RETURN amount * 1.2');
    await connection.query('CREATE PROCEDURE count_orders(OUT n INT) READS SQL DATA SELECT COUNT(*) INTO n FROM orders');
    await connection.query('CREATE EVENT purge_empty_orders ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM orders WHERE total = 0');
  } finally {
    await connection.end();
  }
}

async function fingerprintOf(instance: DatabaseInstance) {
  const connection = await rootConnection(instance);
  try {
    return await fingerprintDatabase(connection, DATABASE);
  } finally {
    await connection.end();
  }
}

describe.each(RELEASES)('$release', ({ release, engine, version, gtid, dumpFirstLine }) => {
  let dir: string;
  let source: DatabaseInstance;
  let copy: DatabaseInstance;
  let optionFile: string;
  // The tools are found on PATH, as a worker finds them: the release's own first.
  const run = (tool: ToolCommand, input?: Buffer) =>
    execFileSync(tool.command, tool.args, {
      input,
      env: { ...process.env, PATH: pathWithReleaseTools(release) },
      maxBuffer: 64 * 1024 * 1024,
    });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbkeep-engines-'));
    optionFile = path.join(dir, 'client.cnf');
    writeFileSync(optionFile, optionFileContents(ROOT_PASSWORD), { mode: 0o600 });
    const start = (name: string) => startDatabaseInstance({ release, gtid, dir: path.join(dir, name), rootPassword: ROOT_PASSWORD });
    [source, copy] = await Promise.all([start('source'), start('copy')]);
  });

  afterAll(async () => {
    await Promise.all([source?.stop(), copy?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the server it names, root reachable with its password only', async () => {
    expect(source.engine).toBe(engine);
    const connection = await rootConnection(source);
    try {
      const [rows] = await connection.query<RowDataPacket[]>('SELECT VERSION() AS version, CURRENT_USER() AS user');
      expect(rows[0]?.version).toMatch(version);
      expect(rows[0]?.user).toBe('root@127.0.0.1');
      if (engine === 'mysql') {
        const [settings] = await connection.query<RowDataPacket[]>('SELECT @@gtid_mode AS gtidMode, @@log_bin AS logBin');
        expect(settings[0]).toEqual({ gtidMode: gtid ? 'ON' : 'OFF', logBin: 1 });
      }
    } finally {
      await connection.end();
    }
    await expect(createConnection({ socketPath: source.socket, user: 'root', password: 'wrong' })).rejects.toThrow(/Access denied/);
  });

  it('dumps with its own dump tool and loads the dump with its own client, losslessly', async () => {
    await createSampleDatabase(source);
    const target = (instance: DatabaseInstance, where: object) => targetSpecSchema.parse({ engine, port: instance.port, ...where });
    const dumpCommand = logicalDumpCommand({ target: target(source, { host: source.host }), optionFile, databases: [DATABASE] });
    const restoreCommand = logicalRestoreCommand({ target: target(copy, { socket: copy.socket }), optionFile });
    const toolVersion = (command: string) => run({ command, args: ['--version'] }).toString();
    const releaseNumber = release.slice(release.indexOf('-') + 1);
    expect(toolVersion(dumpCommand.command)).toContain(` ${releaseNumber}.`);
    expect(toolVersion(restoreCommand.command)).toContain(` ${releaseNumber}.`);

    const dump = run(dumpCommand);
    expect(dump.toString('utf8').split('\n', 1)[0]).toMatch(dumpFirstLine);
    run(restoreCommand, dump);

    const expected = await fingerprintOf(source);
    expect(Object.keys(expected.tables)).toEqual(['customers', 'orders']);
    expect(Object.keys(expected.views)).toEqual(['big_orders']);
    expect(Object.keys(expected.triggers)).toEqual(['orders_not_negative']);
    expect(Object.keys(expected.routines).sort()).toEqual(['FUNCTION with_tax', 'PROCEDURE count_orders']);
    expect(Object.keys(expected.events)).toEqual(['purge_empty_orders']);
    expect(diffFingerprints(expected, await fingerprintOf(copy))).toEqual([]);
  });

  it('keeps committed rows through kill and restart', async () => {
    const connection = await rootConnection(copy);
    try {
      await connection.query('CREATE DATABASE restart_check');
      await connection.query('CREATE TABLE restart_check.marks (id INT PRIMARY KEY) ENGINE=InnoDB');
      await connection.query('INSERT INTO restart_check.marks VALUES (1), (2)');
    } finally {
      await connection.end();
    }
    const firstPid = copy.pid;
    copy.kill();
    await copy.restart();
    expect(copy.pid).not.toBe(firstPid);
    expect(isPidAlive(firstPid)).toBe(false);
    const afterRestart = await rootConnection(copy);
    try {
      const [rows] = await afterRestart.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM restart_check.marks');
      expect(Number(rows[0]?.n)).toBe(2);
    } finally {
      await afterRestart.end();
    }
  });
});
