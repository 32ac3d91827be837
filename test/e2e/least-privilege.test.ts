import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBackupConfiguration, resolveTarget } from '../../domain/resource-set';
import { pathWithReleaseTools, startDatabaseInstance, type DatabaseRelease } from '../../stack/database-instance';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import {
  configurationDocument,
  fingerprintDatabases,
  restoreSnapshotInto,
  rootQuery,
  startE2eStack,
  type E2eStack,
} from '../support/e2e-stack';
import { createFeatureDatabase, FEATURES_DATABASE } from '../support/feature-database';
import { workflowFailureOf } from '../support/workflow-failure';
import { activityRecords, onlyActivity } from '../reliability/fault-harness';

/**
 * A backup user with exactly the grants docs/security.md lists backs up a database with a view,
 * a trigger, a routine and an event, and the restore has every one of them; a user lacking one
 * grant fails at the preflight, before any dump, naming it and the GRANT that fixes it; both again
 * for a user whose privileges all come through its default role. The same for a physical backup
 * (mariadb-backup) of a server that writes a binary log. A restore user with
 * the documented grants restores into a new database and over an existing one; without the grant
 * on dbkeep's work schemas it fails at once, leaving the existing database as it was.
 */
let stack: E2eStack;
const hostPath = process.env.PATH ?? '';

interface GrantCase {
  release: DatabaseRelease;
  /** The documented minimal grants, as run. */
  grants: string[];
  /** The one left out for the second user: what the failure says between the account and the account again. */
  withoutLast: string;
}

const CASES: GrantCase[] = [
  {
    release: 'mariadb-10.11',
    grants: [`GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON \`${FEATURES_DATABASE}\`.* TO ?`, 'GRANT SELECT ON mysql.proc TO ?'],
    withoutLast: 'lacks what a logical backup needs (SELECT on mysql.proc); grant it with: GRANT SELECT ON `mysql`.`proc` TO ',
  },
  {
    release: 'mariadb-11.8',
    grants: [`GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON \`${FEATURES_DATABASE}\`.* TO ?`, 'GRANT SELECT ON mysql.proc TO ?'],
    withoutLast: 'lacks what a logical backup needs (SELECT on mysql.proc); grant it with: GRANT SELECT ON `mysql`.`proc` TO ',
  },
  {
    release: 'mysql-9.7',
    grants: ['GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON *.* TO ?', 'GRANT PROCESS ON *.* TO ?'],
    withoutLast: 'lacks what a logical backup needs (PROCESS on *.*); grant it with: GRANT PROCESS ON *.* TO ',
  },
];

/** A backup user holding `grants` (each `?` its grantee): its own, or only through `role`, its default role. */
async function createBackupUser(instance: MariaDbInstance, user: string, grants: readonly string[], role?: string) {
  const account = `'${user}'@'127.0.0.1'`;
  const grantee = role ? `\`${role}\`` : account;
  await rootQuery(instance, `CREATE USER ${account} IDENTIFIED BY 'backup-pw'`);
  if (role) await rootQuery(instance, `CREATE ROLE ${grantee}`);
  for (const grant of grants) await rootQuery(instance, grant.replace('?', grantee));
  if (!role) return;
  await rootQuery(instance, `GRANT ${grantee} TO ${account}`);
  await rootQuery(instance, `SET DEFAULT ROLE ${grantee} ${instance.engine === 'mysql' ? 'TO' : 'FOR'} ${account}`);
}

beforeAll(async () => {
  stack = await startE2eStack();
});

afterAll(async () => {
  process.env.PATH = hostPath;
  await stack?.stop();
});

