import { resourceNameSchema } from '../../domain/names';
import { loadResourceFiles } from '../../domain/resource-files';
import { resolveBackupConfiguration } from '../../domain/resource-set';
import { parseBackupSessionInput, parseRestoreSessionInput } from '../../domain/session-inputs';
import { flagValue, parseCommandLine, requireFlag } from './cli-arguments';
import { UsageError } from './cli-errors';
import { resourceFiles } from './client-connection';
import { restoreFlags, restoreRequestFrom } from './session-commands';

/**
 * `dbkeep input backup|restore ...` prints a session's workflow input as JSON, for starting it
 * with the `temporal` CLI (`--input "$(dbkeep input backup ...)"`) or from any SDK. It holds
 * secret references only, like every input dbkeep sends.
 */
export async function inputCommand(argv: string[]): Promise<void> {
  const [kind, ...rest] = argv;
  if (kind === 'backup') {
    const { values } = parseCommandLine(rest, { file: { type: 'string', short: 'f', multiple: true }, config: { type: 'string' } });
    const name = flagValue('config', resourceNameSchema, requireFlag('config', values.config));
    const input = parseBackupSessionInput(resolveBackupConfiguration(await loadResourceFiles(resourceFiles(values)), name));
    process.stdout.write(`${JSON.stringify(input)}\n`);
    return;
  }
  if (kind === 'restore') {
    const { values } = parseCommandLine(rest, restoreFlags);
    const request = await restoreRequestFrom(values);
    const input = parseRestoreSessionInput({ ...request, overwrite: request.overwrite ?? false });
    process.stdout.write(`${JSON.stringify(input)}\n`);
    return;
  }
  throw new UsageError(
    'usage: dbkeep input backup -f FILE... --config NAME | dbkeep input restore -f FILE... --config NAME --to TARGET [...]',
  );
}
