import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SegmentScheduler } from '../../pipeline/parallel-apply';
import type { StagedSegment } from '../../domain/dump-segments';

type Named = StagedSegment & { name: string };
const segment = (kind: 'serial' | 'table', name: string): Named => ({ kind, name, rawBytes: 1, tables: [] });

/** Applies by sleeping `ms[name]`, recording starts and ends, and the most segments that ran at once. */
function recorder(ms: Record<string, number>, fail?: string) {
  const events: string[] = [];
  let running = 0;
  let most = 0;
  const apply = async (s: Named) => {
    events.push(`start ${s.name}`);
    most = Math.max(most, ++running);
    await sleep(ms[s.name] ?? 5);
    running--;
    events.push(`end ${s.name}`);
    if (s.name === fail) throw new Error(`${s.name} failed`);
  };
  return { events, apply, most: () => most };
}

describe('SegmentScheduler', () => {
  it('runs tables up to the session limit at once, and serial segments alone after everything before them', async () => {
    const r = recorder({ header: 5, a: 40, b: 10, c: 10, d: 10, routines: 5, views: 5 });
    const scheduler = new SegmentScheduler<Named>(2, r.apply);
    for (const s of [
      segment('serial', 'header'),
      segment('table', 'a'),
      segment('table', 'b'),
      segment('table', 'c'),
      segment('serial', 'routines'),
      segment('table', 'd'),
      segment('serial', 'views'),
    ]) {
      scheduler.add(s);
    }
    scheduler.close();
    await scheduler.finished;

    expect(r.most()).toBe(2);
    const at = (event: string) => r.events.indexOf(event);
    expect(at('start a')).toBeGreaterThan(at('end header'));
    expect(at('start b')).toBeLessThan(at('end a'));
    // c waits for a free session: b's, since a is still running.
    expect(at('start c')).toBeGreaterThan(at('end b'));
    expect(at('start c')).toBeLessThan(at('end a'));
    // A serial segment waits for every table before it; the tables after it wait for it.
    expect(at('start routines')).toBeGreaterThan(Math.max(at('end a'), at('end c')));
    expect(at('start d')).toBeGreaterThan(at('end routines'));
    expect(at('start views')).toBeGreaterThan(at('end d'));
  });

  it('rejects finished with the first failure at once, before close, and starts nothing after it', async () => {
    const r = recorder({ a: 5, b: 200 }, 'a');
    const scheduler = new SegmentScheduler<Named>(2, r.apply);
    scheduler.add(segment('table', 'a'));
    scheduler.add(segment('table', 'b'));
    await expect(scheduler.finished).rejects.toThrow('a failed');
    // b still runs (the caller's controller stops it); nothing queued after the failure starts.
    scheduler.add(segment('serial', 'views'));
    await sleep(250);
    expect(r.events).not.toContain('start views');
  });
});
