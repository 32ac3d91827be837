import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Memory and CPU of one Linux process, read from /proc. Parsers are pure; the `read*`
 * functions do the I/O. Only the process itself is measured: the dump tool and compressor
 * it spawns have their own RSS, which is not what the worker's memory goal is about.
 */

export interface MemoryStatus {
  rssKiB: number;
  /** VmHWM: the highest RSS since the process started or since resetPeakRss. */
  peakRssKiB: number;
}

export interface CpuTimes {
  /** utime + stime of the process itself. */
  selfSeconds: number;
  /** cutime + cstime: children it has waited for, here the dump tool and compressor of finished sessions. */
  reapedChildrenSeconds: number;
}

/** Values in /proc/<pid>/status are in kB, which the kernel means as KiB. */
export function parseProcStatus(text: string): MemoryStatus {
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (match?.[1] === undefined) throw new Error(`/proc status has no ${name} line`);
    return Number(match[1]);
  };
  return { rssKiB: field('VmRSS'), peakRssKiB: field('VmHWM') };
}

/**
 * /proc/<pid>/stat is space-separated, but field 2 (the command name in parentheses) may
 * itself hold spaces and parentheses, so fields are counted from the last ")".
 * Fields 14-17 (utime, stime, cutime, cstime) are in clock ticks.
 */
export function parseProcStatCpu(text: string, ticksPerSecond: number): CpuTimes {
  const afterName = text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
  // afterName[0] is field 3 (state), so field N sits at index N - 3.
  const ticks = (field: number): number => {
    const value = Number(afterName[field - 3]);
    if (!Number.isFinite(value)) throw new Error(`/proc stat field ${field} is not a number`);
    return value;
  };
  return {
    selfSeconds: (ticks(14) + ticks(15)) / ticksPerSecond,
    reapedChildrenSeconds: (ticks(16) + ticks(17)) / ticksPerSecond,
  };
}

export function readMemoryStatus(pid: number): MemoryStatus {
  return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

export function readCpuTimes(pid: number, ticksPerSecond: number): CpuTimes {
  return parseProcStatCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'), ticksPerSecond);
}

/** USER_HZ; 100 on every mainstream Linux, asked anyway because /proc reports in it. */
export function clockTicksPerSecond(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}

/**
 * Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+), so a later VmHWM
 * covers only what happened after. False when the kernel or permissions do not allow it.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface RssSamples {
  maxRssKiB: number;
  count: number;
  /** [seconds since the sampler started, VmRSS KiB]: tells a plateau (bounded buffers) from a climb (a leak). */
  timeline: [number, number][];
}

/**
 * Polls VmRSS every intervalMs until stop(). VmHWM is the authoritative peak; the samples show
 * the peak was not a single spike when the two agree, and keep a record if VmHWM cannot be reset.
 */
export function startRssSampler(pid: number, intervalMs: number): { stop(): RssSamples } {
  const samples: RssSamples = { maxRssKiB: 0, count: 0, timeline: [] };
  const started = performance.now();
  const sample = () => {
    try {
      const { rssKiB } = readMemoryStatus(pid);
      samples.maxRssKiB = Math.max(samples.maxRssKiB, rssKiB);
      samples.count++;
      samples.timeline.push([(performance.now() - started) / 1000, rssKiB]);
    } catch {
      // The worker exited: the session fails with its own error, which says more than ENOENT here.
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return samples;
    },
  };
}
