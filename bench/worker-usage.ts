import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPidAlive, type ManagedProcess } from '../pipeline/managed-process';
import { clockTicksPerSecond, readCpuTimes, readMemoryStatus, resetPeakRss, startRssSampler, type RssSamples } from './process-usage';

/**
 * Memory and CPU of the dbkeep worker process while it runs one session, read from /proc.
 * Sizes in MiB (2^20 bytes), the unit /proc reports RSS in (its "kB" are KiB).
 */
const SAMPLE_INTERVAL_MS = 200;
const WORKER_CHECK_INTERVAL_MS = 1_000;

export interface WorkerUsage {
  /** VmHWM over the worker's whole life up to the session's end: what the memory goal is judged on. */
  peakRssMiB: number;
  /** VmHWM before the session started: connecting, bundling the workflow code, earlier sessions. */
  startupPeakRssMiB: number;
  /** VmRSS when the session started: the idle worker the session's buffers come on top of. */
  sessionStartRssMiB: number;
  /** VmHWM from the session's start to its end; absent when the kernel would not reset it. */
  sessionPeakRssMiB?: number;
  /** Highest VmRSS of the samples taken every sampleIntervalMs during the session. */
  sessionMaxSampledRssMiB: number;
  samples: number;
  sampleIntervalMs: number;
  /** [seconds since the session started, VmRSS MiB], one pair per sample; JSON only. */
  rssTimelineMiB: [number, number][];
  /** utime + stime of the worker process during the session. */
  cpuSeconds: number;
  /** CPU of the tools the worker ran (dump, client, compressor), counted once the worker reaped them. */
  toolCpuSeconds: number;
}

export const kibToMiB = (kib: number): number => kib / 1024;
export const bytesToMiB = (bytes: number): number => bytes / (1024 * 1024);
const round = (value: number, digits: number): number => Number(value.toFixed(digits));

/**
 * Rejects once the worker process is gone. Without it a crashed worker would leave the session
 * waiting for a retry on a worker that never comes, and the benchmark would hang.
 */
async function failWhenProcessExits(worker: ManagedProcess, signal: AbortSignal): Promise<never> {
  while (isPidAlive(worker.pid)) await sleep(WORKER_CHECK_INTERVAL_MS, undefined, { signal });
  throw new Error(`the dbkeep worker (pid ${worker.pid}) exited during the session (crashed or killed)`);
}

/**
 * Runs `session` (start a session and wait for its result) and measures the worker around it.
 * VmHWM is read before the session and then reset, so the startup peak and the session's own
 * peak are told apart; the lifetime peak is the larger of the two.
 */
export async function measureWorkerDuring<T>(
  worker: ManagedProcess,
  session: () => Promise<T>,
): Promise<{ result: T; durationSeconds: number; usage: WorkerUsage }> {
  const ticksPerSecond = clockTicksPerSecond();
  const atStart = readMemoryStatus(worker.pid);
  const peakWasReset = resetPeakRss(worker.pid);
  const cpuBefore = readCpuTimes(worker.pid, ticksPerSecond);
  const sampler = startRssSampler(worker.pid, SAMPLE_INTERVAL_MS);
  const started = performance.now();
  const watchdog = new AbortController();
  let samples: RssSamples;
  let result: T;
  try {
    result = await Promise.race([session(), failWhenProcessExits(worker, watchdog.signal)]);
  } finally {
    samples = sampler.stop();
    watchdog.abort();
  }
  const durationSeconds = (performance.now() - started) / 1000;
  const sessionPeakKiB = readMemoryStatus(worker.pid).peakRssKiB;
  const cpuAfter = readCpuTimes(worker.pid, ticksPerSecond);
  return {
    result,
    durationSeconds,
    usage: {
      peakRssMiB: kibToMiB(Math.max(atStart.peakRssKiB, sessionPeakKiB)),
      startupPeakRssMiB: kibToMiB(atStart.peakRssKiB),
      sessionStartRssMiB: kibToMiB(atStart.rssKiB),
      sessionPeakRssMiB: peakWasReset ? kibToMiB(sessionPeakKiB) : undefined,
      sessionMaxSampledRssMiB: kibToMiB(samples.maxRssKiB),
      samples: samples.count,
      sampleIntervalMs: SAMPLE_INTERVAL_MS,
      rssTimelineMiB: samples.timeline.map(([at, rssKiB]) => [round(at, 1), round(kibToMiB(rssKiB), 1)]),
      cpuSeconds: cpuAfter.selfSeconds - cpuBefore.selfSeconds,
      toolCpuSeconds: cpuAfter.reapedChildrenSeconds - cpuBefore.reapedChildrenSeconds,
    },
  };
}

/** The end of the worker's log, printed when a session fails: the temp dir holding it is about to go. */
export function printWorkerLogTail(worker: ManagedProcess | undefined): void {
  if (worker === undefined) return;
  try {
    const lines = readFileSync(worker.logFile, 'utf8').trimEnd().split('\n').slice(-30);
    process.stderr.write(`bench: last ${lines.length} lines of the worker log:\n${lines.join('\n')}\n`);
  } catch {
    // no log yet: the failure happened before the worker started
  }
}
