import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../domain/resources';
import { tlsOptionLines } from '../domain/target-tls';
import { clientFamily, optionFileContents } from '../domain/tool-commands';
import type { TargetCredentials } from '../secrets/target-credentials';
import { makeScratchDirectory } from './scratch-directory';

/** A secret file's contents, or a function of every file's path (an option file naming its siblings). */
export type SecretFileContents<K extends string> = string | ((files: Record<K, string>) => string);

/**
 * Runs `use` with the paths of 0600 files holding secrets (a password option file, an age
 * identity, …) in a 0700 directory of its own, and removes them afterwards whatever happens.
 * Secrets reach tools this way, never through argv, where `ps` shows them.
 */
export async function withSecretFiles<T, K extends string>(
  contents: Record<K, SecretFileContents<K>>,
  use: (files: Record<K, string>) => Promise<T>,
): Promise<T> {
  const dir = await makeScratchDirectory('cred');
  try {
    const names = Object.keys(contents) as K[];
    const files = Object.fromEntries(names.map((name) => [name, path.join(dir, name)])) as Record<K, string>;
    for (const name of names) {
      const text: SecretFileContents<K> = contents[name];
      await writeFile(files[name], typeof text === 'function' ? text(files) : text, { mode: 0o600, flag: 'wx' });
    }
    return await use(files);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export type TargetCredentialFile = 'client.cnf' | 'tls-ca.pem' | 'tls-cert.pem' | 'tls-key.pem';

/**
 * A Target's credentials as files for its tools: `client.cnf`, the option file they read with
 * --defaults-file (password and TLS settings), and the PEM files it names.
 */
export function targetCredentialFiles(
  engine: Engine,
  credentials: TargetCredentials,
): Partial<Record<TargetCredentialFile, SecretFileContents<string>>> {
  const { pems } = credentials;
  const pemFiles: Partial<Record<TargetCredentialFile, string>> = {
    ...(pems.ca === undefined ? {} : { 'tls-ca.pem': pems.ca }),
    ...(pems.certificate === undefined ? {} : { 'tls-cert.pem': pems.certificate }),
    ...(pems.key === undefined ? {} : { 'tls-key.pem': pems.key }),
  };
  return {
    ...pemFiles,
    'client.cnf': (files: Record<string, string>) =>
      optionFileContents(
        credentials.password,
        tlsOptionLines(clientFamily(engine), credentials.tls.mode, {
          ca: pemFiles['tls-ca.pem'] && files['tls-ca.pem'],
          certificate: pemFiles['tls-cert.pem'] && files['tls-cert.pem'],
          key: pemFiles['tls-key.pem'] && files['tls-key.pem'],
        }),
      ),
  };
}

/** The password alone as a client option file for --defaults-file (the stack's and bench's own tool runs). */
export async function withOptionFile<T>(password: string | undefined, use: (file: string) => Promise<T>): Promise<T> {
  return withSecretFiles({ 'client.cnf': optionFileContents(password) }, (files) => use(files['client.cnf']));
}
