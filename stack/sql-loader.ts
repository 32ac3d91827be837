import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { withOptionFile } from '../pipeline/option-file';
import { startTool } from '../pipeline/tool-process';
import { logicalRestoreCommand } from '../domain/tool-commands';
import type { MariaDbInstance } from './mariadb-instance';

/**
 * Feeds SQL files to an instance through its engine's client (`mariadb` or `mysql` from PATH), as root over its socket.
 * The client, not mysql2, because sample dumps such as Sakila use DELIMITER, which only
 * the command-line client understands.
 */
export async function loadSqlFiles(instance: MariaDbInstance, files: readonly string[]): Promise<void> {
  const target = { engine: instance.engine, socket: instance.socket, port: instance.port, user: 'root' };
  await withOptionFile(instance.rootPassword, async (optionFile) => {
    for (const file of files) {
      const controller = new AbortController();
      const client = startTool(logicalRestoreCommand({ target, optionFile }), {
        signal: controller.signal,
        stdin: 'pipe',
        stdout: 'ignore',
      });
      await Promise.all([pipeline(createReadStream(file), client.child.stdin!), client.finished]).catch((error: Error) => {
        controller.abort();
        throw new Error(`loading ${file} into ${instance.release} on ${instance.socket}: ${error.message}`);
      });
    }
  });
}
