import type { Named, RepositorySpec } from '../domain/resources';
import { kubernetesApiAccessLoader, type KubernetesApiAccessLoader } from '../kubernetes/api-access';
import { createSecretResolver, type SecretResolver } from '../secrets/secret-resolver';
import { openStorage } from '../storage/open-storage';
import type { Storage } from '../storage/storage';
import { createBackupActivities } from './backup-activities';
import { createBinlogArchiveActivities } from './binlog-archive-activities';
import { createImportActivities } from './import-activities';
import { createDrillActivities } from './drill-activities';
import { createHookActivities } from './hook-activities';
import { createMetricsActivities } from './metrics-activities';
import { createNotificationActivities } from './notification-activities';
import { createPointInTimeActivities } from './point-in-time-activities';
import { createReplicaActivities } from './replica-population';
import { createReplicaCopyActivities } from './replica-copy';
import { createRepositoryStatusActivities } from './repository-status';
import { createRestoreActivities } from './restore-activities';
import { createReplicaWorkerActivities, type ReplicaWorkerLauncher } from './replica-workers';
import { createRetentionActivities } from './retention-activities';
import type { ScratchServerLaunchers } from './scratch-servers';
import { findBackupLockHolder } from './session-admission';
import { startNoticeDelivery, startRestoreDrill } from './workflow-start';
import { createTargetEndpointResolver, withConcreteTarget } from './target-endpoint';
import { createTargetReadinessActivities } from './target-readiness';

export interface ActivityDeps {
  secrets?: SecretResolver;
  openStorage?: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
  /** Where session metrics go; none configured means they are not pushed. */
  pushgatewayUrl?: string;
  /** Starts the workers bound to replica volumes for physical restores; none: this worker cannot do them. */
  replicaWorkers?: ReplicaWorkerLauncher;
  /** Where logical restore drills start their scratch servers, by spec.verification.scratch; default `local` only. */
  scratchServers?: ScratchServerLaunchers;
  /**
   * How Targets that name a Kubernetes Service or AppBinding are looked up; default: as for
   * secretKeyRef, the pod's ServiceAccount or KUBECONFIG, loaded on first use.
   */
  kubernetes?: KubernetesApiAccessLoader;
}

/** Every activity dbkeep registers, with their dependencies injected (tests pass their own). */
export function createActivities(deps: ActivityDeps = {}) {
  const resolved = { secrets: deps.secrets ?? createSecretResolver(), openStorage: deps.openStorage ?? openStorage };
  const targets = createTargetEndpointResolver({ secrets: resolved.secrets, kubernetes: deps.kubernetes ?? kubernetesApiAccessLoader() });
  const backup = createBackupActivities(resolved);
  const restore = createRestoreActivities(resolved);
  return {
    ...backup,
    // Every activity that connects to a Target gets one with a host and port (activities/target-endpoint.ts).
    preflightTarget: withConcreteTarget(targets, backup.preflightTarget),
    dumpToRepository: withConcreteTarget(targets, backup.dumpToRepository),
    ...restore,
    inspectRestoreTarget: withConcreteTarget(targets, restore.inspectRestoreTarget),
    restoreFromSnapshot: withConcreteTarget(targets, restore.restoreFromSnapshot),
    putBackReplacedDatabases: withConcreteTarget(targets, restore.putBackReplacedDatabases),
    ...createRetentionActivities(resolved),
    // The archiver resolves its Target per run: a Service's endpoints change across a failover.
    archiveBinlog: withConcreteTarget(
      targets,
      createBinlogArchiveActivities({ ...resolved, pushgatewayUrl: deps.pushgatewayUrl }).archiveBinlog,
    ),
    ...createRepositoryStatusActivities(resolved),
    ...createPointInTimeActivities(resolved),
    ...createImportActivities(resolved),
    ...createMetricsActivities({ pushgatewayUrl: deps.pushgatewayUrl }),
    ...createNotificationActivities(resolved),
    ...createDrillActivities({ ...resolved, scratchServers: deps.scratchServers }),
    runHook: withConcreteTarget(targets, createHookActivities(resolved).runHook),
    ...createReplicaWorkerActivities({ replicaWorkers: deps.replicaWorkers }),
    ...createReplicaCopyActivities(),
    ...createTargetReadinessActivities({ ...resolved, targets }),
    findBackupLockHolder,
    startRestoreDrill,
    startNoticeDelivery,
  };
}

/** The activities of a replica worker, bound to one volume (`dbkeep replica-worker`). */
export function createReplicaWorkerOnlyActivities(deps: { volumeDir: string; secrets?: SecretResolver }) {
  return createReplicaActivities({ secrets: deps.secrets ?? createSecretResolver(), openStorage, volumeDir: deps.volumeDir });
}

export type DbkeepActivities = ReturnType<typeof createActivities>;
export type ReplicaActivities = ReturnType<typeof createReplicaWorkerOnlyActivities>;
