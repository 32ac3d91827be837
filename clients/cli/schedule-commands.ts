import { resourceNameSchema } from '../../domain/names';
import { loadResourceFiles } from '../../domain/resource-files';
import { flagValue, parseCommandLine, temporalFlags } from './cli-arguments';
import { UsageError } from './cli-errors';
import { connectClient, resourceFiles } from './client-connection';
import { formatTable, printJson } from './output';

/** `dbkeep apply -f FILE...`: one Temporal Schedule per BackupConfiguration with a schedule. */
export async function applyCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...temporalFlags,
    file: { type: 'string', short: 'f', multiple: true },
    json: { type: 'boolean', default: false },
  });
  const set = await loadResourceFiles(resourceFiles(values));
  const client = await connectClient(values);
  try {
    const results = await client.applyResources(set);
    if (values.json) return printJson(results);
    if (results.length === 0) console.log('no BackupConfiguration in the given files');
    for (const { configuration, outcome, drillSchedule, archive } of results) {
      console.log(
        outcome === 'absent'
          ? `backupconfiguration/${configuration}: no schedule`
          : `backupconfiguration/${configuration}: schedule ${outcome}`,
      );
      if (drillSchedule !== 'absent') console.log(`backupconfiguration/${configuration}: drill schedule ${drillSchedule}`);
      if (archive !== 'off') console.log(`backupconfiguration/${configuration}: binary log archive ${archive}`);
    }
  } finally {
    await client.close();
  }
}

/** The configuration names a command acts on: positionals, validated as resource names. */
function configurationNames(positionals: string[], usage: string, max = Infinity): string[] {
  if (positionals.length === 0 || positionals.length > max) throw new UsageError(`usage: ${usage}`);
  return positionals.map((name) => flagValue('NAME', resourceNameSchema, name));
}

/** `dbkeep delete NAME...`: removes the schedules and stops the binary log archives (snapshots and archived pieces stay). */
export async function deleteCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv, { ...temporalFlags });
  const names = configurationNames(positionals, 'dbkeep delete NAME...');
  const client = await connectClient(values);
  try {
    for (const name of names) {
      console.log((await client.deleteSchedule(name)) ? `schedule of ${name} deleted` : `${name} has no schedule`);
      if (await client.stopArchive(name)) console.log(`binary log archive of ${name} stopped (its pieces stay in the repository)`);
    }
  } finally {
    await client.close();
  }
}

/** `dbkeep pause|resume NAME [--note TEXT]` */
export function pauseOrResumeCommand(action: 'pause' | 'resume') {
  return async (argv: string[]): Promise<void> => {
    const { values, positionals } = parseCommandLine(argv, { ...temporalFlags, note: { type: 'string' } });
    const [name] = configurationNames(positionals, `dbkeep ${action} NAME [--note TEXT]`, 1);
    const client = await connectClient(values);
    try {
      await client[action](name!, values.note);
      console.log(`schedule of ${name} ${action === 'pause' ? 'paused' : 'resumed'}${values.note ? `: ${values.note}` : ''}`);
    } finally {
      await client.close();
    }
  };
}

/** `dbkeep trigger NAME`: one session now, through the schedule and its overlap policy. */
export async function triggerCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv, { ...temporalFlags });
  const [name] = configurationNames(positionals, 'dbkeep trigger NAME', 1);
  const client = await connectClient(values);
  try {
    await client.trigger(name!);
    console.log(`schedule of ${name} triggered; see it with: dbkeep sessions ${name}`);
  } finally {
    await client.close();
  }
}

/** `dbkeep schedules [--json]` */
export async function schedulesCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, { ...temporalFlags, json: { type: 'boolean', default: false } });
  const client = await connectClient(values);
  try {
    const schedules = await client.listSchedules();
    // A schedule that could not be described is still listed (cron and time zone `?`), and said why.
    for (const { configuration, problem } of schedules) {
      if (problem) process.stderr.write(`dbkeep schedules: ${configuration}: ${problem}\n`);
    }
    if (values.json) return printJson(schedules);
    if (schedules.length === 0) return console.log('no dbkeep schedules');
    console.log(
      formatTable(
        ['NAME', 'CRON', 'TIMEZONE', 'NEXT RUN', 'LAST RUN', 'LAST RESULT', 'PAUSED'],
        schedules.map((s) => [
          s.configuration,
          s.cron ?? '?',
          s.timezone ?? '?',
          s.paused ? '-' : (s.nextRunAt ?? '-'),
          s.lastRun?.startedAt ?? '-',
          s.lastRun?.result ?? '-',
          s.paused ? `yes${s.note ? ` (${s.note})` : ''}` : 'no',
        ]),
      ),
    );
  } finally {
    await client.close();
  }
}
