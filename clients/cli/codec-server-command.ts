import { z } from 'zod';
import { payloadCodecFromEnvironment } from '../../secrets/payload-codec';
import { startCodecServer } from '../codec-server';
import { flagValue, parseCommandLine } from './cli-arguments';
import { UsageError } from './cli-errors';

/** `dbkeep codec-server [--port 8888] [--ui-origin URL]`: decodes payloads for the Temporal UI with DBKEEP_PAYLOAD_KEYRING_FILE. */
export async function codecServerCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    port: { type: 'string', default: '8888' },
    host: { type: 'string', default: '127.0.0.1' },
    'ui-origin': { type: 'string', default: 'http://127.0.0.1:8233' },
  });
  const port = flagValue('port', z.coerce.number().int().min(1).max(65535), values.port);
  const codec = payloadCodecFromEnvironment();
  if (!codec) throw new UsageError('set DBKEEP_PAYLOAD_KEYRING_FILE to the keyring the workers use');
  await startCodecServer({ codec, port, host: values.host, uiOrigin: values['ui-origin'] });
  console.log(`codec server on http://${values.host}:${port} for ${values['ui-origin']} (POST /decode, /encode)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
