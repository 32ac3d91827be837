import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';

/**
 * Optional AES-256-GCM encryption of every payload dbkeep sends through Temporal (inputs,
 * results, heartbeats, queries, memos), so the Temporal server and its database see neither
 * database names nor paths. Keys carry ids so they can rotate: payloads are encrypted with the
 * active key and name it; older keys stay in the keyring to decrypt older histories.
 *
 * Search attribute values (configuration, target, repository names, phase) stay readable:
 * Temporal must index them. Failure messages are not encrypted either; they carry names and
 * addresses, never secret values.
 */
export const ENCODING = 'binary/encrypted';
const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export const keyringSchema = z
  .strictObject({
    active: z.string().min(1).max(64),
    /** key id → 32 bytes, base64 */
    keys: z
      .record(
        z.string().min(1).max(64),
        z.string().refine((k) => Buffer.from(k, 'base64').length === 32, 'must be 32 bytes, base64-encoded'),
      )
      .refine((keys) => Object.keys(keys).length > 0, 'must hold at least one key'),
  })
  .refine((ring) => ring.keys[ring.active] !== undefined, { message: 'active must name one of keys', path: ['active'] });

export type Keyring = z.infer<typeof keyringSchema>;

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;

  constructor(private readonly keyring: Keyring) {
    this.keys = new Map(Object.entries(keyring.keys).map(([id, key]) => [id, Buffer.from(key, 'base64')]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keyring.active;
    const key = this.keys.get(keyId)!;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      // The whole payload (its metadata too: the encoding says what the plaintext is).
      const plaintext = Buffer.from(
        JSON.stringify({ metadata: encodeMap(payload.metadata), data: Buffer.from(payload.data ?? []).toString('base64') }),
      );
      const sealed = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: Buffer.from(ENCODING), [KEY_ID_METADATA]: Buffer.from(keyId) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== ENCODING) return payload;
      const keyId = Buffer.from(payload.metadata?.[KEY_ID_METADATA] ?? []).toString();
      const key = this.keys.get(keyId);
      if (!key)
        throw new Error(
          `payload encrypted with key "${keyId}", which the keyring does not hold (keys: ${[...this.keys.keys()].join(', ')})`,
        );
      const sealed = Buffer.from(payload.data ?? []);
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const plaintext = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
      const inner = JSON.parse(plaintext.toString()) as { metadata: Record<string, string>; data: string };
      return { metadata: decodeMap(inner.metadata), data: Buffer.from(inner.data, 'base64') };
    });
  }
}

function encodeMap(map: Payload['metadata']): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]));
}

function decodeMap(map: Record<string, string>): Record<string, Uint8Array> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

/**
 * The keyring from DBKEEP_PAYLOAD_KEYRING_FILE (a JSON file, e.g. a mounted Secret), for the
 * worker and every client alike; no codec when it is unset.
 */
export function payloadCodecFromEnvironment(env: NodeJS.ProcessEnv = process.env): AesGcmPayloadCodec | undefined {
  const file = env.DBKEEP_PAYLOAD_KEYRING_FILE;
  if (!file) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`DBKEEP_PAYLOAD_KEYRING_FILE ${file}: ${(error as Error).message}`);
  }
  const parsed = keyringSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `DBKEEP_PAYLOAD_KEYRING_FILE ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'keyring'}: ${i.message}`).join('; ')}`,
    );
  }
  return new AesGcmPayloadCodec(parsed.data);
}
