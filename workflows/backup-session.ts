import { uuid4, workflowInfo, setHandler } from '@temporalio/workflow';
import type { Manifest } from '../domain/manifest';
import type { BackupConfigurationSpec, Named, RepositorySpec, TargetSpec } from '../domain/resources';
import { formatSnapshotId } from '../domain/snapshot-id';
import { quickActivities, streamingActivities } from './activity-options';
import { failureMessage, runStep, statusQuery, type SessionStatus } from './session-status';

export interface BackupSessionInput {
  configuration: Named<BackupConfigurationSpec>;
  target: Named<TargetSpec>;
  repository: Named<RepositorySpec>;
  /** Given by `dbkeep backup` (it is part of the workflow id); derived from the start time otherwise. */
  snapshotId?: string;
}

export interface BackupSessionResult {
  snapshotId: string;
  configuration: string;
  repository: string;
  databases: string[];
  storedBytes: number;
  rawBytes: number;
  sha256: string;
}

/** A logical backup session: preflight → dump → commit (manifest last). */
export async function backupSession(input: BackupSessionInput): Promise<BackupSessionResult> {
  const snapshotId = input.snapshotId ?? formatSnapshotId(workflowInfo().startTime, uuid4().replace(/-/g, '').slice(0, 6));
  const status: SessionStatus = { kind: 'backup', phase: 'Running', steps: [], snapshotId };
  setHandler(statusQuery, () => status);
  const { configuration, target, repository } = input;

  try {
    const preflight = await runStep(status, 'preflight', () =>
      quickActivities.preflightTarget({ target, databases: configuration.spec.databases }),
    );
    const dump = await runStep(status, 'dump', () =>
      streamingActivities.dumpToRepository({
        configuration: configuration.name,
        snapshotId,
        target,
        repository,
        compression: configuration.spec.compression,
        databases: preflight.databases,
      }),
    );
    status.storedBytes = dump.storedBytes;
    status.rawBytes = dump.rawBytes;
    const manifest: Manifest = {
      formatVersion: 1,
      snapshotId,
      configuration: configuration.name,
      repository: repository.name,
      target: {
        name: target.name,
        engine: target.spec.engine,
        address: target.spec.socket ?? `${target.spec.host}:${target.spec.port}`,
      },
      server: { version: preflight.version, serverId: preflight.serverId },
      method: 'logical',
      startedAt: dump.startedAt,
      completedAt: dump.completedAt,
      databases: preflight.databases,
      compression: configuration.spec.compression,
      data: { file: dump.file, storedBytes: dump.storedBytes, rawBytes: dump.rawBytes, sha256: dump.sha256 },
      tools: dump.tools,
      dbkeepVersion: dump.dbkeepVersion,
    };
    await runStep(status, 'commit', () => quickActivities.commitSnapshot({ repository, manifest }));
    status.phase = 'Succeeded';
    return {
      snapshotId,
      configuration: configuration.name,
      repository: repository.name,
      databases: preflight.databases,
      storedBytes: dump.storedBytes,
      rawBytes: dump.rawBytes,
      sha256: dump.sha256,
    };
  } catch (err) {
    status.phase = 'Failed';
    status.error = failureMessage(err);
    throw err;
  }
}