describe.each(CASES)('$release, logical', ({ release, grants, withoutLast }) => {
  let source: MariaDbInstance;
  let into: MariaDbInstance;
  const configuration = `least-${release.replace('.', '-')}`;
  // As CURRENT_ROLE() names it: MySQL's roles have a host.
  const activeRole = (role: string) => (release === 'mysql-9.7' ? `\`${role}\`@\`%\`` : `\`${role}\``);

  beforeAll(async () => {
    process.env.PATH = pathWithReleaseTools(release, hostPath);
    source = await stack.startDatabase({ release });
    await createFeatureDatabase(source);
    for (const [index, grantsOfUser] of [grants, grants.slice(0, -1)].entries()) {
      await createBackupUser(source, `backup-${index}`, grantsOfUser);
      await createBackupUser(source, `role-${index}`, grantsOfUser, `backup_role_${index}`);
    }
    into = await stack.startDatabase({ release });
  });

  afterAll(() => {
    process.env.PATH = hostPath;
  });

  const backupAs = async (user: string) => {
    const target = stack.targetDocument(`as-${user}`, source, 'backup-pw') as { spec: Record<string, unknown> };
    const resources = stack.resources(
      { ...target, spec: { ...target.spec, user } },
      configurationDocument(configuration, { target: `as-${user}`, databases: [FEATURES_DATABASE] }),
    );
    return stack.client.backupNow(resolveBackupConfiguration(resources, configuration));
  };

  it.each([
    ['exactly the documented grants', 'backup-0'],
    ['them only through its default role', 'role-0'],
  ])('backs up as a user holding %s, and the restore has every view, trigger, routine and event', async (_, user) => {
    const { snapshotId } = (await (await backupAs(user)).result()) as { snapshotId: string };
    await rootQuery(into, `DROP DATABASE IF EXISTS \`${FEATURES_DATABASE}\``);
    await restoreSnapshotInto(stack, configuration, snapshotId, stack.targetDocument('restored', into));
    const restored = await fingerprintDatabases(into, [FEATURES_DATABASE]);
    expect(restored).toEqual(await fingerprintDatabases(source, [FEATURES_DATABASE]));
    expect(Object.keys(restored[FEATURES_DATABASE]!.routines).length).toBeGreaterThan(0);
  });

  it.each([
    ['the user lacks one of them', 'backup-1', undefined],
    ['its default role lacks one of them', 'role-1', 'backup_role_1'],
  ])('fails at the preflight, before any dump, when %s, naming it and the GRANT', async (_, user, role) => {
    const handle = await backupAs(user);
    const failure = await workflowFailureOf(handle.result());
    expect(failure).toMatchObject({ type: 'InsufficientPrivileges', nonRetryable: true });
    const account = `'${user}'@'127.0.0.1'`;
    expect(failure.message).toBe(
      `Target "as-${user}": ${account} ${withoutLast}${account}` + (role ? ` (or to a role it has active: ${activeRole(role)})` : ''),
    );
    const activities = await activityRecords(stack.client.temporal, handle.workflowId);
    expect(onlyActivity(activities, 'preflightTarget')).toMatchObject({ outcome: 'failed', attempt: 1 });
    expect(activities.map((a) => a.activityType)).not.toContain('dumpToRepository');
  });
});

