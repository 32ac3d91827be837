import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A self-signed certificate for 127.0.0.1, written as MinIO's certs dir expects it
 * (public.crt, private.key). S3 servers accept SSE-C over TLS only, so the harness needs one.
 */
export async function createLoopbackCertificate(dir: string): Promise<{ certificate: string; privateKey: string }> {
  mkdirSync(dir, { recursive: true });
  const certificate = path.join(dir, 'public.crt');
  const privateKey = path.join(dir, 'private.key');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    privateKey,
    '-out',
    certificate,
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return { certificate, privateKey };
}
