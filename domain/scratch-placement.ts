import type { BackupConfigurationSpec, ScratchPlacement } from './resources';

/**
 * A drill's `scratch` as its workflow input carries it: only when it is not the default, so the
 * inputs of configurations without it read as they did before there was a choice.
 */
export function scratchPlacementInput(spec: Pick<BackupConfigurationSpec, 'verification'>): { scratch?: ScratchPlacement } {
  const scratch = spec.verification?.scratch;
  return scratch !== undefined && scratch !== 'local' ? { scratch } : {};
}
