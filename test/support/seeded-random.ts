/**
 * A seeded generator (mulberry32) for randomized tests that must read the same on every run:
 * `random(n)` is an integer in [0, n). Its low bits are as random as its high ones, unlike a
 * plain linear congruential generator's, whose `% 4` repeats every fourth call.
 */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}
