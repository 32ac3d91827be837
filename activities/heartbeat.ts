import { Context } from '@temporalio/activity';
import type { Progress } from '../domain/progress';

/**
 * Heartbeats `read()` every few seconds until the returned function is called. Heartbeats are
 * also how an activity learns it was cancelled, so every long activity runs one.
 */
export function startHeartbeats(read: () => Progress, intervalMs = 2000): () => void {
  const ctx = Context.current();
  ctx.heartbeat(read());
  const timer = setInterval(() => ctx.heartbeat(read()), intervalMs);
  return () => clearInterval(timer);
}

/** An AbortController that fires when the activity is cancelled (or its worker shuts down). */
export function abortOnActivityCancel(): AbortController {
  const controller = new AbortController();
  const signal = Context.current().cancellationSignal;
  if (signal.aborted) controller.abort(signal.reason);
  signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  return controller;
}
