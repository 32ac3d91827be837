import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure } from '../../clients/failure-description';
import { resolveBackupConfiguration, resolveTarget, type ResourceSet } from '../../domain/resource-set';
import { API_VERSION } from '../../domain/resources';
import { searchAttributes } from '../../workflows/search-attributes';
import { findFreePort } from '../../stack/free-port';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { activityRecords, onlyActivity, sessionVerdict, stopStack } from './fault-harness';

/**
 * Permanent failures are non-retryable ApplicationFailures with a stable type: the workflow
 * history shows the activity failing on its first attempt with that type, and the session
 * closing at once. (Transient failures retried with backoff are in storage-outage and
 * database-crash; ChecksumMismatch is in corrupt-data.)
 */
let stack: E2eStack;
let source: MariaDbInstance;
let wrongSecretFile: string;
let freePort: number;

interface PermanentCase {
  name: string;
  type: string;
  /** The activity that fails; undefined when the workflow itself rejects its input. */
  activityType?: string;
  /** What the message must name for the user to act on it. */
  mentions: () => RegExp;
  start: () => Promise<string>;
}

async function startBackup(set: ResourceSet, configuration: string): Promise<string> {
  return (await stack.client.backupNow(resolveBackupConfiguration(set, configuration))).workflowId;
}

/** A session input sent as the `temporal` CLI would: no client-side check in between. */
async function startRaw(workflowType: string, workflowId: string, input: unknown): Promise<string> {
  await stack.client.temporal.workflow.start(workflowType, {
    taskQueue: stack.taskQueue,
    workflowId,
    args: [input],
    typedSearchAttributes: [{ key: searchAttributes.sessionKind, value: 'backup' }],
  });
  return workflowId;
}

const shopConfiguration = (name: string, spec: Record<string, unknown>) => configurationDocument(name, { databases: ['shop'], ...spec });

