import { describe, expect, it } from 'vitest';
import { createBackupActivities } from '../../activities/backup-activities';
import { PermanentFailure } from '../../domain/failures';
import { createSecretResolver } from '../../secrets/secret-resolver';

describe('preflightTarget', () => {
  const { preflightTarget } = createBackupActivities({ secrets: createSecretResolver({}) });
  // Nothing listens there: a preflight that got as far as connecting would fail as TargetUnreachable.
  const target = { name: 'shop-db', spec: { engine: 'mariadb' as const, host: '127.0.0.1', port: 1, user: 'root' } };
  const repository = { name: 'repo', spec: { filesystem: { path: '/backups' } } };

  it('refuses a hand-written configuration or repository as InvalidInput, naming the field, before it connects', async () => {
    const configuration = { name: 'shop', spec: { target: 'shop-db', repository: 'repo', args: ['--so=/run/other.sock'] } };
    const failure = await preflightTarget({ target, configuration, repository } as never).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PermanentFailure);
    expect(failure).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect((failure as Error).message).toMatch(
      /^BackupConfiguration "shop": spec\.args\.0: --so is not allowed: the tool reads it as --socket/,
    );

    const noRepository = await preflightTarget({
      target,
      configuration: { ...configuration, spec: { target: 'shop-db', repository: 'repo' } },
      repository: { name: 'repo', spec: {} },
    } as never).catch((e: unknown) => e);
    expect(noRepository).toMatchObject({
      type: 'InvalidInput',
      nonRetryable: true,
      message: 'Repository "repo": spec: exactly one of s3 or filesystem must be set',
    });
  });
});
