import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import type { RowDataPacket } from 'mysql2';
import { createConnection } from 'mysql2/promise';
import { isPidAlive, stopPid } from '../../pipeline/managed-process';
import { startMariaDbInstance } from '../../stack/mariadb-instance';
import { createBucket, startMinio } from '../../stack/minio-server';
import { registerSearchAttributes, startTemporalDevServer } from '../../stack/temporal-dev-server';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-stack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('Temporal dev server', () => {
  it('serves the namespace with dbkeep search attributes registered, and stops', async () => {
    const server = await startTemporalDevServer({ dir: join(scratch, 'temporal') });
    try {
      expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const connection = await Connection.connect({ address: server.address });
      try {
        const namespace = await connection.workflowService.describeNamespace({ namespace: server.namespace });
        expect(namespace.namespaceInfo?.name).toBe('default');
        const attributes = await connection.operatorService.listSearchAttributes({ namespace: server.namespace });
        expect(Object.keys(attributes.customAttributes ?? {})).toContain('DbkeepConfiguration');
      } finally {
        await connection.close();
      }
    } finally {
      await server.stop();
    }
    expect(isPidAlive(server.pid)).toBe(false);
  });

  it('runs detached on a dbFile that a second start reuses, and stops by pid', async () => {
    const dir = join(scratch, 'temporal-detached');
    const dbFile = join(dir, 'temporal.db');
    const first = await startTemporalDevServer({ dir, dbFile, detached: true, namespace: 'dbkeep' });
    await stopPid(first.pid);
    expect(isPidAlive(first.pid)).toBe(false);

    const second = await startTemporalDevServer({ dir, dbFile, detached: true, namespace: 'dbkeep' });
    try {
      // Already registered by the start: a second registration must be a no-op.
      await registerSearchAttributes(second.address, 'dbkeep');
      const connection = await Connection.connect({ address: second.address });
      try {
        const attributes = await connection.operatorService.listSearchAttributes({ namespace: 'dbkeep' });
        expect(Object.keys(attributes.customAttributes ?? {})).toEqual(
          expect.arrayContaining(['DbkeepConfiguration', 'DbkeepTarget', 'DbkeepRepository', 'DbkeepSessionKind']),
        );
      } finally {
        await connection.close();
      }
    } finally {
      await stopPid(second.pid);
    }
    expect(isPidAlive(second.pid)).toBe(false);
  });
});

describe('MinIO', () => {
  it('stores and returns an object byte for byte, and stops', async () => {
    const credentials = { accessKeyId: 'dbkeep-test', secretAccessKey: 'dbkeep-test-secret' };
    const server = await startMinio({
      dir: join(scratch, 'minio'),
      accessKey: credentials.accessKeyId,
      secretKey: credentials.secretAccessKey,
    });
    const s3 = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    try {
      expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`);
      await createBucket(server.endpoint, credentials.accessKeyId, credentials.secretAccessKey, 'backups');
      // A second call must be a no-op: callers create their bucket on every start.
      await createBucket(server.endpoint, credentials.accessKeyId, credentials.secretAccessKey, 'backups');
      const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
      await s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'a/b.bin', Body: body }));
      const object = await s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'a/b.bin' }));
      const returned = Buffer.from(await object.Body!.transformToByteArray());
      expect(returned.equals(body)).toBe(true);
    } finally {
      s3.destroy();
      await server.stop();
    }
    expect(isPidAlive(server.pid)).toBe(false);
  });
});

describe('MariaDB instance', () => {
  it('accepts root over TCP with the password, survives kill and restart, and stops', async () => {
    const instance = await startMariaDbInstance({ rootPassword: 'dbkeep-root-pw' });
    const firstPid = instance.pid;
    const selectVersion = async () => {
      const connection = await createConnection({
        host: instance.host,
        port: instance.port,
        user: 'root',
        password: instance.rootPassword,
      });
      try {
        const [rows] = await connection.query<RowDataPacket[]>('SELECT VERSION() AS version');
        return String(rows[0]?.version);
      } finally {
        await connection.end();
      }
    };
    try {
      expect(await selectVersion()).toContain('MariaDB');
      await expect(createConnection({ host: instance.host, port: instance.port, user: 'root', password: 'wrong' })).rejects.toThrow(
        /Access denied/,
      );

      instance.kill();
      await instance.restart();
      expect(instance.pid).not.toBe(firstPid);
      expect(isPidAlive(firstPid)).toBe(false);
      expect(await selectVersion()).toContain('MariaDB');
    } finally {
      await instance.stop();
    }
    expect(isPidAlive(instance.pid)).toBe(false);
  });
});
