import { describe, expect, it } from 'vitest';
import { appliedSpecOf, scheduleListingOf } from '../../clients/backup-schedules';

/**
 * The pure parts of `dbkeep apply` and `dbkeep schedules`. How many RPCs they make against a
 * real Temporal server is asserted by test/reliability/load.test.ts (500 schedules), and their
 * outcomes by test/e2e/schedules-and-sessions.test.ts.
 */

describe('appliedSpecOf', () => {
  const withAttributes = (values: Record<string, string>) => ({
    typedSearchAttributes: { get: (key: { name: string }) => values[key.name] } as never,
  });

  it("reads dbkeep's search attributes and refuses a schedule without all three", () => {
    const all = { DbkeepSpecHash: 'abc', DbkeepCron: '0 3 * * *', DbkeepTimezone: 'UTC' };
    expect(appliedSpecOf(withAttributes(all))).toEqual({ dbkeepSpecHash: 'abc', cron: '0 3 * * *', timezone: 'UTC' });
    expect(appliedSpecOf({})).toBeUndefined();
    expect(appliedSpecOf(withAttributes({}))).toBeUndefined();
    expect(appliedSpecOf(withAttributes({ DbkeepSpecHash: 'abc', DbkeepCron: '0 3 * * *' }))).toBeUndefined();
  });
});

describe('scheduleListingOf', () => {
  const takenAt = new Date('2026-11-22T02:00:00Z');
  const state = {
    state: { paused: false },
    info: {
      nextActionTimes: [new Date('2026-11-23T02:00:00Z')],
      recentActions: [
        {
          scheduledAt: takenAt,
          takenAt,
          action: { type: 'startWorkflow' as const, workflow: { workflowId: 'backup/shop/scheduled-a', firstExecutionRunId: 'run-1' } },
        },
      ],
    },
  };

  it('takes the last run from the recent actions and says why cron and time zone are missing', () => {
    expect(scheduleListingOf('dbkeep-shop', state, { dbkeepSpecHash: 'h', cron: '0 3 * * *', timezone: 'UTC' })).toEqual({
      configuration: 'shop',
      scheduleId: 'dbkeep-shop',
      cron: '0 3 * * *',
      timezone: 'UTC',
      paused: false,
      note: undefined,
      nextRunAt: '2026-11-23T02:00:00.000Z',
      lastRun: { workflowId: 'backup/shop/scheduled-a', startedAt: '2026-11-22T02:00:00.000Z', result: 'unknown' },
    });
    const failed = scheduleListingOf('dbkeep-shop', state, {}, 'describing schedule dbkeep-shop failed: DEADLINE_EXCEEDED');
    expect(failed).toMatchObject({
      cron: undefined,
      timezone: undefined,
      nextRunAt: '2026-11-23T02:00:00.000Z',
      problem: expect.stringContaining('DEADLINE_EXCEEDED'),
    });
  });
});
