import { payloadCodecFromEnvironment } from '../../secrets/payload-codec';
import { DbkeepClient } from '../dbkeep-client';
import { resolveTemporalSettings } from '../../workers/temporal-settings';
import { resourceNameSchema } from '../../domain/names';
import { loadResourceFiles } from '../../domain/resource-files';
import { resolveBackupConfiguration, type ResolvedBackupConfiguration } from '../../domain/resource-set';
import { flagValue, requireFlag, temporalFlags } from './cli-arguments';
import { UsageError } from './cli-errors';

/** A client for the Temporal settings of the command line (flags, environment, dev stack). */
export async function connectClient(values: { address?: string; namespace?: string; 'task-queue'?: string }): Promise<DbkeepClient> {
  // Looked for, and its module (stack/dev-stack) loaded, only when neither a flag nor the
  // environment names a Temporal.
  const devTemporal =
    (values.address ?? process.env.TEMPORAL_ADDRESS) ? undefined : (await import('./dev-stack-discovery')).runningDevTemporal();
  const settings = resolveTemporalSettings(
    {
      address: values.address,
      namespace: values.namespace,
      taskQueue: values['task-queue'],
    },
    process.env,
    devTemporal,
  );
  return DbkeepClient.connect({ ...settings, payloadCodec: payloadCodecFromEnvironment() });
}

export function resourceFiles(values: { file?: string[] }): string[] {
  if (!values.file || values.file.length === 0) throw new UsageError('-f/--file is required (resource YAML files)');
  return values.file;
}

/** The flags of a command on one configuration: the Temporal connection, `-f FILE...` and `--config NAME`. */
export const configurationFlags = {
  ...temporalFlags,
  file: { type: 'string', short: 'f', multiple: true },
  config: { type: 'string' },
} as const;

/** The configuration `--config` (or `name`) names, resolved from the `-f` files with its Target and Repository. */
export async function resolveConfigurationFlag(
  values: { file?: string[]; config?: string },
  name: string | undefined = values.config,
): Promise<ResolvedBackupConfiguration> {
  const valid = flagValue('config', resourceNameSchema, requireFlag('config', name));
  return resolveBackupConfiguration(await loadResourceFiles(resourceFiles(values)), valid);
}
