import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCodecServer } from '../../clients/codec-server';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { AesGcmPayloadCodec, type Keyring } from '../../secrets/payload-codec';
import { configurationDocument, rootConnection, startE2eStack, type E2eStack } from '../support/e2e-stack';

/**
 * With the payload codec on the worker and the client, the history the Temporal server keeps
 * holds no plaintext of the sessions' inputs; the codec server turns it back for the UI.
 */
const DATABASE = 'ledger_q7x';
const key = () => randomBytes(32).toString('base64');
const keyring: Keyring = { active: '2026-11', keys: { '2026-10': key(), '2026-11': key() } };

let stack: E2eStack;
let source: MariaDbInstance;
let target: MariaDbInstance;
let codecServer: Server;
let rawClient: Client;

beforeAll(async () => {
  stack = await startE2eStack({ payloadCodec: new AesGcmPayloadCodec(keyring) });
  source = await stack.startMariaDb();
  target = await stack.startMariaDb();
  const connection = await rootConnection(source);
  await connection.query(
    `CREATE DATABASE ${DATABASE}; CREATE TABLE ${DATABASE}.entries (id INT PRIMARY KEY, amount INT); INSERT INTO ${DATABASE}.entries VALUES (1, 42)`,
  );
  await connection.end();
  codecServer = await startCodecServer({ codec: new AesGcmPayloadCodec(keyring), port: 0, uiOrigin: 'http://127.0.0.1:8233' });
  // What the server stores, read without the codec.
  rawClient = new Client({
    connection: await Connection.connect({ address: stack.temporal.address }),
    namespace: stack.temporal.namespace,
  });
});

afterAll(async () => {
  await rawClient?.connection.close();
  codecServer?.close();
  await stack?.stop();
});

describe('payload encryption', () => {
  it('keeps database names and paths out of the stored history, and the codec server decodes them', async () => {
    const set = stack.resources(
      stack.targetDocument('src', source),
      stack.targetDocument('dst', target),
      configurationDocument('books', { target: 'src', databases: [DATABASE] }),
    );
    const backup = await stack.client.backupNow(resolveBackupConfiguration(set, 'books'));
    const result = await backup.result();
    expect(result.outcome).toBe('succeeded');
    const restore = await stack.client.restore({
      repository: set.repositories.get('repo')!,
      configuration: 'books',
      target: set.targets.get('dst')!,
      selector: {},
    });
    expect((await restore.result()).databases).toEqual([DATABASE]);
    // The codec-enabled client reads queries and progress as usual.
    expect((await stack.client.status(backup.workflowId)).phase).toBe('Succeeded');

    const passwordFile = (set.targets.get('src')!.spec.password as { file: string }).file;
    const targetPasswordFile = (set.targets.get('dst')!.spec.password as { file: string }).file;
    // What each session's input holds in plaintext, which the codec server must give back.
    const plaintextInInput = { [backup.workflowId]: DATABASE, [restore.workflowId]: targetPasswordFile };
    for (const workflowId of [backup.workflowId, restore.workflowId]) {
      const history = await rawClient.workflow.getHandle(workflowId).fetchHistory();
      const decoded: string[] = [];
      const raw = JSON.stringify(history, (k, v: unknown) => {
        if (k === 'data' && typeof v === 'string') decoded.push(Buffer.from(v, 'base64').toString('latin1'));
        return v;
      });
      const stored = `${raw}\n${decoded.join('\n')}`;
      expect(stored.includes(DATABASE), `${workflowId}: database name in the stored history`).toBe(false);
      expect(stored.includes(passwordFile), `${workflowId}: a path in the stored history`).toBe(false);
      expect(stored.includes(targetPasswordFile), `${workflowId}: a path in the stored history`).toBe(false);
      expect(stored.includes(stack.minio.endpoint), `${workflowId}: the repository endpoint in the stored history`).toBe(false);
      expect(stored).toContain('YmluYXJ5L2VuY3J5cHRlZA=='); // "binary/encrypted"

      const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
      const { port } = codecServer.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/decode`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: 'http://127.0.0.1:8233' },
        body: JSON.stringify({
          payloads: [
            {
              metadata: Object.fromEntries(Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
              data: Buffer.from(input.data!).toString('base64'),
            },
          ],
        }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
      const body = (await response.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
      expect(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
      expect(Buffer.from(body.payloads[0]!.data, 'base64').toString()).toContain(plaintextInInput[workflowId]);
    }
  });

  it('decodes payloads written with an older key after rotation, and names a key it does not hold', async () => {
    const old = new AesGcmPayloadCodec({ active: '2026-10', keys: { '2026-10': keyring.keys['2026-10']! } });
    const [sealed] = await old.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"hello"') }]);
    const [opened] = await new AesGcmPayloadCodec(keyring).decode([sealed!]);
    expect(Buffer.from(opened!.data!).toString()).toBe('"hello"');
    const stranger = new AesGcmPayloadCodec({ active: 'x', keys: { x: key() } });
    await expect(stranger.decode([sealed!])).rejects.toThrow(
      'payload encrypted with key "2026-10", which the keyring does not hold (keys: x)',
    );
  });
});
