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
  const selfSignedCa = (name: string, subject: string) =>
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      file(`${name}-key.pem`),
      '-out',
      file(`${name}.pem`),
      '-days',
      '2',
      '-subj',
      subject,
    ]);
  const signed = async (name: string, subject: string, ca: string, extensions: string) => {
    await run('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      file(`${name}-key.pem`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      subject,
    ]);
    writeFileSync(file(`${name}.ext`), extensions);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file(`${ca}.pem`),
      '-CAkey',
      file(`${ca}-key.pem`),
      '-CAcreateserial',
      '-out',
      file(`${name}.pem`),
      '-days',
      '2',
      '-extfile',
      file(`${name}.ext`),
    ]);
  };
  await selfSignedCa('ca', '/CN=dbkeep test CA');
  await selfSignedCa('other-ca', '/CN=some other CA');
  await signed('server', '/CN=dbkeep test server', 'ca', 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  // Signed for the server's own key, so a server restarted with it keeps its key.
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca-key.pem'),
    '-CAcreateserial',
    '-out',
    file('server-wrong-name.pem'),
    '-days',
    '2',
    '-extfile',
    writeExtensions(file('wrong-name.ext'), 'subjectAltName=DNS:db.example.com\nbasicConstraints=CA:FALSE\n'),
  ]);
  await signed('client', '/CN=dbkeep-backup', 'ca', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  await signed('stranger', '/CN=dbkeep-backup', 'other-ca', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
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

function writeExtensions(file: string, text: string): string {
  writeFileSync(file, text);
  return file;
}
