import { describe, expect, it } from 'vitest';
import {
  archivePositionSearchAttributes,
  configurationSessionsQuery,
  identitySearchAttributes,
  phaseSearchAttributes,
  runningBackupSessionsQuery,
  SEARCH_ATTRIBUTES,
  searchAttributeRegistrations,
} from '../../domain/search-attributes';
import { searchAttributePairs, searchAttributes } from '../../workflows/search-attributes';

describe('search attributes', () => {
  it('registers every attribute under its name and type, as `temporal server start-dev` takes them', () => {
    expect(searchAttributeRegistrations).toContain('DbkeepConfiguration=Keyword');
    expect(searchAttributeRegistrations).toContain('DbkeepSizeBytes=Int');
    expect(searchAttributeRegistrations).toContain('DbkeepPitrCaughtUpAt=Datetime');
    expect(searchAttributeRegistrations).toHaveLength(Object.keys(SEARCH_ATTRIBUTES).length);
  });

  it("gives the SDK's typed key of each attribute, with the domain's name and type", () => {
    for (const [field, { name, type }] of Object.entries(SEARCH_ATTRIBUTES)) {
      expect(searchAttributes[field as keyof typeof SEARCH_ATTRIBUTES]).toEqual({ name, type });
    }
  });

  it("says what a session works on, leaving out the kind of a drill and a restore's missing target", () => {
    expect(identitySearchAttributes({ kind: 'backup', configuration: 'nightly', repository: 'offsite', target: 'prod-db' })).toEqual({
      sessionKind: 'backup',
      configuration: 'nightly',
      repository: 'offsite',
      target: 'prod-db',
    });
    expect(identitySearchAttributes({ configuration: 'nightly', repository: 'offsite' })).toEqual({
      configuration: 'nightly',
      repository: 'offsite',
    });
  });

  it("gives a session's size as the bytes stored, else the raw bytes, once known", () => {
    expect(phaseSearchAttributes({ phase: 'Running' })).toEqual({ phase: 'Running' });
    expect(phaseSearchAttributes({ phase: 'Succeeded', storedBytes: 10, rawBytes: 40, snapshotId: 's' })).toEqual({
      phase: 'Succeeded',
      sizeBytes: 10,
      snapshot: 's',
    });
    expect(phaseSearchAttributes({ phase: 'Succeeded', rawBytes: 40 })).toEqual({ phase: 'Succeeded', sizeBytes: 40 });
  });

  it("gives an archive's position as FILE:OFFSET and its catch-up time as a date", () => {
    expect(archivePositionSearchAttributes({})).toEqual({});
    expect(
      archivePositionSearchAttributes({ position: { file: 'binlog.000002', offset: 1234 }, caughtUpAt: '2026-11-21T16:00:00Z' }),
    ).toEqual({
      pitrPosition: 'binlog.000002:1234',
      pitrCaughtUpAt: new Date('2026-11-21T16:00:00Z'),
    });
  });

  it('pairs each value with its key, for a start or an upsert', () => {
    expect(searchAttributePairs({ phase: 'Pending', sizeBytes: 3 })).toEqual([
      { key: searchAttributes.phase, value: 'Pending' },
      { key: searchAttributes.sizeBytes, value: 3 },
    ]);
  });

  it('filters by the configuration attribute in visibility queries', () => {
    expect(runningBackupSessionsQuery('nightly')).toBe(
      "WorkflowType = 'backupSession' AND ExecutionStatus = 'Running' AND DbkeepConfiguration = 'nightly'",
    );
    expect(configurationSessionsQuery('nightly')).toBe(
      "DbkeepConfiguration = 'nightly' AND DbkeepSessionKind IN ('backup', 'restore', 'prune')",
    );
  });
});
