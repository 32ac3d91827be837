import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { pathWithReleaseTools, type DatabaseRelease, type ServerTls } from '../../stack/database-instance';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { createTestCertificates, type TestCertificates } from '../../stack/test-certificates';
import {
  configurationDocument,
  fingerprintDatabases,
  restoreSnapshotInto,
  rootQuery,
  startE2eStack,
  type E2eStack,
} from '../support/e2e-stack';
import { gtidState, waitForArchivedState } from '../support/binlog-archive';
import { AWKWARD_DATABASE, createAwkwardDatabase } from '../support/sample-data';
import { workflowFailureOf } from '../support/workflow-failure';
import { activityRecords, onlyActivity } from '../reliability/fault-harness';

/**
 * TLS to real servers of every engine that require it (require_secure_transport=ON): backups and
 * restores in verify-ca and verify-identity, physical backups (MariaDB) and the binary log archive
 * in verify-identity, with each server counting a TLS handshake for every connection the session
 * made; a user created REQUIRE X509 with its client certificate; and each misconfiguration
 * failing on its first attempt with its own type and the Target's name.
 */
let stack: E2eStack;
let certs: TestCertificates;
const hostPath = process.env.PATH ?? '';
const CERTIFIED_USER = 'certified';
const CERTIFIED_PASSWORD = 'certified-pw';

function serverTls(certFile = certs.serverCertFile): ServerTls {
  return { caFile: certs.caFile, certFile, keyFile: certs.serverKeyFile, requireSecureTransport: true };
}

function tlsTarget(name: string, instance: MariaDbInstance, tls: Record<string, unknown>, user?: { name: string; password: string }) {
  const document = stack.targetDocument(name, instance, user?.password) as { spec: Record<string, unknown> };
  return { ...document, spec: { ...document.spec, ...(user ? { user: user.name } : {}), tls } };
}

/** The BackupConfiguration `configuration` of the Target `target` describes, with `spec` (default: the awkward database, logically). */
function tlsResources(configuration: string, target: object, spec: Record<string, unknown> = { databases: [AWKWARD_DATABASE] }) {
  return stack.resources(
    target,
    configurationDocument(configuration, { target: (target as { metadata: { name: string } }).metadata.name, ...spec }),
  );
}

async function backup(
  configuration: string,
  target: object,
  spec?: Record<string, unknown>,
): Promise<{ snapshotId?: string; workflowId: string; result: Promise<unknown> }> {
  const resources = tlsResources(configuration, target, spec);
  const handle = await stack.client.backupNow(resolveBackupConfiguration(resources, configuration));
  return { workflowId: handle.workflowId, result: handle.result() };
}

