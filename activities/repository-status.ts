import { log } from '@temporalio/activity';
import type { Named, RepositorySpec } from '../domain/resources';
import type { SecretResolver } from '../secrets/secret-resolver';
import type { Storage } from '../storage/storage';
import { readSnapshotCatalog } from './snapshot-catalog';

export interface RepositoryStatusInput {
  repository: Named<RepositorySpec>;
}

/** One line per configuration and target, as `dbkeep repo status` prints it. */
export interface RepositoryStatusEntry {
  configuration: string;
  target: string;
  snapshotCount: number;
  storedBytes: number;
  firstBackupAt: string;
  lastBackupAt: string;
}

export interface RepositoryStatus {
  repository: string;
  location: string;
  snapshotCount: number;
  storedBytes: number;
  entries: RepositoryStatusEntry[];
  /** Snapshots whose manifest is damaged or does not match its data; not counted above. */
  damaged: number;
}

/** Derived from manifests only: what is not committed does not count. */
export function createRepositoryStatusActivities(deps: {
  secrets: SecretResolver;
  openStorage: (repository: Named<RepositorySpec>, secrets: SecretResolver) => Promise<Storage>;
}) {
  return {
    async repositoryStatus(input: RepositoryStatusInput): Promise<RepositoryStatus> {
      const storage = await deps.openStorage(input.repository, deps.secrets);
      const configurations = new Set<string>();
      for await (const object of storage.list('')) {
        const [configuration] = object.key.split('/');
        if (configuration && object.key.includes('/')) configurations.add(configuration);
      }
      const entries = new Map<string, RepositoryStatusEntry>();
      let damaged = 0;
      for (const configuration of [...configurations].sort()) {
        const catalog = await readSnapshotCatalog(storage, configuration);
        damaged += catalog.problems.length;
        for (const problem of catalog.problems) log.warn('damaged snapshot', { configuration, ...problem });
        for (const manifest of catalog.snapshots) {
          const key = `${configuration}\u0000${manifest.target.name}`;
          const entry = entries.get(key) ?? {
            configuration,
            target: manifest.target.name,
            snapshotCount: 0,
            storedBytes: 0,
            firstBackupAt: manifest.startedAt,
            lastBackupAt: manifest.startedAt,
          };
          entry.snapshotCount += 1;
          entry.storedBytes += manifest.data.storedBytes;
          if (manifest.startedAt < entry.firstBackupAt) entry.firstBackupAt = manifest.startedAt;
          if (manifest.startedAt > entry.lastBackupAt) entry.lastBackupAt = manifest.startedAt;
          entries.set(key, entry);
        }
      }
      const list = [...entries.values()];
      return {
        repository: input.repository.name,
        location: storage.location,
        snapshotCount: list.reduce((n, e) => n + e.snapshotCount, 0),
        storedBytes: list.reduce((n, e) => n + e.storedBytes, 0),
        entries: list,
        damaged,
      };
    },
  };
}
