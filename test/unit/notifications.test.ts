import { describe, expect, it } from 'vitest';
import { isRejectedForGood, notificationBody, notificationEventFor, type SessionNotice } from '../../domain/notifications';
import { backupConfigurationSpecSchema } from '../../domain/resources';

const failure: SessionNotice = {
  event: 'failure',
  configuration: 'shop',
  repository: 'offsite',
  target: 'shop-db',
  session: 'backup/shop/20261204T070000000Z-abcdef',
  error: 'UnknownDatabase: database missing does not exist',
  at: '2026-12-04T07:00:05.000Z',
};

describe('notifications', () => {
  it('raises a failure for every failed session, and a recovery only for a success after a failure', () => {
    expect(notificationEventFor(undefined, 'failed')).toBe('failure');
    expect(notificationEventFor('failed', 'failed')).toBe('failure');
    expect(notificationEventFor('failed', 'succeeded')).toBe('recovery');
    expect(notificationEventFor('succeeded', 'succeeded')).toBeUndefined();
    expect(notificationEventFor(undefined, 'succeeded')).toBeUndefined();
  });

  it("writes dbkeep's JSON body, or Slack's text", () => {
    expect(JSON.parse(notificationBody(failure, 'json'))).toEqual({ source: 'dbkeep', ...failure });
    expect(JSON.parse(notificationBody(failure, 'slack'))).toEqual({
      text: ':red_circle: dbkeep: backup of shop (Target shop-db) failed: UnknownDatabase: database missing does not exist (session backup/shop/20261204T070000000Z-abcdef)',
    });
  });

  it("tells a failed drill in Slack's text too", () => {
    const drill: SessionNotice = {
      ...failure,
      event: 'drillFailure',
      session: 'verify/shop/20261204T070000000Z-abcdef',
      snapshotId: '20261204T070000000Z-abcdef',
    };
    expect(JSON.parse(notificationBody(drill, 'slack'))).toEqual({
      text: ':red_circle: dbkeep: the restore drill of snapshot 20261204T070000000Z-abcdef of shop failed: UnknownDatabase: database missing does not exist (verify/shop/20261204T070000000Z-abcdef)',
    });
  });

  it('gives up on a 4xx but a timeout or a rate limit, and retries the rest', () => {
    expect([400, 401, 403, 404, 410].every(isRejectedForGood)).toBe(true);
    expect([408, 429, 500, 502, 503].some(isRejectedForGood)).toBe(false);
  });

  it('takes webhooks as secret references, with json and every event by default, and names a wrong field', () => {
    const spec = backupConfigurationSpecSchema.parse({
      target: 't',
      repository: 'r',
      notifications: { webhooks: [{ url: { env: 'HOOK' } }] },
    });
    expect(spec.notifications).toEqual({
      webhooks: [{ url: { env: 'HOOK' }, format: 'json', events: ['failure', 'recovery', 'drillFailure', 'stale'] }],
    });
    const literal = backupConfigurationSpecSchema.safeParse({
      target: 't',
      repository: 'r',
      notifications: { webhooks: [{ url: 'https://hooks.example/T0KEN' }] },
    });
    expect(literal.success).toBe(false);
    expect(literal.error!.issues[0]!.path).toEqual(['notifications', 'webhooks', 0, 'url']);
  });
});