/** The server's own counts: connections accepted (over TCP or the socket), and TLS handshakes completed. */
async function connectionCounts(instance: MariaDbInstance): Promise<{ connections: number; tls: number }> {
  const rows = await rootQuery(instance, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Ssl_finished_accepts')");
  const value = (name: string) => Number(rows.find((row) => row.Variable_name === name)?.Value);
  return { connections: value('Connections'), tls: value('Ssl_finished_accepts') };
}

/**
 * Runs `session` and expects the server to have completed a TLS handshake for every connection
 * it accepted meanwhile. Nothing else connects to the server then but the test's root, over the
 * socket (never TLS): the second count's own connection, counted among the connections only.
 */
async function expectEveryConnectionEncrypted<T>(instance: MariaDbInstance, session: () => Promise<T>): Promise<T> {
  const before = await connectionCounts(instance);
  const result = await session();
  const after = await connectionCounts(instance);
  const connections = after.connections - before.connections - 1;
  expect(connections).toBeGreaterThan(0);
  expect(after.tls - before.tls).toBe(connections);
  return result;
}

async function expectFailsAtPreflight(started: { workflowId: string; result: Promise<unknown> }, type: string, mentions: RegExp) {
  const failure = await workflowFailureOf(started.result);
  expect(failure).toMatchObject({ type, nonRetryable: true });
  expect(failure.message).toMatch(mentions);
  const preflight = onlyActivity(await activityRecords(stack.client.temporal, started.workflowId), 'preflightTarget');
  expect(preflight).toMatchObject({ outcome: 'failed', attempt: 1, failure: { type, nonRetryable: true } });
}

beforeAll(async () => {
  stack = await startE2eStack();
  certs = await createTestCertificates(path.join(stack.dir, 'pki'));
});

afterAll(async () => {
  process.env.PATH = hostPath;
  await stack?.stop();
});

const RELEASES: DatabaseRelease[] = ['mariadb-10.11', 'mariadb-11.8', 'mysql-9.7'];

const VERIFYING_MODES = ['verify-ca', 'verify-identity'] as const;

/** The releases whose physical backups (mariadb-backup) run here. */
const PHYSICAL_RELEASES: DatabaseRelease[] = ['mariadb-10.11', 'mariadb-11.8'];

describe.each(RELEASES)('%s requiring TLS', (release) => {
  const configuration = `tls-${release.replace('.', '-')}`;
  let source: MariaDbInstance;
  // Every restore goes into this second TLS-only server, emptied before.
  let into: MariaDbInstance;

  // Each mode names the CA another way.
  const verifying = (mode: string): Record<string, unknown> =>
    mode === 'verify-ca' ? { mode, ca: { file: certs.caFile } } : { mode, caFile: certs.caFile };
  const certified = (tls: Record<string, unknown>) => ({
    ...tls,
    clientCertificate: { certificate: { file: certs.clientCertFile }, key: { file: certs.clientKeyFile } },
  });

  /** Backs up the source as `target` describes, every connection encrypted, and returns the snapshot's id. */
  const backUpSource = (backupConfiguration: string, target: object, spec?: Record<string, unknown>) =>
    expectEveryConnectionEncrypted(source, async () => {
      const result = await (await backup(backupConfiguration, target, spec)).result;
      expect(result).toMatchObject({ outcome: 'succeeded' });
      return (result as { snapshotId: string }).snapshotId;
    });

  /** Restores a snapshot into `into` as `target` describes, every connection encrypted, and expects the source's data there. */
  const restoreIntoSecondServer = async (backupConfiguration: string, snapshotId: string, target: object) => {
    await rootQuery(into, `DROP DATABASE IF EXISTS \`${AWKWARD_DATABASE.replace(/`/g, '``')}\``);
    await expectEveryConnectionEncrypted(into, () => restoreSnapshotInto(stack, backupConfiguration, snapshotId, target));
    expect(await fingerprintDatabases(into, [AWKWARD_DATABASE])).toEqual(await fingerprintDatabases(source, [AWKWARD_DATABASE]));
  };

  beforeAll(async () => {
    // The in-process worker runs the tools it finds on PATH: this engine's, as on its image.
    process.env.PATH = pathWithReleaseTools(release, hostPath);
    source = await stack.startDatabase({ release, tls: serverTls() });
    into = await stack.startDatabase({ release, tls: serverTls() });
    await createAwkwardDatabase(source);
    for (const server of [source, into]) {
      await rootQuery(server, `CREATE USER '${CERTIFIED_USER}'@'127.0.0.1' IDENTIFIED BY '${CERTIFIED_PASSWORD}' REQUIRE X509`);
      await rootQuery(server, `GRANT ALL PRIVILEGES ON *.* TO '${CERTIFIED_USER}'@'127.0.0.1'`);
    }
  });

  afterAll(() => {
    process.env.PATH = hostPath;
  });

  it.each(VERIFYING_MODES)(
    'backs up and restores in %s into another TLS-only server with identical data, every connection encrypted',
    async (mode) => {
      const snapshotId = await backUpSource(`${configuration}-${mode}`, tlsTarget(`source-${mode}`, source, verifying(mode)));
      await restoreIntoSecondServer(`${configuration}-${mode}`, snapshotId, tlsTarget(`restored-${mode}`, into, verifying(mode)));
    },
  );

  // MariaDB's only: MySQL's physical backups run Percona's xtrabackup, which cannot be installed
  // here (docs/security.md), so MySQL 9.7 has no physical case.
  if (PHYSICAL_RELEASES.includes(release)) {
    it('takes a physical backup with mariadb-backup in verify-identity, every connection encrypted', async () => {
      const target = tlsTarget('physical', source, verifying('verify-identity'));
      // The in-process worker runs beside the server: it reads the data directory where it is.
      await backUpSource(
        `${configuration}-physical`,
        { ...target, spec: { ...target.spec, datadir: source.datadir } },
        { method: 'physical' },
      );
    });
  }

  it('backs up and restores as a user created REQUIRE X509 with its client certificate', async () => {
    const user = { name: CERTIFIED_USER, password: CERTIFIED_PASSWORD };
    const x509 = `${configuration}-x509`;
    const snapshotId = await backUpSource(x509, tlsTarget('certified', source, certified(verifying('verify-identity')), user));
    await restoreIntoSecondServer(x509, snapshotId, tlsTarget('certified-into', into, certified(verifying('verify-ca')), user));
  });

  it('refuses that user without a client certificate, saying where to give one', async () => {
    const started = await backup(
      `${configuration}-no-cert`,
      tlsTarget(
        'uncertified',
        source,
        { mode: 'verify-identity', caFile: certs.caFile },
        { name: CERTIFIED_USER, password: CERTIFIED_PASSWORD },
      ),
    );
    await expectFailsAtPreflight(started, 'AuthenticationFailed', /Target "uncertified".*spec\.tls\.clientCertificate/);
  });

  it('fails with TlsVerificationFailed on the first attempt when the CA did not sign the server certificate', async () => {
    const started = await backup(
      `${configuration}-wrong-ca`,
      tlsTarget('wrong-ca', source, { mode: 'verify-ca', caFile: certs.otherCaFile }),
    );
    await expectFailsAtPreflight(started, 'TlsVerificationFailed', /Target "wrong-ca".*spec\.tls\.ca/);
  });

  it('fails with TlsRequired on the first attempt when the Target disables TLS', async () => {
    const started = await backup(`${configuration}-plain`, tlsTarget('plain', source, { mode: 'disabled' }));
    await expectFailsAtPreflight(started, 'TlsRequired', /Target "plain".*requires TLS.*spec\.tls\.mode/);
  });
});