const cases: PermanentCase[] = [
  {
    name: 'a wrong database password',
    type: 'AuthenticationFailed',
    activityType: 'preflightTarget',
    mentions: () => /Target "locked-out"/,
    start: () =>
      startBackup(
        stack.resources(stack.targetDocument('locked-out', source, 'wrong-password'), shopConfiguration('auth', { target: 'locked-out' })),
        'auth',
      ),
  },
  {
    name: 'a database host nothing listens on',
    type: 'TargetUnreachable',
    activityType: 'preflightTarget',
    mentions: () => new RegExp(`127\\.0\\.0\\.1:${freePort}`),
    start: () => {
      const document = stack.targetDocument('nowhere', source) as { spec: Record<string, unknown> };
      return startBackup(
        stack.resources(
          { ...document, spec: { ...document.spec, port: freePort } },
          shopConfiguration('unreachable', { target: 'nowhere' }),
        ),
        'unreachable',
      );
    },
  },
  {
    name: 'a password secret missing on the worker',
    type: 'SecretUnavailable',
    activityType: 'preflightTarget',
    mentions: () => /DBKEEP_RELIABILITY_UNSET_PASSWORD/,
    start: () => {
      const document = stack.targetDocument('no-secret', source) as { spec: Record<string, unknown> };
      const target = { ...document, spec: { ...document.spec, password: { env: 'DBKEEP_RELIABILITY_UNSET_PASSWORD' } } };
      return startBackup(stack.resources(target, shopConfiguration('secret', { target: 'no-secret' })), 'secret');
    },
  },
  {
    name: 'a database the server does not have',
    type: 'UnknownDatabase',
    activityType: 'preflightTarget',
    mentions: () => /"no_such_db"/,
    start: () =>
      startBackup(
        stack.resources(
          stack.targetDocument('shop-db', source),
          shopConfiguration('unknown-db', { target: 'shop-db', databases: ['shop', 'no_such_db'] }),
        ),
        'unknown-db',
      ),
  },
  {
    name: 'a wrong S3 secret key',
    type: 'RepositoryAccessDenied',
    activityType: 'dumpToRepository',
    mentions: () => /s3:\/\/backups\//,
    start: () => {
      const repository = stack.resources().repositories.get('repo')!;
      const s3 = repository.spec.s3!;
      const wrongKeys = {
        apiVersion: API_VERSION,
        kind: 'Repository',
        metadata: { name: 'wrong-keys' },
        spec: { s3: { ...s3, credentials: { accessKeyId: s3.credentials!.accessKeyId, secretAccessKey: { file: wrongSecretFile } } } },
      };
      return startBackup(
        stack.resources(
          wrongKeys,
          stack.targetDocument('shop-db', source),
          shopConfiguration('denied', { target: 'shop-db', repository: 'wrong-keys' }),
        ),
        'denied',
      );
    },
  },
  {
    name: 'a snapshot id that does not exist',
    type: 'SnapshotNotFound',
    activityType: 'resolveSnapshot',
    mentions: () => /20250101T000000000Z-abcdef/,
    start: async () => {
      const set = stack.resources(stack.targetDocument('restored', source), shopConfiguration('shop', { target: 'restored' }));
      const handle = await stack.client.restore({
        repository: set.repositories.get('repo')!,
        configuration: 'shop',
        target: resolveTarget(set, 'restored'),
        selector: { snapshotId: '20250101T000000000Z-abcdef' },
      });
      return handle.workflowId;
    },
  },
  {
    name: 'a statement the target refuses in an overwrite restore (an --init-command calling no function)',
    type: 'RestoreStatementRejected',
    activityType: 'restoreFromSnapshot',
    mentions: () => /ERROR 1305 .*no_such_function.*put back/,
    start: async () => {
      const set = stack.resources(stack.targetDocument('shop-db', source), shopConfiguration('rejected', { target: 'shop-db' }));
      const backup = await (await stack.client.backupNow(resolveBackupConfiguration(set, 'rejected'))).result();
      if (backup.outcome !== 'succeeded') throw new Error('backup skipped');
      // Into the source itself: its `shop` is kept aside, the client's first statement fails, and it is put back.
      const handle = await stack.client.restore({
        repository: set.repositories.get('repo')!,
        configuration: 'rejected',
        target: resolveTarget(set, 'shop-db'),
        selector: { snapshotId: backup.snapshotId },
        overwrite: true,
        args: ['--init-command=DO no_such_function()'],
      });
      return handle.workflowId;
    },
  },
  {
    name: 'a malformed snapshot id sent with the temporal CLI',
    type: 'InvalidInput',
    activityType: 'resolveSnapshot',
    mentions: () => /snapshotId/,
    start: () => {
      const set = stack.resources(stack.targetDocument('restored', source), shopConfiguration('shop', { target: 'restored' }));
      return startRaw('restoreSession', `restore/restored/raw-${randomBytes(3).toString('hex')}`, {
        repository: set.repositories.get('repo')!,
        configuration: 'shop',
        target: resolveTarget(set, 'restored'),
        selector: { snapshotId: '../../../etc/passwd' },
        overwrite: false,
      });
    },
  },
  {
    name: 'a backup input with an out-of-range port sent with the temporal CLI',
    type: 'InvalidInput',
    mentions: () => /port/,
    start: () => {
      const resolved = resolveBackupConfiguration(
        stack.resources(stack.targetDocument('shop-db', source), shopConfiguration('raw-port', { target: 'shop-db' })),
        'raw-port',
      );
      const input = { ...resolved, target: { ...resolved.target, spec: { ...resolved.target.spec, port: 70000 } } };
      return startRaw('backupSession', `backup/raw-port/raw-${randomBytes(3).toString('hex')}`, input);
    },
  },
  {
    name: 'a backup input with a refused tool option sent with the temporal CLI',
    type: 'InvalidInput',
    activityType: 'preflightTarget',
    mentions: () => /BackupConfiguration "raw-args": spec\.args\.0: --ho is not allowed: the tool reads it as --host/,
    start: () => {
      const resolved = resolveBackupConfiguration(
        stack.resources(stack.targetDocument('shop-db', source), shopConfiguration('raw-args', { target: 'shop-db' })),
        'raw-args',
      );
      const input = {
        ...resolved,
        configuration: { ...resolved.configuration, spec: { ...resolved.configuration.spec, args: ['--ho=127.0.0.9'] } },
      };
      return startRaw('backupSession', `backup/raw-args/raw-${randomBytes(3).toString('hex')}`, input);
    },
  },
  {
    name: 'a backup input with neither s3 nor filesystem in its repository sent with the temporal CLI',
    type: 'InvalidInput',
    activityType: 'preflightTarget',
    mentions: () => /Repository "repo": spec: exactly one of s3 or filesystem must be set/,
    start: () => {
      const resolved = resolveBackupConfiguration(
        stack.resources(stack.targetDocument('shop-db', source), shopConfiguration('raw-repository', { target: 'shop-db' })),
        'raw-repository',
      );
      const input = { ...resolved, repository: { ...resolved.repository, spec: {} } };
      return startRaw('backupSession', `backup/raw-repository/raw-${randomBytes(3).toString('hex')}`, input);
    },
  },
  {
    name: 'an empty backup input sent with the temporal CLI',
    type: 'InvalidInput',
    mentions: () => /configuration/,
    start: () => startRaw('backupSession', `backup/raw-empty/raw-${randomBytes(3).toString('hex')}`, {}),
  },
  {
    name: 'an empty restore input sent with the temporal CLI',
    type: 'InvalidInput',
    mentions: () => /repository\.name: required.*target\.spec: required.*`dbkeep input restore`/,
    start: () => startRaw('restoreSession', `restore/raw-empty/raw-${randomBytes(3).toString('hex')}`, {}),
  },
  {
    name: 'a prune input without its repository sent with the temporal CLI',
    type: 'InvalidInput',
    mentions: () => /input: repository\.name: required; repository\.spec: required/,
    start: () => startRaw('pruneSession', `prune/raw-empty/raw-${randomBytes(3).toString('hex')}`, { configuration: 'shop', dryRun: true }),
  },
];

