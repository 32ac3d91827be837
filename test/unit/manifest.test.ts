import { describe, expect, it } from 'vitest';
import { MANIFEST_FORMAT_VERSION, parseManifest, serializeManifest, type Manifest } from '../../domain/manifest';
import { manifestFor } from './manifest-fixture';

const valid: Manifest = {
  ...manifestFor({ snapshotId: '20261121T161704123Z-3f9a1c' }),
  compression: { algorithm: 'zstd', level: 3 },
  data: { file: 'dump.sql.zst', storedBytes: 1234, rawBytes: 98765, sha256: 'a'.repeat(64) },
  tools: { dump: 'mariadb-dump 11.4', compressor: 'zstd v1.5.5' },
};

/** `valid` as JSON with `edit` applied to a deep copy. */
function variant(edit: (m: Record<string, any>) => void): string {
  const copy = JSON.parse(JSON.stringify(valid)) as Record<string, any>;
  edit(copy);
  return JSON.stringify(copy);
}

function reasonOf(text: string): string {
  const result = parseManifest(text);
  expect(result.ok).toBe(false);
  return (result as { ok: false; reason: string }).reason;
}

describe('parseManifest', () => {
  it('accepts a valid manifest', () => {
    const result = parseManifest(JSON.stringify(valid));
    expect(result).toEqual({ ok: true, manifest: valid });
  });

  it('round-trips through serializeManifest', () => {
    const text = serializeManifest(valid);
    expect(text.endsWith('}\n')).toBe(true);
    // Indented for people reading the repository by hand.
    expect(text).toContain('\n  "formatVersion": 1,\n');
    const parsed = parseManifest(text);
    expect(parsed.ok && parsed.manifest).toEqual(valid);
    expect(serializeManifest((parsed as { ok: true; manifest: Manifest }).manifest)).toBe(text);
  });

  it('accepts a manifest without the optional compression level and compressor', () => {
    const text = variant((m) => {
      delete m.compression.level;
      delete m.tools.compressor;
    });
    const parsed = parseManifest(text);
    expect(parsed.ok).toBe(true);
  });

  it.each(['', 'not json', '{"formatVersion": 1,', "{'a': 1}"])('reports %j as not JSON without throwing', (text) => {
    expect(reasonOf(text)).toMatch(/^manifest is not JSON: /);
  });

  it.each(['null', '42', '"manifest"', '[]'])('reports the JSON value %s as invalid', (text) => {
    expect(reasonOf(text)).toMatch(/^manifest is invalid: /);
  });

  it('names formatVersion when it is another version', () => {
    expect(MANIFEST_FORMAT_VERSION).toBe(1);
    expect(reasonOf(variant((m) => (m.formatVersion = 2)))).toMatch(/^manifest is invalid: formatVersion: /);
    expect(reasonOf(variant((m) => (m.formatVersion = '1')))).toMatch(/formatVersion: /);
  });

  it.each([
    ['uppercase', 'A'.repeat(64)],
    ['too short', 'a'.repeat(63)],
    ['too long', 'a'.repeat(65)],
    ['not hex', 'g'.repeat(64)],
  ])('names data.sha256 when it is %s', (_what, sha256) => {
    expect(reasonOf(variant((m) => (m.data.sha256 = sha256)))).toMatch(/^manifest is invalid: data\.sha256: /);
  });

  it.each([
    ['snapshotId', (m: Record<string, any>) => delete m.snapshotId],
    ['configuration', (m: Record<string, any>) => delete m.configuration],
    ['repository', (m: Record<string, any>) => (m.repository = '')],
    ['target.engine', (m: Record<string, any>) => (m.target.engine = 'postgres')],
    ['target.name', (m: Record<string, any>) => delete m.target.name],
    ['server.serverId', (m: Record<string, any>) => (m.server.serverId = -1)],
    ['method', (m: Record<string, any>) => (m.method = 'incremental')],
    ['startedAt', (m: Record<string, any>) => (m.startedAt = 'yesterday')],
    ['completedAt', (m: Record<string, any>) => delete m.completedAt],
    ['databases', (m: Record<string, any>) => (m.databases = [])],
    ['compression.algorithm', (m: Record<string, any>) => (m.compression.algorithm = 'lz4')],
    ['compression.level', (m: Record<string, any>) => (m.compression.level = 1.5)],
    ['data.file', (m: Record<string, any>) => (m.data.file = '../escape')],
    ['data.storedBytes', (m: Record<string, any>) => delete m.data.storedBytes],
    ['data.rawBytes', (m: Record<string, any>) => (m.data.rawBytes = -5)],
    ['tools.dump', (m: Record<string, any>) => delete m.tools.dump],
    ['dbkeepVersion', (m: Record<string, any>) => delete m.dbkeepVersion],
    ['data', (m: Record<string, any>) => delete m.data],
  ])('names %s when it is missing or wrong', (field, edit) => {
    const reason = reasonOf(variant(edit));
    expect(reason).toMatch(/^manifest is invalid: /);
    expect(reason).toContain(`${field}: `);
  });

  it('names the snapshot id field when it has the wrong shape', () => {
    expect(reasonOf(variant((m) => (m.snapshotId = '../../etc')))).toContain('snapshotId: must look like 20261121T161704123Z-3f9a1c');
  });

  it('reports every invalid field at once', () => {
    const reason = reasonOf(
      variant((m) => {
        m.formatVersion = 9;
        m.data.sha256 = 'nope';
        delete m.databases;
      }),
    );
    expect(reason).toContain('formatVersion: ');
    expect(reason).toContain('data.sha256: ');
    expect(reason).toContain('databases: ');
  });
});