describe.each(['mariadb-10.11', 'mariadb-11.8'] as const)('%s, physical', (release) => {
  let source: MariaDbInstance;
  const configuration = `physical-least-${release.replace('.', '-')}`;

  beforeAll(async () => {
    // The replica worker that prepares the restore is a process of its own and inherits this PATH.
    process.env.PATH = pathWithReleaseTools(release, hostPath);
    source = await stack.startDatabase({ release, extraArgs: ['--log-bin=binlog'] });
    await createFeatureDatabase(source);
    for (const [index, privileges] of ['RELOAD, PROCESS, SHOW DATABASES, BINLOG MONITOR', 'RELOAD, PROCESS, SHOW DATABASES'].entries()) {
      const account = `'physical-${index}'@'127.0.0.1'`;
      await rootQuery(source, `CREATE USER ${account} IDENTIFIED BY 'backup-pw'`);
      await rootQuery(source, `GRANT ${privileges} ON *.* TO ${account}`);
    }
  });

  afterAll(() => {
    process.env.PATH = hostPath;
  });

  const resourcesAs = (user: string) => {
    const target = stack.targetDocument(`as-${user}`, source, 'backup-pw') as { spec: Record<string, unknown> };
    return stack.resources(
      { ...target, spec: { ...target.spec, user, datadir: source.datadir } },
      configurationDocument(configuration, { target: `as-${user}`, method: 'physical' }),
    );
  };
  const backupAs = (user: string) => stack.client.backupNow(resolveBackupConfiguration(resourcesAs(user), configuration));

  it('backs up as a user with exactly RELOAD, PROCESS, SHOW DATABASES and BINLOG MONITOR, into a data directory the server starts on', async () => {
    const backup = await (await backupAs('physical-0')).result();
    if (backup.outcome !== 'succeeded') throw new Error('backup skipped');
    const volume = path.join(stack.dir, `${configuration}-volume`);
    const restored = await (
      await stack.client.restoreIntoVolumes({
        repository: resourcesAs('physical-0').repositories.get('repo')!,
        configuration,
        selector: { snapshotId: backup.snapshotId },
        replicas: 1,
        volumeTemplate: volume,
      })
    ).result();
    expect(restored.replicas.map((r) => r.volume)).toEqual([volume]);
    const server = await startDatabaseInstance({
      release,
      dir: `${volume}-run`,
      existingDatadir: volume,
      rootPassword: source.rootPassword,
    });
    try {
      expect(await fingerprintDatabases(server, [FEATURES_DATABASE])).toEqual(await fingerprintDatabases(source, [FEATURES_DATABASE]));
    } finally {
      await server.stop();
    }
  });

  it('fails at the preflight without BINLOG MONITOR, naming it and the GRANT', async () => {
    const handle = await backupAs('physical-1');
    const failure = await workflowFailureOf(handle.result());
    expect(failure).toMatchObject({ type: 'InsufficientPrivileges', nonRetryable: true });
    expect(failure.message).toMatch(
      /lacks what a physical backup needs \(BINLOG MONITOR on \*\.\*\); grant it with: GRANT BINLOG MONITOR ON \*\.\* TO 'physical-1'@'127\.0\.0\.1'/,
    );
    const activities = await activityRecords(stack.client.temporal, handle.workflowId);
    expect(onlyActivity(activities, 'preflightTarget')).toMatchObject({ outcome: 'failed', attempt: 1 });
    expect(activities.map((a) => a.activityType)).not.toContain('dumpToRepository');
  });
});

interface RestoreCase {
  release: DatabaseRelease;
  server: Pick<Parameters<E2eStack['startDatabase']>[0] & object, 'extraArgs' | 'gtid'>;
  /** The documented grants of a restore user on this engine; the first is the one on dbkeep's work schemas. */
  grants: string[];
}

const WORK_SCHEMAS_GRANT = 'GRANT ALL ON `\\_dbkeep\\_%`.* TO ?';
const ON_DATABASE = `GRANT ALL ON \`${FEATURES_DATABASE}\`.* TO ?`;

const RESTORE_CASES: RestoreCase[] = [
  {
    release: 'mariadb-10.11',
    server: { extraArgs: ['--log-bin=binlog'] },
    grants: [WORK_SCHEMAS_GRANT, ON_DATABASE, 'GRANT SELECT ON mysql.proc TO ?', 'GRANT SUPER ON *.* TO ?'],
  },
  {
    release: 'mariadb-11.8',
    server: { extraArgs: ['--log-bin=binlog'] },
    grants: [WORK_SCHEMAS_GRANT, ON_DATABASE, 'GRANT SET USER, SUPER ON *.* TO ?'],
  },
  {
    release: 'mysql-9.7',
    server: { gtid: true },
    grants: [
      WORK_SCHEMAS_GRANT,
      ON_DATABASE,
      'GRANT SUPER, SET_ANY_DEFINER, SYSTEM_USER, SESSION_VARIABLES_ADMIN, SHOW_ROUTINE ON *.* TO ?',
    ],
  },
];

