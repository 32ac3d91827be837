import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createBackupActivities } from '../../activities/backup-activities';
import { PermanentFailure } from '../../domain/failures';
import { createSecretResolver } from '../../secrets/secret-resolver';

describe('preflightTarget of a Galera target', () => {
  it('fails as the permanent TargetUnreachable when no node accepts connections, naming each node', async () => {
    const { preflightTarget } = createBackupActivities({ secrets: createSecretResolver({}) });
    // Nothing listens on ports 1 and 2 of loopback.
    const target = {
      name: 'galera',
      spec: {
        engine: 'mariadb' as const,
        host: '127.0.0.1',
        port: 1,
        user: 'root',
        galera: { members: [{ host: '127.0.0.1', port: 2 }], ignoreGlobalPriv: true },
      },
    };
    const configuration = { name: 'nightly', spec: { target: 'galera', repository: 'repo' } };
    const repository = { name: 'repo', spec: { filesystem: { path: '/backups' } } };
    const failure = await new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') })
      .run(() => preflightTarget({ target, configuration, repository } as never))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PermanentFailure);
    expect(failure).toMatchObject({ type: 'TargetUnreachable', nonRetryable: true });
    expect((failure as Error).message).toMatch(
      /^Target "galera": no synced Galera node to back up from: 127\.0\.0\.1:1 \(write primary\): unreachable \(.*ECONNREFUSED.*\); 127\.0\.0\.1:2: unreachable \(.*ECONNREFUSED/,
    );
  });
});
