import type { DiscoveredTemporal } from '../../workers/temporal-settings';
import { defaultDevDir, devStackComponents, readDevStackState } from '../../stack/dev-stack';

/**
 * The Temporal of a `dbkeep dev up` stack running in the current directory, for the CLI's
 * client commands only: a worker gets its address from flags or the environment and never
 * reads the dev stack's state (a replica worker may run as a user who cannot).
 */
export function runningDevTemporal(): DiscoveredTemporal | undefined {
  const state = readDevStackState(defaultDevDir());
  return state && devStackComponents(state).find((c) => c.name === 'temporal')?.running ? state.temporal : undefined;
}