/**
 * The binary log archive's connections to a TLS-only server in verify-identity: its own checks
 * (mysql2) and the replication client (mariadb-binlog, mysqlbinlog), one server per family. The
 * servers above have no binary log with GTIDs, which the archive needs (MariaDB writes none by
 * default, MySQL one without GTIDs): these start with one.
 */
describe.each([
  { name: 'MariaDB 11.8', release: 'mariadb-11.8', extraArgs: ['--log-bin=binlog', '--server-id=1'] },
  { name: 'MySQL 9.7', release: 'mysql-9.7', gtid: true, extraArgs: ['--server-id=1'] },
] satisfies Array<{ name: string; release: DatabaseRelease; gtid?: boolean; extraArgs: string[] }>)(
  'the binary log archive of a TLS-only $name server',
  ({ release, gtid, extraArgs }) => {
    const configuration = `tls-archive-${release.replace('.', '-')}`;
    let server: MariaDbInstance;

    beforeAll(async () => {
      process.env.PATH = pathWithReleaseTools(release, hostPath);
      server = await stack.startDatabase({ release, gtid, extraArgs, tls: serverTls() });
      await createAwkwardDatabase(server);
    });

    afterAll(async () => {
      // Already stopped unless the test failed before it did.
      await stack.client.stopArchive(configuration);
      process.env.PATH = hostPath;
    });

    it('archives the binary log in verify-identity, every connection of the archive encrypted', async () => {
      const written = await gtidState(server);
      const resources = tlsResources(configuration, tlsTarget('archived', server, { mode: 'verify-identity', caFile: certs.caFile }), {
        databases: [AWKWARD_DATABASE],
        pointInTimeRecovery: { enabled: true, uploadInterval: '1s' },
      });
      await expectEveryConnectionEncrypted(server, async () => {
        expect(await stack.client.applyResources(resources)).toMatchObject([{ configuration, archive: 'started' }]);
        await waitForArchivedState(stack, configuration, written, 90_000);
        // Stopped before the server counts again: the replication client's connection is then over.
        expect(await stack.client.stopArchive(configuration)).toBe(true);
      });
    });
  },
);

describe('certificates that do not match', () => {
  // MySQL's: MariaDB's tools check the name in verify-ca too (domain/target-tls.ts).
  it('fails verify-identity with TlsVerificationFailed when the certificate names another host, and verify-ca accepts it', async () => {
    process.env.PATH = pathWithReleaseTools('mysql-9.7', hostPath);
    try {
      const server = await stack.startDatabase({ release: 'mysql-9.7', tls: serverTls(certs.wrongNameCertFile) });
      await createAwkwardDatabase(server);
      const strict = await backup('tls-wrong-name', tlsTarget('elsewhere', server, { mode: 'verify-identity', caFile: certs.caFile }));
      await expectFailsAtPreflight(strict, 'TlsVerificationFailed', /Target "elsewhere".*127\.0\.0\.1/);
      const lenient = await backup('tls-wrong-name-ca', tlsTarget('elsewhere-ca', server, { mode: 'verify-ca', caFile: certs.caFile }));
      await expect(lenient.result).resolves.toMatchObject({ outcome: 'succeeded' });
    } finally {
      process.env.PATH = hostPath;
    }
  });

  it('fails with TlsClientCertificateRejected when the server does not trust the client certificate', async () => {
    const started = await backup(
      'tls-stranger',
      tlsTarget('stranger', await stack.startDatabase({ tls: serverTls() }), {
        mode: 'verify-identity',
        caFile: certs.caFile,
        clientCertificate: { certificate: { file: certs.strangerCertFile }, key: { file: certs.strangerKeyFile } },
      }),
    );
    await expectFailsAtPreflight(started, 'TlsClientCertificateRejected', /Target "stranger".*spec\.tls\.clientCertificate/);
  });

  it('fails with TlsUnavailable when the Target requires TLS and the server has none', async () => {
    const server = await stack.startDatabase({ extraArgs: ['--skip-ssl'] });
    await createAwkwardDatabase(server);
    const started = await backup('tls-unavailable', tlsTarget('no-tls', server, { mode: 'required' }));
    await expectFailsAtPreflight(started, 'TlsUnavailable', /Target "no-tls".*offers no TLS/);
  });
});

describe('the default, preferred', () => {
  it("lets MariaDB 11.8's tools, which demand TLS by themselves, back up a MariaDB 10.11 server without TLS", async () => {
    const server = await stack.startDatabase({ extraArgs: ['--skip-ssl'] });
    await createAwkwardDatabase(server);
    process.env.PATH = pathWithReleaseTools('mariadb-11.8', hostPath);
    try {
      const started = await backup('tls-preferred', stack.targetDocument('plain-server', server));
      await expect(started.result).resolves.toMatchObject({ outcome: 'succeeded' });
    } finally {
      process.env.PATH = hostPath;
    }
  });
});
