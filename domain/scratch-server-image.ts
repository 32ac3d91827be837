import type { Engine } from './resources';

/** Where an image template takes the snapshot's server version. */
export const VERSION_PLACEHOLDER = '{version}';

/**
 * The images a Kubernetes scratch server runs by default: the official ones, whose entrypoint
 * initializes an empty data directory with root's password from the environment
 * (scratchServerRootPasswordEnv). DBKEEP_SCRATCH_IMAGES overrides them per engine, e.g. with a
 * mirror of these.
 */
export const DEFAULT_SCRATCH_IMAGES: Readonly<Record<Engine, string>> = {
  mariadb: `docker.io/library/mariadb:${VERSION_PLACEHOLDER}`,
  mysql: `docker.io/library/mysql:${VERSION_PLACEHOLDER}`,
  'percona-xtradb': `docker.io/percona/percona-xtradb-cluster:${VERSION_PLACEHOLDER}`,
};

/**
 * The release of a server version string as image tags name it: `10.11.14-MariaDB-0+deb12u2`
 * is 10.11.14, `9.7.0` is 9.7.0, `8.0.36-28.1` (Percona XtraDB Cluster) is 8.0.36-28.1.
 */
export function imageTagOfServerVersion(engine: Engine, serverVersion: string): string | undefined {
  const pattern = engine === 'percona-xtradb' ? /^\d+\.\d+\.\d+(-\d+(\.\d+)?)?/ : /^\d+\.\d+\.\d+/;
  return pattern.exec(serverVersion)?.[0];
}

/** The image of a scratch server for a snapshot: the engine's template with its server's release. */
export function scratchServerImage(
  templates: Readonly<Record<Engine, string>>,
  engine: Engine,
  serverVersion: string,
): { image: string } | { problem: string } {
  const template = templates[engine];
  if (!template.includes(VERSION_PLACEHOLDER)) return { image: template };
  const tag = imageTagOfServerVersion(engine, serverVersion);
  if (tag === undefined) return { problem: `the snapshot's server version "${serverVersion}" names no release for the image ${template}` };
  return { image: template.replaceAll(VERSION_PLACEHOLDER, tag) };
}

/** The environment variable the engine's official image reads root's password from on its first start. */
export function scratchServerRootPasswordEnv(engine: Engine): string {
  return engine === 'mariadb' ? 'MARIADB_ROOT_PASSWORD' : 'MYSQL_ROOT_PASSWORD';
}

/**
 * What else the engine's official image needs to start a lone server: Percona XtraDB Cluster's
 * names a cluster, which it bootstraps on its own when told to join none.
 */
export function scratchServerImageEnv(engine: Engine): Array<{ name: string; value: string }> {
  return engine === 'percona-xtradb' ? [{ name: 'CLUSTER_NAME', value: 'dbkeep-scratch' }] : [];
}

const MIB = 1024 * 1024;

/**
 * The ephemeral storage a scratch server's pod requests, so that the scheduler puts it on a node
 * with room for the restored copy: twice the snapshot's SQL (InnoDB keeps a table's rows in about
 * as many bytes as their INSERTs, and its secondary indexes beside them) and a GiB for the
 * server's own files (system tables, redo log, undo and temporary tablespaces). A request, not a
 * limit: a copy larger than guessed slows nothing, where a limit would have the pod evicted.
 */
export function scratchServerStorageRequest(snapshotRawBytes: number): string {
  return `${Math.ceil((2 * snapshotRawBytes) / MIB) + 1024}Mi`;
}

/** Parses DBKEEP_SCRATCH_IMAGES: comma-separated `engine=image` pairs over the defaults. */
export function parseScratchImages(value: string | undefined): { images: Record<Engine, string> } | { problem: string } {
  const images: Record<Engine, string> = { ...DEFAULT_SCRATCH_IMAGES };
  for (const pair of (value ?? '').split(',').map((item) => item.trim())) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const engine = pair.slice(0, at);
    const image = pair.slice(at + 1);
    if (at <= 0 || !(engine in DEFAULT_SCRATCH_IMAGES)) {
      return { problem: `"${pair}" must be engine=image with engine one of ${Object.keys(DEFAULT_SCRATCH_IMAGES).join(', ')}` };
    }
    if (!/^[^\s,]+$/.test(image)) return { problem: `"${pair}": the image must be a non-empty reference without spaces` };
    images[engine as Engine] = image;
  }
  return { images };
}