describe.each(RESTORE_CASES)('$release, restore', ({ release, server, grants }) => {
  let source: MariaDbInstance;
  let into: MariaDbInstance;
  let snapshotId: string;
  const configuration = `restore-least-${release.replace('.', '-')}`;

  beforeAll(async () => {
    process.env.PATH = pathWithReleaseTools(release, hostPath);
    source = await stack.startDatabase({ release, ...server });
    await createFeatureDatabase(source);
    const resources = stack.resources(
      stack.targetDocument('source', source),
      configurationDocument(configuration, { target: 'source', databases: [FEATURES_DATABASE] }),
    );
    const backup = await (await stack.client.backupNow(resolveBackupConfiguration(resources, configuration))).result();
    if (backup.outcome !== 'succeeded') throw new Error('backup skipped');
    snapshotId = backup.snapshotId;
    into = await stack.startDatabase({ release, ...server });
    for (const [index, grantsOfUser] of [grants, grants.slice(1)].entries()) {
      const account = `'restore-${index}'@'127.0.0.1'`;
      await rootQuery(into, `CREATE USER ${account} IDENTIFIED BY 'restore-pw'`);
      for (const grant of grantsOfUser) await rootQuery(into, grant.replace('?', account));
    }
  });

  afterAll(() => {
    process.env.PATH = hostPath;
  });

  const restoreAs = async (user: string, overwrite: boolean) => {
    const target = stack.targetDocument('into', into, 'restore-pw') as { spec: Record<string, unknown> };
    const resources = stack.resources(
      { ...target, spec: { ...target.spec, user } },
      configurationDocument(configuration, { target: 'into' }),
    );
    return stack.client.restore({
      repository: resolveBackupConfiguration(resources, configuration).repository,
      configuration,
      target: resolveTarget(resources, 'into'),
      selector: { snapshotId },
      overwrite,
    });
  };

  it('restores as a user with exactly the documented grants, into a new database and over an existing one', async () => {
    const expected = await fingerprintDatabases(source, [FEATURES_DATABASE]);
    await (await restoreAs('restore-0', false)).result();
    expect(await fingerprintDatabases(into, [FEATURES_DATABASE])).toEqual(expected);
    await rootQuery(into, `DROP VIEW \`${FEATURES_DATABASE}\`.doc_titles`);
    await (await restoreAs('restore-0', true)).result();
    expect(await fingerprintDatabases(into, [FEATURES_DATABASE])).toEqual(expected);
  });

  it("fails before the restore starts without the grant on dbkeep's work schemas, naming it, the target unchanged", async () => {
    await rootQuery(into, `DROP VIEW \`${FEATURES_DATABASE}\`.doc_titles`);
    const before = await fingerprintDatabases(into, [FEATURES_DATABASE]);
    const handle = await restoreAs('restore-1', true);
    const failure = await workflowFailureOf(handle.result());
    expect(failure).toMatchObject({ type: 'InsufficientPrivileges', nonRetryable: true });
    expect(failure.message).toBe(
      `Target "into": 'restore-1'@'127.0.0.1' lacks what a restore needs (SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER on \\_dbkeep\\_%.*); ` +
        "grant it with: GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER ON `\\_dbkeep\\_%`.* TO 'restore-1'@'127.0.0.1'",
    );
    const activities = await activityRecords(stack.client.temporal, handle.workflowId);
    expect(onlyActivity(activities, 'inspectRestoreTarget')).toMatchObject({ outcome: 'failed', attempt: 1 });
    expect(activities.map((a) => a.activityType)).not.toContain('restoreFromSnapshot');
    expect(await fingerprintDatabases(into, [FEATURES_DATABASE])).toEqual(before);
  });
});
