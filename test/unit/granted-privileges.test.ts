import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { requirePrivileges } from '../../activities/granted-privileges';
import { missingBinlogArchivePrivileges } from '../../domain/database-privileges';

describe('requirePrivileges', () => {
  const target = { name: 'shop-db', spec: { engine: 'mysql', host: 'db', port: 3306, user: 'backup' } } as never;
  const lacking = {
    account: "'backup'@'%'",
    activeRoles: '`archiver`@`%`',
    granted: { global: new Set(['REPLICATION CLIENT']), schemas: [], tables: [] },
    notUnderstood: [],
  };
  const check = (privileges: typeof lacking, logged: LogEntry[] = []) =>
    new MockActivityEnvironment({}, { logger: new DefaultLogger('WARN', (entry) => logged.push(entry)) }).run(async () =>
      requirePrivileges(privileges, target, 'archiving the binary log', (granted) => missingBinlogArchivePrivileges('mysql', granted)),
    );

  it('names the missing privilege and the GRANT, for the account or the role it has active', async () => {
    await expect(check(lacking)).rejects.toMatchObject({
      type: 'InsufficientPrivileges',
      message:
        `Target "shop-db": 'backup'@'%' lacks what archiving the binary log needs (REPLICATION SLAVE on *.*); ` +
        "grant it with: GRANT REPLICATION SLAVE ON *.* TO 'backup'@'%' (or to a role it has active: `archiver`@`%`)",
    });
  });

  it('logs and goes on when a grant of the active roles was not understood, which may hold what seems missing', async () => {
    const logged: LogEntry[] = [];
    await check({ ...lacking, notUnderstood: ['GRANT NEW THING ON SOMETHING TO `archiver`@`%`'] } as never, logged);
    expect(logged).toMatchObject([
      {
        level: 'WARN',
        meta: { target: 'shop-db', missing: 'REPLICATION SLAVE on *.*', notUnderstood: ['GRANT NEW THING ON SOMETHING TO `archiver`@`%`'] },
      },
    ]);
  });
});
