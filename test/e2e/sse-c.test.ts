import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure } from '../../clients/failure-description';
import { resolveBackupConfiguration, type ResourceSet } from '../../domain/resource-set';
import { createSecretResolver } from '../../secrets/secret-resolver';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { openStorage } from '../../storage/open-storage';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';
import { AWKWARD_DATABASE, awkwardRows, createAwkwardDatabase } from '../support/sample-data';

/**
 * S3 server-side encryption with a customer-provided key, against a MinIO serving TLS with a
 * self-signed certificate (the Repository's tls.caFile): the same key restores; a wrong or
 * missing one fails with an error that says so.
 */
let stack: E2eStack;
let source: MariaDbInstance;

function keyFile(name: string): string {
  const file = path.join(stack.dir, `${name}.sse-key`);
  writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  return file;
}

function resources(sse: Record<string, unknown> | undefined, target = source): ResourceSet {
  return stack.resources(stack.repositoryDocument('secure', sse ? { sse } : {}), stack.targetDocument('db', target), {
    ...configurationDocument('sealed', { target: 'db', databases: [AWKWARD_DATABASE] }),
    spec: { target: 'db', repository: 'secure', databases: [AWKWARD_DATABASE] },
  });
}

async function restore(set: ResourceSet) {
  const resolved = resolveBackupConfiguration(set, 'sealed');
  const handle = await stack.client.restore({
    repository: resolved.repository,
    configuration: 'sealed',
    target: resolved.target,
    selector: {},
  });
  return handle.result();
}

beforeAll(async () => {
  stack = await startE2eStack({ tls: true });
  source = await stack.startMariaDb();
  await createAwkwardDatabase(source);
});

afterAll(async () => {
  await stack?.stop();
});

describe('SSE-C over TLS', () => {
  it('stores objects the server only returns with the key, and restores with it', async () => {
    expect(stack.minio.endpoint).toMatch(/^https:\/\//);
    const key = { customerKey: { file: keyFile('good') } };
    const result = await (await stack.client.backupNow(resolveBackupConfiguration(resources(key), 'sealed'))).result();
    if (result.outcome !== 'succeeded') throw new Error('skipped');
    const objectKey = `dbkeep/sealed/${result.snapshotId}/dump.sql.zst`;
    const withoutKey = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: objectKey })).then(
      () => 'readable',
      (error: Error) => error.name,
    );
    expect(withoutKey).not.toBe('readable');

    const target = await stack.startMariaDb();
    const restored = await restore(resources(key, target));
    expect(restored.snapshotId).toBe(result.snapshotId);
    const [before, after] = await Promise.all(
      [source, target].map(async (instance) => {
        const connection = await rootConnection(instance);
        try {
          return await awkwardRows(connection);
        } finally {
          await connection.end();
        }
      }),
    );
    expect(after).toEqual(before);
  });

  it('writes an object of several parts with the key, unsigned over TLS, and reads it back only with the key', async () => {
    const key = { customerKey: { file: keyFile('parts') } };
    const storage = await openStorage(resources(key).repositories.get('secure')!, createSecretResolver());
    // Three 8 MiB parts and a short fourth: every UploadPart carries the key and an unsigned payload.
    const data = randomBytes(3 * 8 * 1024 * 1024 + 12_345);
    await storage.putStream(
      'parts/data.bin',
      Readable.from([data.subarray(0, 5_000_000), data.subarray(5_000_000)]),
      new AbortController().signal,
    );
    const read = await storage.getBytes('parts/data.bin');
    expect(createHash('sha256').update(read).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    const withoutKey = await openStorage(resources(undefined).repositories.get('secure')!, createSecretResolver());
    await expect(withoutKey.getBytes('parts/data.bin')).rejects.toMatchObject({ type: 'RepositoryAccessDenied' });
  });

  it('fails clearly, without retrying, with a wrong key or none', async () => {
    const target = await stack.startMariaDb();
    const wrong = describeFailure(await restore(resources({ customerKey: { file: keyFile('wrong') } }, target)).catch((e: unknown) => e));
    expect(wrong).toMatchObject({ type: 'RepositoryAccessDenied', nonRetryable: true });
    expect(wrong.message).toContain('cannot be read with the configured SSE-C key (wrong key)');
    const missing = describeFailure(await restore(resources(undefined, target)).catch((e: unknown) => e));
    expect(missing).toMatchObject({ type: 'RepositoryAccessDenied', nonRetryable: true });
    expect(missing.message).toContain('spec.s3.sse.customerKey is not set');
  });
});
