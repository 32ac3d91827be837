import { snapshotIdSchema } from '../../domain/names';
import { configurationFlags, connectClient, resolveConfigurationFlag } from './client-connection';
import { flagValue, parseCommandLine } from './cli-arguments';
import { formatBytes, printJson } from './output';

/**
 * `dbkeep verify -f FILE... --config NAME [--snapshot ID] [--wait] [--json]`: a restore drill of a
 * snapshot (the newest by default) into a scratch server, compared with its recorded fingerprint
 * (logical) or checked table by table and read row by row (physical).
 */
export async function verifyCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandLine(argv, {
    ...configurationFlags,
    snapshot: { type: 'string' },
    wait: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const resolved = await resolveConfigurationFlag(values);
  const client = await connectClient(values);
  try {
    const handle = await client.verify(resolved, {
      ...(values.snapshot === undefined ? {} : { snapshotId: flagValue('snapshot', snapshotIdSchema, values.snapshot) }),
    });
    if (!values.wait) {
      if (values.json) return printJson({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
      console.log(`started ${handle.workflowId}`);
      return;
    }
    const outcome = await handle.result();
    if (values.json) return printJson({ workflowId: handle.workflowId, ...outcome });
    const proved =
      outcome.proof === 'physical-integrity'
        ? `the server started on the prepared copy, ${outcome.tables} table(s) passed CHECK TABLE and every row was read`
        : `${outcome.tables} table(s) and every object as recorded at backup time`;
    console.log(
      `snapshot ${outcome.snapshotId} passed its restore drill: ${proved}; ` +
        `restored ${formatBytes(outcome.restoredBytes)} in ${outcome.restoreSeconds.toFixed(1)} s (${formatBytes(outcome.restoreBytesPerSecond)}/s), ` +
        `${outcome.durationSeconds.toFixed(1)} s in all`,
    );
  } finally {
    await client.close();
  }
}