beforeAll(async () => {
  stack = await startE2eStack();
  source = await stack.startMariaDb();
  const connection = await rootConnection(source);
  await connection.query(
    'CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT); INSERT INTO shop.items VALUES (1, "bolt")',
  );
  await connection.end();
  wrongSecretFile = path.join(stack.dir, 'wrong-s3-secret');
  writeFileSync(wrongSecretFile, 'not-the-secret-key', { mode: 0o600 });
  freePort = await findFreePort();
});

afterAll(async () => {
  await stopStack(stack);
});

describe('permanent failures are non-retryable, with a stable type, on the first attempt', () => {
  it.each(cases)('$type: $name', async ({ type, activityType, mentions, start }) => {
    const workflowId = await start();
    const terminate = () =>
      stack.client.temporal.workflow
        .getHandle(workflowId)
        .terminate('test: not closed at once')
        .catch(() => undefined);
    const verdict = await sessionVerdict(stack.client.temporal, workflowId).catch(async (error: unknown) => {
      await terminate();
      throw error;
    });
    if (verdict.kind !== 'closed') await terminate();
    expect(verdict).toEqual({ kind: 'closed', runStatus: 'FAILED' });

    const error = await stack.client.temporal.workflow
      .getHandle(workflowId)
      .result()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const failure = describeFailure(error);
    expect(failure).toMatchObject({ type, nonRetryable: true });
    expect(failure.message).toMatch(mentions());
    if (activityType) {
      const activity = onlyActivity(await activityRecords(stack.client.temporal, workflowId), activityType);
      expect(activity).toMatchObject({ outcome: 'failed', attempt: 1, failure: { type, nonRetryable: true } });
    }
  });
});
