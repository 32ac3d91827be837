import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ByteMeter } from '../../pipeline/byte-meter';

function sink(): { stream: Writable; received: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
    received: () => Buffer.concat(chunks),
  };
}

const chunks = Array.from({ length: 37 }, (_, i) => Buffer.alloc(1000 + i * 13, i));
const all = Buffer.concat(chunks);

describe('ByteMeter', () => {
  it('passes bytes through unchanged, counting and hashing them', async () => {
    const meter = new ByteMeter({ sha256: true });
    const out = sink();
    await pipeline(Readable.from(chunks), meter, out.stream);
    expect(out.received().equals(all)).toBe(true);
    expect(meter.bytes).toBe(all.length);
    expect(meter.sha256()).toBe(createHash('sha256').update(all).digest('hex'));
  });

  it('returns the same digest when asked twice', async () => {
    const meter = new ByteMeter({ sha256: true });
    await pipeline(Readable.from([Buffer.from('abc')]), meter, sink().stream);
    expect(meter.sha256()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(meter.sha256()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes an empty stream', async () => {
    const meter = new ByteMeter({ sha256: true });
    await pipeline(Readable.from([]), meter, sink().stream);
    expect(meter.bytes).toBe(0);
    expect(meter.sha256()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('counts without hashing, and refuses to give a digest it did not compute', async () => {
    const meter = new ByteMeter({ sha256: false });
    await pipeline(Readable.from(chunks), meter, sink().stream);
    expect(meter.bytes).toBe(all.length);
    expect(() => meter.sha256()).toThrow('ByteMeter was created without sha256');
  });

  it('counts as data flows', async () => {
    const meter = new ByteMeter({ sha256: false });
    const seen: number[] = [];
    meter.on('data', () => seen.push(meter.bytes));
    await pipeline(Readable.from([Buffer.alloc(10), Buffer.alloc(20), Buffer.alloc(30)]), meter, sink().stream);
    expect(seen).toEqual([10, 30, 60]);
  });

  it('ends only after beforeEnd resolves', async () => {
    const events: string[] = [];
    const meter = new ByteMeter({
      sha256: false,
      beforeEnd: async () => {
        events.push('beforeEnd started');
        await new Promise((resolve) => setTimeout(resolve, 20));
        events.push('beforeEnd done');
      },
    });
    meter.on('end', () => events.push('end'));
    await pipeline(Readable.from([Buffer.from('x')]), meter, sink().stream);
    expect(events).toEqual(['beforeEnd started', 'beforeEnd done', 'end']);
  });

  it('errors instead of ending when beforeEnd rejects, so the consumer never sees a clean end', async () => {
    const failure = new Error('mariadb-dump exited with code 2');
    const meter = new ByteMeter({ sha256: true, beforeEnd: () => Promise.reject(failure) });
    let finished = false;
    const consumer = new Writable({
      write(_chunk, _enc, cb) {
        cb();
      },
      final(cb) {
        finished = true;
        cb();
      },
    });
    await expect(pipeline(Readable.from(chunks), meter, consumer)).rejects.toBe(failure);
    expect(finished).toBe(false);
    expect(meter.bytes).toBe(all.length);
  });
});
