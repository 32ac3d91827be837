import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where a worker's own server writes its pid, in the data directory, so a later worker finds one a killed worker left running. */
export const LOCAL_SERVER_PID_FILE = 'dbkeep-local-server.pid';

/**
 * Stops a server a killed worker left running on `datadir` (its pid file is there), so that
 * nothing writes to the directory while a new attempt replaces its contents.
 */
export async function stopLeftoverLocalServer(datadir: string): Promise<void> {
  const pid = Number((await readFile(path.join(datadir, LOCAL_SERVER_PID_FILE), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !(await isServerOn(pid, datadir))) return;
  process.kill(pid, 'SIGKILL');
  for (let waited = 0; (await isServerOn(pid, datadir)) && waited < 60_000; waited += 100) await sleep(100);
}

/** Whether `pid` is a server started on `datadir` (a pid may have been reused by anything since). */
async function isServerOn(pid: number, datadir: string): Promise<boolean> {
  const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return commandLine.split('\0').includes(`--datadir=${datadir}`);
}
