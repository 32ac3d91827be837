import type { SessionView } from '../dbkeep-client';
import { formatBytes } from './output';

/** One line describing what a running session does now, e.g. "dump: dumping, 120.5 MiB read, 30.1 MiB written". */
export function describeProgress(view: SessionView): string {
  const step = view.status?.steps.at(-1);
  const parts = [step ? `${step.name}` : view.runStatus.toLowerCase()];
  const progress = view.activity?.progress;
  if (progress) {
    parts.push(`: ${progress.phase}, ${formatBytes(progress.bytesRead)} read, ${formatBytes(progress.bytesWritten)} written`);
  }
  if (view.activity && view.activity.attempt > 1) {
    parts.push(` (attempt ${view.activity.attempt}${view.activity.lastFailure ? `, last failure: ${view.activity.lastFailure}` : ''})`);
  }
  return parts.join('');
}

/**
 * Waits for `result` while printing a progress line every couple of seconds when it changed.
 * Progress comes from the status query and the heartbeat details Temporal keeps for the
 * running activity: the same numbers the Temporal UI shows.
 */
export async function waitShowingProgress<T>(
  result: Promise<T>,
  describe: () => Promise<SessionView>,
  print: (line: string) => void,
  intervalMs = 2_000,
): Promise<T> {
  let last = '';
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    describe()
      .then((view) => {
        const line = describeProgress(view);
        if (line !== last) print((last = line));
      })
      .catch(() => undefined) // progress is best effort; the result is what counts
      .finally(() => (polling = false));
  }, intervalMs);
  try {
    return await result;
  } finally {
    clearInterval(timer);
  }
}
