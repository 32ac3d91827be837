import { permanentFailure, PermanentFailureType } from './failures';
import { requiresTls, type TlsMode } from './target-tls';

/** Node's codes for a server certificate that does not verify (tls.connect, checkServerIdentity). */
const CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Whether `err` is Node's refusal of a server's certificate: it fails the same way on every attempt. */
export function isCertificateRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CERTIFICATE_CODES.has(code);
}

/**
 * An S3 endpoint's certificate refused, by the worker's own requests or by dbkeep-fetch:
 * `refusal` says what was refused, and the message ends with where the trusted CAs come from.
 */
export function s3CertificateRefused(refusal: string) {
  return permanentFailure(
    PermanentFailureType.TlsVerificationFailed,
    `${refusal} (the repository's spec.s3.tls.caFile, or the system's CAs without it)`,
  );
}

/** TLS alerts a server sends when it refuses the client's certificate (or its absence). */
const CLIENT_CERTIFICATE_ALERTS =
  /^ERR_SSL_(TLSV1_ALERT_UNKNOWN_CA|SSLV3_ALERT_BAD_CERTIFICATE|TLSV13_ALERT_CERTIFICATE_REQUIRED|SSLV3_ALERT_CERTIFICATE_(EXPIRED|UNKNOWN|REVOKED)|TLSV1_ALERT_ACCESS_DENIED)$/;

const ER_SECURE_TRANSPORT_REQUIRED = 3159;

export interface TlsFailure {
  type: PermanentFailureType;
  /** One line for the user, after the Target's name: what is wrong and what to change. */
  message: string;
}

/** Node's messages for those codes: mysql2 replaces the code of a failed handshake with HANDSHAKE_SSL_ERROR. */
const CERTIFICATE_MESSAGES =
  /self[- ]signed certificate|unable to (verify|get)|certificate has expired|certificate is not yet valid|certificate signature failure|does not match certificate's altnames|certificate (not trusted|rejected)|invalid CA certificate/i;
const CLIENT_CERTIFICATE_MESSAGES =
  /alert (unknown ca|bad certificate|certificate required|certificate expired|certificate unknown|certificate revoked|access denied)/i;
const CONFIGURATION_MESSAGES = /PEM routines|X509 routines|DECODER routines|key values mismatch|no start line/i;

/**
 * What a failed connection (mysql2's error) says about TLS, if anything: each of these fails
 * the same way on every attempt, so they are permanent.
 */
export function classifyTlsFailure(err: unknown, mode: TlsMode): TlsFailure | undefined {
  const { code = '', errno, message = '', reason = '' } = err as { code?: string; errno?: number; message?: string; reason?: string };
  const text = `${message} ${reason}`;
  const handshake = code === 'HANDSHAKE_SSL_ERROR';
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT') {
    return {
      type: PermanentFailureType.TlsUnavailable,
      message: `the server offers no TLS and spec.tls.mode is ${mode}; enable TLS on the server (ssl_cert, ssl_key) or set a mode that allows plain connections`,
    };
  }
  if (errno === ER_SECURE_TRANSPORT_REQUIRED) {
    return {
      type: PermanentFailureType.TlsRequired,
      message: `the server requires TLS (require_secure_transport) and spec.tls.mode is ${mode}; set spec.tls.mode to verify-identity (or required)`,
    };
  }
  if (CERTIFICATE_CODES.has(code) || (handshake && CERTIFICATE_MESSAGES.test(text))) {
    const why = /altnames/i.test(text)
      ? `${firstLine(message)}; connect by a name the certificate holds, or use verify-ca`
      : `${firstLine(message)}; check that spec.tls.ca is the CA that signed the server's certificate and that the certificate is valid now`;
    return { type: PermanentFailureType.TlsVerificationFailed, message: `the server's certificate failed verification: ${why}` };
  }
  if (CLIENT_CERTIFICATE_ALERTS.test(code) || (handshake && CLIENT_CERTIFICATE_MESSAGES.test(text))) {
    return {
      type: PermanentFailureType.TlsClientCertificateRejected,
      message: `the server refused the client certificate (${firstLine(reason || message)}); check spec.tls.clientCertificate against the CA the server trusts (ssl_ca)`,
    };
  }
  if (code.startsWith('ERR_OSSL_') || CONFIGURATION_MESSAGES.test(text)) {
    return {
      type: PermanentFailureType.TlsConfigurationInvalid,
      message: `spec.tls: cannot use the CA or client certificate and key (${firstLine(message)}); they must be PEM, and the key must match the certificate`,
    };
  }
  if (handshake && requiresTls(mode)) {
    return {
      type: PermanentFailureType.TlsVerificationFailed,
      message: `the TLS handshake failed (${firstLine(message)}); check spec.tls against the server's TLS settings`,
    };
  }
  return undefined;
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 200);
}
