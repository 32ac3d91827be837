import { describe, expect, it } from 'vitest';
import { parseResourceSet } from '../../domain/resource-set';
import { targetSpecSchema } from '../../domain/resources';
import { hostCheckAfterHandshake, mysql2SslOptions, targetTlsSchema, tlsOptionLines, type TlsMode } from '../../domain/target-tls';
import { classifyTlsFailure } from '../../domain/tls-failures';
import { classifyToolFailure } from '../../domain/server-errors';

const files = { ca: '/c/ca.pem', certificate: '/c/cert.pem', key: '/c/key.pem' };

describe('tlsOptionLines', () => {
  it.each<[TlsMode, string[], string[]]>([
    [
      'preferred',
      ['ssl-mode=PREFERRED', 'ssl-cert=/c/cert.pem', 'ssl-key=/c/key.pem'],
      ['ssl', 'ssl-verify-server-cert=0', 'ssl-cert=/c/cert.pem', 'ssl-key=/c/key.pem'],
    ],
    ['disabled', ['ssl-mode=DISABLED', 'get-server-public-key'], ['skip-ssl']],
    [
      'required',
      ['ssl-mode=REQUIRED', 'ssl-cert=/c/cert.pem', 'ssl-key=/c/key.pem'],
      ['ssl', 'ssl-verify-server-cert=0', 'ssl-cert=/c/cert.pem', 'ssl-key=/c/key.pem'],
    ],
    [
      'verify-ca',
      ['ssl-mode=VERIFY_CA', 'ssl-ca=/c/ca.pem', 'ssl-cert=/c/cert.pem', 'ssl-key=/c/key.pem'],
      ['ssl', 'ssl-verify-server-cert=1', 'ssl-ca=/c/ca.pem', 'ssl-cert=/c/cert.pem', 'ssl-key=/c/key.pem'],
    ],
    [
      'verify-identity',
      ['ssl-mode=VERIFY_IDENTITY', 'ssl-ca=/c/ca.pem', 'ssl-cert=/c/cert.pem', 'ssl-key=/c/key.pem'],
      ['ssl', 'ssl-verify-server-cert=1', 'ssl-ca=/c/ca.pem', 'ssl-cert=/c/cert.pem', 'ssl-key=/c/key.pem'],
    ],
  ])('%s: MySQL tools %j, MariaDB tools %j', (mode, mysqlLines, mariadbLines) => {
    expect(tlsOptionLines('mysql', mode, files)).toEqual(mysqlLines);
    expect(tlsOptionLines('mariadb', mode, files)).toEqual(mariadbLines);
  });

  it('gives no CA to the tools unless they verify with it (MariaDB checks any CA it is given)', () => {
    expect(tlsOptionLines('mariadb', 'required', { ca: '/c/ca.pem' })).not.toContain('ssl-ca=/c/ca.pem');
    expect(tlsOptionLines('mysql', 'required', { ca: '/c/ca.pem' })).not.toContain('ssl-ca=/c/ca.pem');
  });
});

describe('mysql2SslOptions', () => {
  const pems = { ca: 'CA', certificate: 'CERT', key: 'KEY' };
  it.each<[TlsMode, unknown]>([
    ['disabled', undefined],
    ['preferred', { cert: 'CERT', key: 'KEY', rejectUnauthorized: false, verifyIdentity: false }],
    ['required', { cert: 'CERT', key: 'KEY', rejectUnauthorized: false, verifyIdentity: false }],
    ['verify-ca', { ca: 'CA', cert: 'CERT', key: 'KEY', rejectUnauthorized: true, verifyIdentity: false }],
    ['verify-identity', { ca: 'CA', cert: 'CERT', key: 'KEY', rejectUnauthorized: true, verifyIdentity: true }],
  ])('%s', (mode, expected) => {
    expect(mysql2SslOptions(mode, pems)).toEqual(expected);
  });

  it('leaves the name check of an IP address to the caller (mysql2 would check "localhost")', () => {
    expect(mysql2SslOptions('verify-identity', pems, { isIpAddress: true })).toMatchObject({
      rejectUnauthorized: true,
      verifyIdentity: false,
    });
    expect(hostCheckAfterHandshake('verify-identity', { isIpAddress: true })).toBe(true);
    expect(hostCheckAfterHandshake('verify-identity', { isIpAddress: false })).toBe(false);
    expect(hostCheckAfterHandshake('verify-ca', { isIpAddress: true })).toBe(false);
  });
});

