import type { ManagedProcess } from '../pipeline/managed-process';

/** How often a server whose port another process took between the search and the bind is started again, on new ports. */
const PORT_CLASH_ATTEMPTS = 3;

/**
 * Runs `start` again when the server it started found one of its ports taken by another process
 * first: test files start servers side by side, a free port is only free until bound, and some
 * servers (the Temporal dev server's history and matching services) pick ports of their own.
 * `start` picks its free ports itself, so each attempt gets new ones, and kills what it started when it fails.
 */
export async function startOnFreePorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= PORT_CLASH_ATTEMPTS || !/address already in use/i.test(String(error))) throw error;
    }
  }
}

/** A managed process, waited on until `ready`; killed when it is not. */
export async function startReady(
  child: ManagedProcess,
  ready: () => Promise<boolean>,
  options: { timeoutMs: number; what: string },
): Promise<ManagedProcess> {
  try {
    await child.waitUntil(ready, options);
    return child;
  } catch (error) {
    child.kill();
    throw error;
  }
}
