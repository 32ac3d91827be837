import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDbkeep, type CommandResult } from '../support/cli-runner';
import { diffFingerprints, fingerprintDatabase } from '../../stack/database-fingerprint';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { AWKWARD_DATABASE, createAwkwardDatabase } from '../support/sample-data';

/**
 * The `dbkeep` CLI as users run it: the built bin/dbkeep.js in a child process (the README's
 * test command builds first), against the real stack and this file's worker.
 */

let stack: E2eStack;
let source: MariaDbInstance;
let target: MariaDbInstance;
let resourcesFile: string;

async function dbkeep(...args: string[]): Promise<CommandResult> {
  return runDbkeep(args, {
    env: { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address, DBKEEP_TASK_QUEUE: stack.taskQueue },
    cwd: stack.dir,
  });
}

async function fingerprintOf(instance: MariaDbInstance) {
  const connection = await rootConnection(instance);
  try {
    return await fingerprintDatabase(connection, AWKWARD_DATABASE);
  } finally {
    await connection.end();
  }
}

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  target = await stack.startMariaDb();
  await createAwkwardDatabase(source);
  resourcesFile = path.join(stack.dir, 'resources.yaml');
  writeFileSync(
    resourcesFile,
    stack.resourcesYaml(
      stack.targetDocument('source', source),
      stack.targetDocument('restored', target),
      stack.targetDocument('locked-out', source, 'wrong-password'),
      configurationDocument('nightly', { target: 'source', databases: [AWKWARD_DATABASE] }),
      configurationDocument('locked-out', { target: 'locked-out' }),
    ),
  );
});

afterAll(async () => {
  await stack?.stop();
});

describe('dbkeep CLI', () => {
  let snapshotId: string;

  it('backs up with --wait --json and reports the committed snapshot', async () => {
    const result = await dbkeep('backup', '-f', resourcesFile, '--config', 'nightly', '--wait', '--json');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as { workflowId: string; snapshotId: string; databases: string[] };
    expect(output.workflowId).toBe(`backup/nightly/${output.snapshotId}`);
    expect(output.databases).toEqual([AWKWARD_DATABASE]);
    snapshotId = output.snapshotId;
    expect(await stack.listKeys('nightly/')).toEqual([`nightly/${snapshotId}/dump.sql.zst`, `nightly/${snapshotId}/manifest.json`]);
  });

  it('lists the snapshot and shows the session status', async () => {
    const listed = await dbkeep('snapshots', '-f', resourcesFile, '--config', 'nightly');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^SNAPSHOT\s+STARTED\s+TARGET\s+DATABASES\s+STORED\s+SQL\s+VERIFIED$/m);
    expect(listed.stdout).toContain(snapshotId);

    const status = await dbkeep('status', `backup/nightly/${snapshotId}`);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`backup/nightly/${snapshotId}: Succeeded`);
    expect(status.stdout).toMatch(/step preflight: done/);
    expect(status.stdout).toMatch(/step dump: done/);
    expect(status.stdout).toMatch(/step commit: done/);
  });

  it('restores with --snapshot --wait into an empty target, identical to the source', async () => {
    const result = await dbkeep(
      'restore',
      '-f',
      resourcesFile,
      '--config',
      'nightly',
      '--to',
      'restored',
      '--snapshot',
      snapshotId,
      '--wait',
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`snapshot ${snapshotId} restored into restored`);
    expect(diffFingerprints(await fingerprintOf(source), await fingerprintOf(target))).toEqual([]);
  });

  it('refuses the same restore again without --overwrite, in one line naming the failure', async () => {
    const result = await dbkeep('restore', '-f', resourcesFile, '--config', 'nightly', '--to', 'restored', '--wait');
    expect(result.code).toBe(1);
    // The session's start line, then the failure as one line.
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^restore session restore\/restored\/\S+ started$/);
    expect(lines[1]).toMatch(/^dbkeep restore: RestoreTargetNotEmpty: Target "restored" already holds .*nothing was changed/);
  });

  it('fails a backup with a wrong password with exit code 1 and AuthenticationFailed', async () => {
    const result = await dbkeep('backup', '-f', resourcesFile, '--config', 'locked-out', '--wait');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/AuthenticationFailed: Target "locked-out" \(127\.0\.0\.1:\d+\): access denied/);
    expect(result.stderr).not.toContain('wrong-password');
  });

  it('rejects invalid resource files and flags before contacting anything, naming the field', async () => {
    const broken = path.join(stack.dir, 'broken.yaml');
    writeFileSync(
      broken,
      'apiVersion: dbkeep.io/v1alpha1\nkind: Target\nmetadata: { name: db }\nspec: { engine: mariadb, host: 127.0.0.1, port: 99999, password: hunter2 }\n',
    );
    const invalid = await dbkeep('backup', '-f', broken, '--config', 'nightly');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('broken.yaml (document 1): Target "db": spec.port');
    expect(invalid.stderr).toContain('spec.password: must be a secret reference');

    const badFlag = await dbkeep('restore', '-f', resourcesFile, '--config', 'nightly', '--to', 'restored', '--at', 'yesterday');
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('--at: must be an RFC 3339 time');

    const unknown = await dbkeep('backup', '-f', resourcesFile, '--config', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no BackupConfiguration named "nope"');
  });
});
