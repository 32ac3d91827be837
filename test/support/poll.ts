import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Reads `read()` until `done` holds of what it returned, and returns that: a wait on a
 * condition, however loaded the machine. Past `timeoutMs` it fails naming `what` and the last
 * value read, which is what a failing test needs to say why.
 */
export async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  options: { what: string; timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${options.what} did not happen within ${options.timeoutMs} ms; last read: ${JSON.stringify(value)}`);
    await sleep(options.intervalMs ?? 250);
  }
}

/** Resolves once the clock is in the next whole second: the next commit then has a second of its own. */
export async function untilNextSecond(): Promise<void> {
  const second = Math.floor(Date.now() / 1000);
  // Timers may fire a little early: wait out what is left of the second until the clock says so.
  while (Math.floor(Date.now() / 1000) === second) await sleep(1000 - (Date.now() % 1000));
}
