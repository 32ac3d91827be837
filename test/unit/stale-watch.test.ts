import { describe, expect, it } from 'vitest';
import { notificationBody } from '../../domain/notifications';
import { backupConfigurationSpecSchema } from '../../domain/resources';
import { staleAfterSeconds, staleDescription } from '../../domain/stale-watch';

const spec = (extra: Record<string, unknown>) => backupConfigurationSpecSchema.parse({ target: 'db', repository: 'repo', ...extra });
const webhook = (events?: string[]) => ({ url: { env: 'HOOK' }, ...(events ? { events } : {}) });

describe('staleAfterSeconds', () => {
  it('is staleAfter when set, else 1.5 times the schedule’s longest gap, for webhooks that asked for stale', () => {
    expect(staleAfterSeconds(spec({ notifications: { staleAfter: '90m', webhooks: [webhook()] } }))).toBe(5400);
    expect(staleAfterSeconds(spec({ schedule: { cron: '0 2 * * *' }, notifications: { webhooks: [webhook(['stale'])] } }))).toBe(
      1.5 * 86_400,
    );
    // Weekdays at 02:00: the longest gap is Friday to Monday.
    expect(staleAfterSeconds(spec({ schedule: { cron: '0 2 * * 1-5' }, notifications: { webhooks: [webhook()] } }))).toBe(1.5 * 3 * 86_400);
  });

  it('is undefined without a webhook for stale, or without a threshold', () => {
    expect(
      staleAfterSeconds(spec({ schedule: { cron: '0 2 * * *' }, notifications: { webhooks: [webhook(['failure'])] } })),
    ).toBeUndefined();
    expect(staleAfterSeconds(spec({ notifications: { webhooks: [webhook()] } }))).toBeUndefined();
    expect(staleAfterSeconds(spec({ schedule: { cron: '0 2 * * *' } }))).toBeUndefined();
  });

  it('refuses a staleAfter under a second', () => {
    expect(
      backupConfigurationSpecSchema.safeParse({
        target: 'db',
        repository: 'repo',
        notifications: { staleAfter: '500ms', webhooks: [webhook()] },
      }).success,
    ).toBe(false);
  });
});

it('says in a stale notice since when no backup succeeded, in JSON and for Slack', () => {
  const notice = {
    event: 'stale' as const,
    configuration: 'nightly',
    repository: 'repo',
    target: 'db',
    session: 'stale-watch/nightly',
    snapshotId: '20261204T010000Z-abc123',
    error: staleDescription('2026-12-04T01:00:05.000Z', 129_600),
    at: '2026-12-05T13:00:05.000Z',
  };
  expect(JSON.parse(notificationBody(notice, 'json'))).toMatchObject({
    event: 'stale',
    error: 'no successful backup since 2026-12-04T01:00:05.000Z, for more than 129600 s',
  });
  expect(JSON.parse(notificationBody(notice, 'slack'))).toEqual({
    text: ':warning: dbkeep: backups of nightly (Target db) are stale: no successful backup since 2026-12-04T01:00:05.000Z, for more than 129600 s (last snapshot 20261204T010000Z-abc123)',
  });
});
