import { z } from 'zod';
import { secretRefSchema } from './secret-ref';

/**
 * How dbkeep's connections to a Target use TLS: its own (mysql2: preflight, checks, Galera
 * polling) and the tools' (dump, client, mariadb-backup). docs/security.md has the table.
 *
 * - `preferred` (the default): TLS when the server offers it, without verification, plain
 *   otherwise; what both families' clients do by themselves, so a Target without `tls` behaves
 *   as before, and still reaches a server that requires TLS.
 * - `disabled`: never TLS.
 * - `required`: TLS or no connection, without verifying the server's certificate.
 * - `verify-ca`: TLS with the server's certificate signed by `ca`.
 * - `verify-identity`: as verify-ca, and the certificate names the host connected to.
 */
export const TLS_MODES = ['preferred', 'disabled', 'required', 'verify-ca', 'verify-identity'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

export const targetTlsSchema = z
  .strictObject({
    mode: z.enum(TLS_MODES).default('preferred'),
    /** The CA that signed the server's certificate, a PEM file on the worker (as a Repository's s3.tls.caFile)… */
    caFile: z
      .string()
      .refine((p) => p.startsWith('/'), 'must be an absolute path')
      .optional(),
    /** …or a reference to it: `{ secretKeyRef }` (a Secret's `ca.crt`, say), `{ env }` or `{ file }`… */
    ca: secretRefSchema.optional(),
    /**
     * …or the PEM itself, base64-encoded, as Kubernetes' caBundle fields hold it. A Target naming an
     * AppBinding takes its `spec.clientConfig.caBundle` when it sets none of the three.
     */
    caBundle: z
      .string()
      .refine((bundle) => caBundlePem(bundle) !== undefined, 'must be base64 of PEM certificates, as an AppBinding caBundle')
      .optional(),
    /** For users created `REQUIRE X509` (or SUBJECT/ISSUER): the certificate and its key, PEM. */
    clientCertificate: z.strictObject({ certificate: secretRefSchema, key: secretRefSchema }).optional(),
  })
  .superRefine((tls, ctx) => {
    const given = (['caFile', 'ca', 'caBundle'] as const).filter((field) => tls[field] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({ code: 'custom', path: [given[0]!], message: 'set one of caFile, ca and caBundle, not several' });
    }
    if (tls.mode === 'disabled' && given.length > 0) {
      ctx.addIssue({ code: 'custom', path: [given[0]!], message: 'is never used with mode disabled' });
    }
    if (!requiresTls(tls.mode) && tls.clientCertificate !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientCertificate'],
        message: `needs TLS for certain: set mode to required, verify-ca or verify-identity (it is ${tls.mode})`,
      });
    }
  })
  // One form from here on: caFile is the file reference it stands for.
  .transform(({ caFile, ca, ...tls }) => ({ ...tls, ...(ca ? { ca } : caFile ? { ca: { file: caFile } } : {}) }));

export type TargetTls = z.output<typeof targetTlsSchema>;

/** The problem of a verifying mode without a CA; the Target checks it, as an AppBinding may bring one. */
export function missingCaProblem(tls: TargetTls): string | undefined {
  if (!isVerifying(tls.mode) || tls.ca !== undefined || tls.caBundle !== undefined) return undefined;
  return `(or caFile, or caBundle) is required with mode ${tls.mode}: the CA that signed the server's certificate`;
}

/** The PEM text of a caBundle; undefined when it is not base64 of PEM certificates. */
export function caBundlePem(bundle: string): string | undefined {
  if (!/^[A-Za-z0-9+/\s]+=*\s*$/.test(bundle)) return undefined;
  const pem = Buffer.from(bundle, 'base64').toString('utf8');
  return /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem) ? pem : undefined;
}

export const DEFAULT_TLS: TargetTls = { mode: 'preferred' };

export function isVerifying(mode: TlsMode): boolean {
  return mode === 'verify-ca' || mode === 'verify-identity';
}

