import type { Named, TargetSpec } from '../domain/resources';
import { caBundlePem, DEFAULT_TLS, type TargetTls, type TlsPems } from '../domain/target-tls';
import type { SecretResolver } from './secret-resolver';

/** What a Target's secret references hold, read at the moment a connection needs them. */
export interface TargetCredentials {
  password?: string;
  tls: TargetTls;
  pems: TlsPems;
}

export async function resolveTargetCredentials(target: Named<TargetSpec>, secrets: SecretResolver): Promise<TargetCredentials> {
  const { spec, name } = target;
  const tls = spec.tls ?? DEFAULT_TLS;
  const read = (ref: Parameters<SecretResolver['resolve']>[0] | undefined, what: string) =>
    ref === undefined ? undefined : secrets.resolve(ref, `Target "${name}" ${what}`);
  const [password, ca, certificate, key] = await Promise.all([
    read(spec.password, 'password'),
    read(tls.ca, 'spec.tls.ca'),
    read(tls.clientCertificate?.certificate, 'spec.tls.clientCertificate.certificate'),
    read(tls.clientCertificate?.key, 'spec.tls.clientCertificate.key'),
  ]);
  return { password, tls, pems: { ca: tls.caBundle === undefined ? ca : caBundlePem(tls.caBundle), certificate, key } };
}
