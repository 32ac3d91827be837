import { describe, expect, it } from 'vitest';
import { resourceNameSchema, snapshotIdSchema, configurationOfScheduleId } from '../../domain/names';
import {
  backupWorkflowId,
  restoreWorkflowId,
  pruneWorkflowId,
  repositoryQueryWorkflowId,
  scheduledBackupWorkflowId,
  scheduleIdFor,
} from '../../domain/session-ids';

function nameErrors(value: unknown): string[] {
  const result = resourceNameSchema.safeParse(value);
  return result.success ? [] : result.error.issues.map((i) => i.message);
}

describe('resourceNameSchema', () => {
  it.each(['a', '0', 'prod', 'prod-db', 'db-01', 'a-b-c', '9lives', 'a'.repeat(63), `a${'-'.repeat(61)}z`])('accepts %j', (name) => {
    expect(resourceNameSchema.parse(name)).toBe(name);
  });

  it('rejects an empty name', () => {
    expect(nameErrors('')).toContain('must not be empty');
  });

  it('rejects 64 characters', () => {
    expect(nameErrors('a'.repeat(64))).toEqual(['must be at most 63 characters']);
  });

  const ruleMessage = 'must be lowercase letters, digits and "-", starting and ending with a letter or digit';
  it.each([
    'Prod',
    'PROD',
    '../x',
    '..',
    '.',
    'a/b',
    '/a',
    'a\\b',
    'a.b',
    'a_b',
    'a b',
    ' a',
    'a ',
    'a"b',
    "a'b",
    'a\nb',
    'a\n',
    'a\u0000',
    'a\tb',
    '-a',
    'a-',
    '-',
    'é',
    'a*',
  ])('rejects %j', (name) => {
    expect(nameErrors(name)).toContain(ruleMessage);
  });

  it('rejects non-strings', () => {
    expect(resourceNameSchema.safeParse(42).success).toBe(false);
    expect(resourceNameSchema.safeParse(undefined).success).toBe(false);
  });
});

describe('snapshotIdSchema', () => {
  it('accepts a snapshot id', () => {
    expect(snapshotIdSchema.parse('20261121T161704123Z-3f9a1c')).toBe('20261121T161704123Z-3f9a1c');
  });

  it.each([
    '',
    'latest',
    '20261121T161704123Z-3F9A1C',
    '20261121T161704123Z',
    '../20261121T161704123Z-3f9a1c',
    '20261121T161704123Z-3f9a1c\n',
  ])('rejects %j with an example of the expected shape', (id) => {
    const result = snapshotIdSchema.safeParse(id);
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.message).toBe('must look like 20261121T161704123Z-3f9a1c (UTC time and a 6-hex-digit suffix)');
  });
});

describe('workflow ids', () => {
  it('are namespaced per kind of session and resource', () => {
    expect(backupWorkflowId('nightly', '20261121T161704123Z-3f9a1c')).toBe('backup/nightly/20261121T161704123Z-3f9a1c');
    expect(restoreWorkflowId('staging-db', 'r-1')).toBe('restore/staging-db/r-1');
    expect(repositoryQueryWorkflowId('snapshots', 'nightly', 'req-7')).toBe('snapshots/nightly/req-7');
    expect(pruneWorkflowId('nightly', 'p-1')).toBe('prune/nightly/p-1');
    expect(scheduledBackupWorkflowId('nightly')).toBe('backup/nightly/scheduled');
  });

  it('never collide across kinds for the same names', () => {
    const ids = new Set([
      backupWorkflowId('x', 'y'),
      restoreWorkflowId('x', 'y'),
      pruneWorkflowId('x', 'y'),
      repositoryQueryWorkflowId('snapshots', 'x', 'y'),
      repositoryQueryWorkflowId('repository-status', 'x', 'y'),
    ]);
    expect(ids.size).toBe(5);
  });
});

describe('snapshotIdSchema: impossible times', () => {
  it('rejects ids whose digits are not a real UTC time', () => {
    for (const id of ['20261399T996099999Z-abcdef', '20260230T000000000Z-abcdef', '20261121T246000000Z-abcdef']) {
      expect(snapshotIdSchema.safeParse(id).success, id).toBe(false);
    }
    expect(snapshotIdSchema.safeParse('20240229T235959999Z-abcdef').success).toBe(true);
  });
});

describe('schedule ids', () => {
  it('map a configuration to its schedule and back', () => {
    expect(scheduleIdFor('nightly')).toBe('dbkeep-nightly');
    expect(configurationOfScheduleId(scheduleIdFor('nightly'))).toBe('nightly');
  });

  it("do not claim schedules that are not dbkeep's", () => {
    for (const id of ['nightly', 'other-nightly', 'dbkeep-', 'dbkeep-Bad_Name', 'dbkeep-a/b']) {
      expect(configurationOfScheduleId(id), id).toBeUndefined();
    }
  });
});