/** Whether a connection in this mode fails rather than go unencrypted. */
export function requiresTls(mode: TlsMode): boolean {
  return mode === 'required' || isVerifying(mode);
}

/** The PEM files the tools read, written by the worker beside the option file (never on argv). */
export interface TlsFiles {
  ca?: string;
  certificate?: string;
  key?: string;
}

/** Which client family reads the option file: their TLS options differ. */
export type ClientFamily = 'mysql' | 'mariadb';

/**
 * The TLS lines of a tool's option file ([client] group), per client family:
 *
 * - MySQL's clients (mysqldump, mysql): `ssl-mode` says it all. `disabled` adds
 *   `get-server-public-key`: without TLS, caching_sha2_password (MySQL 8+'s default) sends the
 *   password only RSA-encrypted, with the key the server hands over.
 * - MariaDB's clients (mariadb-dump, mariadb, mariadb-backup; 10.11 and 11.x): `ssl` with
 *   `ssl-verify-server-cert=0` uses TLS when the server offers it and falls back to plain
 *   otherwise, in both lines (11.4+ would otherwise demand TLS and verify it). They have no way
 *   to require TLS without verifying, so in `required` mode it is the preflight's own TLS-only
 *   connection that proves the server offers it, and the tools then use it. They check the CA
 *   and the host name together: `verify-ca` and `verify-identity` both check the name. A CA
 *   given to them is always checked, so `required` does not pass one.
 */
export function tlsOptionLines(family: ClientFamily, mode: TlsMode, files: TlsFiles): string[] {
  const clientCertificate = [
    ...(files.certificate ? [`ssl-cert=${files.certificate}`] : []),
    ...(files.key ? [`ssl-key=${files.key}`] : []),
  ];
  const verifiedCa = isVerifying(mode) && files.ca ? [`ssl-ca=${files.ca}`] : [];
  if (family === 'mysql') {
    if (mode === 'disabled') return ['ssl-mode=DISABLED', 'get-server-public-key'];
    return [`ssl-mode=${mode.toUpperCase().replace('-', '_')}`, ...verifiedCa, ...clientCertificate];
  }
  if (mode === 'disabled') return ['skip-ssl'];
  const verify = isVerifying(mode) ? 'ssl-verify-server-cert=1' : 'ssl-verify-server-cert=0';
  return ['ssl', verify, ...verifiedCa, ...clientCertificate];
}

/** PEM contents for dbkeep's own connections, resolved from the Target's references. */
export interface TlsPems {
  ca?: string;
  certificate?: string;
  key?: string;
}

/**
 * mysql2's `ssl` option for a mode; undefined: no TLS. `preferred` asks for TLS without
 * verification; the connection falls back to plain when the server has none (connectToTarget).
 *
 * mysql2 checks a host name during the handshake, but an IP address against "localhost" (it
 * gives Node no server name for an IP): for an IP, `verifyIdentity` stays off here and the
 * caller checks the certificate against the address itself (hostCheckAfterHandshake).
 */
export function mysql2SslOptions(
  mode: TlsMode,
  pems: TlsPems,
  host: { isIpAddress: boolean } = { isIpAddress: false },
): { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean; verifyIdentity: boolean } | undefined {
  if (mode === 'disabled') return undefined;
  return {
    ...(isVerifying(mode) && pems.ca ? { ca: pems.ca } : {}),
    ...(pems.certificate ? { cert: pems.certificate } : {}),
    ...(pems.key ? { key: pems.key } : {}),
    rejectUnauthorized: isVerifying(mode),
    verifyIdentity: mode === 'verify-identity' && !host.isIpAddress,
  };
}

/** Whether the caller must check the server's certificate against an IP address itself (mysql2SslOptions). */
export function hostCheckAfterHandshake(mode: TlsMode, host: { isIpAddress: boolean }): boolean {
  return mode === 'verify-identity' && host.isIpAddress;
}
