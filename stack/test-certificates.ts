import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files of a small PKI for TLS tests against real servers, all made with openssl. */
export interface TestCertificates {
  /** The CA that signed everything below. */
  caFile: string;
  /** A CA that signed nothing here: a Target given it fails verification. */
  otherCaFile: string;
  /** The server's certificate for 127.0.0.1 (IP SAN), and its key. */
  serverCertFile: string;
  serverKeyFile: string;
  /** The same key, certified for db.example.com only: verifies against the CA but not the host. */
  wrongNameCertFile: string;
  /** A client certificate (CN=dbkeep-backup) and its key, for users created REQUIRE X509. */
  clientCertFile: string;
  clientKeyFile: string;
  /** A client certificate signed by the other CA, which the server refuses. */
  strangerCertFile: string;
  strangerKeyFile: string;
}

export async function createTestCertificates(dir: string): Promise<TestCertificates> {
  mkdirSync(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const key = ['-newkey', 'rsa:2048', '-nodes', '-days', '2'];
  const selfSignedCa = (name: string, subject: string) =>
    run('openssl', ['req', '-x509', ...key, '-keyout', file(`${name}-key.pem`), '-out', file(`${name}.pem`), '-subj', subject]);
  const request = (name: string, subject: string) =>
    run('openssl', ['req', ...key.slice(0, 3), '-keyout', file(`${name}-key.pem`), '-out', file(`${name}.csr`), '-subj', subject]);
  // Certifies the key of the request `csr` as `certificate`, signed by `ca`.
  const certify = (csr: string, certificate: string, ca: string, extensions: string) => {
    writeFileSync(file(`${certificate}.ext`), extensions);
    return run('openssl', [
      'x509',
      '-req',
      '-in',
      file(`${csr}.csr`),
      '-CA',
      file(`${ca}.pem`),
      '-CAkey',
      file(`${ca}-key.pem`),
      '-CAcreateserial',
      '-out',
      file(`${certificate}.pem`),
      '-days',
      '2',
      '-extfile',
      file(`${certificate}.ext`),
    ]);
  };
  const serverExtensions = (names: string) => `subjectAltName=${names}\nbasicConstraints=CA:FALSE\n`;
  const clientExtensions = 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n';
  await selfSignedCa('ca', '/CN=dbkeep test CA');
  await selfSignedCa('other-ca', '/CN=some other CA');
  await request('server', '/CN=dbkeep test server');
  await certify('server', 'server', 'ca', serverExtensions('IP:127.0.0.1'));
  // The server's own key again, certified for another name: a server restarted with it keeps its key.
  await certify('server', 'server-wrong-name', 'ca', serverExtensions('DNS:db.example.com'));
  await request('client', '/CN=dbkeep-backup');
  await certify('client', 'client', 'ca', clientExtensions);
  await request('stranger', '/CN=dbkeep-backup');
  await certify('stranger', 'stranger', 'other-ca', clientExtensions);
  return {
    caFile: file('ca.pem'),
    otherCaFile: file('other-ca.pem'),
    serverCertFile: file('server.pem'),
    serverKeyFile: file('server-key.pem'),
    wrongNameCertFile: file('server-wrong-name.pem'),
    clientCertFile: file('client.pem'),
    clientKeyFile: file('client-key.pem'),
    strangerCertFile: file('stranger.pem'),
    strangerKeyFile: file('stranger-key.pem'),
  };
}
