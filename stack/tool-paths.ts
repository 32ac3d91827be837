import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// Pinned in step with scripts/bootstrap.sh, which installs exactly these.
export const TEMPORAL_CLI_VERSION = '1.5.1';
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';
// Pinned in step with scripts/build-kubernetes.sh (which bootstrap.sh runs) and kubernetes/apiserver-build/go.mod.
export const KUBERNETES_VERSION = 'v1.37.1';
export const KINE_VERSION = 'v0.17.5';

export type MariaDbTool = 'mariadbd' | 'mariadb-install-db' | 'mariadb' | 'mariadb-dump';

/**
 * Engines newer than the host's Debian packages, each installed by scripts/bootstrap.sh into a
 * Debian root of its own, as they need a newer glibc. Named as their directories in the tool
 * cache, so the versions here are pinned in step with that script.
 */
export type EngineRoot = 'mysql-9.7' | 'mariadb-11.8';

export function toolCacheDir(): string {
  return process.env.DBKEEP_TOOL_CACHE || join(homedir(), '.cache', 'dbkeep');
}

function requireInstalled(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new Error(`${what} not found at ${path}: run scripts/bootstrap.sh`);
  }
  return path;
}

export function temporalCliPath(): string {
  const path = join(toolCacheDir(), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'bin', 'temporal');
  return requireInstalled(path, `Temporal CLI ${TEMPORAL_CLI_VERSION}`);
}

export function minioPath(): string {
  const path = join(toolCacheDir(), `minio-${MINIO_VERSION}`, 'bin', 'minio');
  return requireInstalled(path, `MinIO ${MINIO_VERSION}`);
}

export function kubeApiserverPath(): string {
  const path = join(toolCacheDir(), `kubernetes-${KUBERNETES_VERSION}`, 'bin', 'kube-apiserver');
  return requireInstalled(path, `kube-apiserver ${KUBERNETES_VERSION}`);
}

export function kinePath(): string {
  const path = join(toolCacheDir(), `kine-${KINE_VERSION}`, 'bin', 'kine');
  return requireInstalled(path, `kine ${KINE_VERSION}`);
}

/** The Debian root an engine runs from: its loader and libraries, and the engine's messages, plugins and charsets. */
export function engineRootDir(root: EngineRoot): string {
  return requireInstalled(join(toolCacheDir(), root, 'root'), `${root} root`);
}

/**
 * One wrapper per tool of the engine, named as the engine names it (mysqld, mysqldump, …;
 * mariadbd, mariadb-dump, …), each running the root's binary with the root's loader. First on a
 * worker's PATH, it gives the worker the tools of a worker image built for that engine.
 */
export function engineToolsDir(root: EngineRoot): string {
  return requireInstalled(join(toolCacheDir(), root, 'bin'), `${root} tools`);
}

/** Debian puts mariadbd in /usr/sbin, which is not on every user's PATH; the clients live in /usr/bin. */
export function mariadbToolPath(name: MariaDbTool): string {
  const candidates = ['/usr/sbin', '/usr/bin'].map((dir) => join(dir, name));
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) {
    throw new Error(`${name} not found in ${candidates.join(' or ')}: run scripts/bootstrap.sh`);
  }
  return found;
}

/** Debian's prometheus-pushgateway package; its system service is never used, the stack starts its own. */
export function pushgatewayPath(): string {
  return requireInstalled('/usr/bin/prometheus-pushgateway', 'prometheus-pushgateway');
}

/** promtool from Debian's prometheus package, which scripts/bootstrap.sh unpacks: it tests deploy/monitoring's alert rules. */
export function promtoolPath(): string {
  return requireInstalled(join(toolCacheDir(), 'prometheus-debian', 'usr', 'bin', 'promtool'), "promtool (Debian's prometheus package)");
}

/** The Prometheus server of the same package: the dashboard's queries are checked against it. */
export function prometheusPath(): string {
  return requireInstalled(
    join(toolCacheDir(), 'prometheus-debian', 'usr', 'bin', 'prometheus'),
    "prometheus (Debian's prometheus package)",
  );
}

/** The AWS CLI that scripts/bootstrap.sh installs for the "restore without dbkeep" test. */
export function awsCliPath(): string {
  return requireInstalled(join(toolCacheDir(), 'awscli-1.46.3', 'bin', 'aws'), 'AWS CLI 1.46.3');
}