describe('spec.tls', () => {
  it('defaults to preferred', () => {
    expect(targetTlsSchema.parse({})).toEqual({ mode: 'preferred' });
  });

  it('takes caFile as the file reference it stands for, which parses again unchanged', () => {
    const parsed = targetTlsSchema.parse({ mode: 'verify-ca', caFile: '/etc/mysql/ca.pem' });
    expect(parsed).toEqual({ mode: 'verify-ca', ca: { file: '/etc/mysql/ca.pem' } });
    expect(targetTlsSchema.parse(parsed)).toEqual(parsed);
  });

  it('takes a caBundle (base64 of PEM certificates), and refuses anything else in it', () => {
    const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
    expect(targetTlsSchema.parse({ mode: 'verify-ca', caBundle })).toEqual({ mode: 'verify-ca', caBundle });
    const refused = targetTlsSchema.safeParse({ mode: 'verify-ca', caBundle: Buffer.from('not a certificate').toString('base64') });
    expect(refused.error?.issues[0]).toMatchObject({ path: ['caBundle'], message: expect.stringContaining('must be base64 of PEM') });
  });

  it.each([
    ['verify-ca', { host: 'db.example.com' }],
    ['verify-identity', { host: 'db.example.com' }],
  ])('refuses mode %s without a CA in a Target, and defers to an AppBinding, which may bring its caBundle', (mode, address) => {
    const refused = targetSpecSchema.safeParse({ engine: 'mariadb', ...address, tls: { mode } });
    expect(refused.error?.issues[0]).toMatchObject({
      path: ['tls', 'ca'],
      message: expect.stringContaining(`is required with mode ${mode}`),
    });
    expect(targetSpecSchema.safeParse({ engine: 'mariadb', appBinding: { name: 'shop' }, tls: { mode } }).success).toBe(true);
  });

  it.each([
    [{ mode: 'disabled', ca: { file: '/ca.pem' } }, 'ca', 'is never used with mode disabled'],
    [
      { mode: 'preferred', clientCertificate: { certificate: { file: '/c' }, key: { file: '/k' } } },
      'clientCertificate',
      'needs TLS for certain',
    ],
    [{ mode: 'strict' }, 'mode', 'Invalid option'],
    [{ mode: 'required', cafile: '/ca.pem' }, '', 'Unrecognized key'],
    [{ mode: 'verify-ca', caFile: 'ca.pem' }, 'caFile', 'must be an absolute path'],
    [{ mode: 'verify-ca', caFile: '/ca.pem', ca: { env: 'CA' } }, 'caFile', 'set one of caFile, ca and caBundle, not several'],
  ])('refuses %j, naming %s', (tls, field, message) => {
    const result = targetTlsSchema.safeParse(tls);
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path.join('.')).toBe(field);
    expect(issue.message).toContain(message);
  });

  it('refuses TLS over a socket, naming the field in the Target', () => {
    const yaml = `apiVersion: dbkeep.io/v1alpha1
kind: Target
metadata: { name: local }
spec: { engine: mariadb, socket: /run/mysqld/mysqld.sock, tls: { mode: required } }
`;
    expect(() => parseResourceSet([{ file: 'target.yaml', text: yaml }])).toThrow(
      /Target "local".*spec\.tls\.mode: TLS does not apply to a socket/s,
    );
  });
});

describe('classifyTlsFailure', () => {
  it.each([
    [{ code: 'HANDSHAKE_NO_SSL_SUPPORT', message: 'Server does not support secure connection' }, 'TlsUnavailable'],
    [{ errno: 3159, code: 'ER_SECURE_TRANSPORT_REQUIRED', message: 'Connections using insecure transport are prohibited' }, 'TlsRequired'],
    [{ code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' }, 'TlsVerificationFailed'],
    [{ code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, 'TlsVerificationFailed'],
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, 'TlsVerificationFailed'],
    [{ code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', message: 'tlsv1 alert unknown ca' }, 'TlsClientCertificateRejected'],
    [{ code: 'ERR_OSSL_PEM_NO_START_LINE', message: 'error:0480006C:PEM routines::no start line' }, 'TlsConfigurationInvalid'],
    // mysql2 replaces the code of a failed handshake; the message (and OpenSSL's reason) remain.
    [{ code: 'HANDSHAKE_SSL_ERROR', message: 'self-signed certificate in certificate chain' }, 'TlsVerificationFailed'],
    [{ code: 'HANDSHAKE_SSL_ERROR', message: 'certificate has expired' }, 'TlsVerificationFailed'],
    [
      { code: 'HANDSHAKE_SSL_ERROR', message: 'error:0A000418:SSL routines::tlsv1 alert unknown ca', reason: 'tlsv1 alert unknown ca' },
      'TlsClientCertificateRejected',
    ],
    [{ code: 'HANDSHAKE_SSL_ERROR', message: 'error:05800074:x509 certificate routines::key values mismatch' }, 'TlsConfigurationInvalid'],
    [{ code: 'HANDSHAKE_SSL_ERROR', message: 'wrong version number' }, 'TlsVerificationFailed'],
  ])('%j is %s', (err, type) => {
    expect(classifyTlsFailure(err, 'verify-identity')?.type).toBe(type);
  });

  it('leaves other failures alone', () => {
    expect(classifyTlsFailure({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'verify-ca')).toBeUndefined();
    expect(classifyTlsFailure({ errno: 1045, code: 'ER_ACCESS_DENIED_ERROR' }, 'verify-ca')).toBeUndefined();
  });

  it('makes the tools TLS errors permanent with a reason naming spec.tls', () => {
    expect(
      classifyToolFailure('mariadb-dump: Got error: 2026: "TLS/SSL error: self-signed certificate in certificate chain"'),
    ).toMatchObject({
      permanent: true,
      code: 2026,
      reason: expect.stringContaining('spec.tls'),
    });
    expect(classifyToolFailure('ERROR 3159 (HY000): Connections using insecure transport are prohibited')).toMatchObject({
      permanent: true,
      reason: expect.stringContaining('spec.tls.mode'),
    });
  });
});
