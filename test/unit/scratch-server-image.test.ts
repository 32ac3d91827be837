import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SCRATCH_IMAGES,
  imageTagOfServerVersion,
  parseScratchImages,
  scratchServerImage,
  scratchServerImageEnv,
  scratchServerRootPasswordEnv,
  scratchServerStorageRequest,
} from '../../domain/scratch-server-image';
import { scratchServersFromEnvironment } from '../../workers/scratch-server-settings';
import { LocalScratchServers, scratchServerLauncher } from '../../activities/scratch-servers';
import { KubernetesJobScratchServers } from '../../activities/kubernetes-scratch-servers';

describe('the image of a Kubernetes scratch server', () => {
  it("is the engine's official image at the snapshot server's release", () => {
    expect(scratchServerImage(DEFAULT_SCRATCH_IMAGES, 'mariadb', '10.11.14-MariaDB-0+deb12u2')).toEqual({
      image: 'docker.io/library/mariadb:10.11.14',
    });
    expect(scratchServerImage(DEFAULT_SCRATCH_IMAGES, 'mysql', '9.7.0')).toEqual({ image: 'docker.io/library/mysql:9.7.0' });
    expect(scratchServerImage(DEFAULT_SCRATCH_IMAGES, 'percona-xtradb', '8.0.36-28.1')).toEqual({
      image: 'docker.io/percona/percona-xtradb-cluster:8.0.36-28.1',
    });
    expect(imageTagOfServerVersion('mariadb', '11.8.3-MariaDB-log')).toBe('11.8.3');
  });

  it('says so when the version names no release, and takes a template without {version} as it is', () => {
    expect(scratchServerImage(DEFAULT_SCRATCH_IMAGES, 'mysql', 'unknown')).toEqual({
      problem: 'the snapshot\'s server version "unknown" names no release for the image docker.io/library/mysql:{version}',
    });
    expect(scratchServerImage({ ...DEFAULT_SCRATCH_IMAGES, mysql: 'mirror/mysql:8.4' }, 'mysql', 'unknown')).toEqual({
      image: 'mirror/mysql:8.4',
    });
  });

  it("gives root's password in the variable the image reads", () => {
    expect(scratchServerRootPasswordEnv('mariadb')).toBe('MARIADB_ROOT_PASSWORD');
    expect(scratchServerRootPasswordEnv('mysql')).toBe('MYSQL_ROOT_PASSWORD');
    expect(scratchServerRootPasswordEnv('percona-xtradb')).toBe('MYSQL_ROOT_PASSWORD');
    // A lone Percona XtraDB Cluster node bootstraps a cluster of its own, which must have a name.
    expect(scratchServerImageEnv('percona-xtradb')).toEqual([{ name: 'CLUSTER_NAME', value: 'dbkeep-scratch' }]);
    expect(scratchServerImageEnv('mariadb')).toEqual([]);
  });

  it('reads DBKEEP_SCRATCH_IMAGES over the defaults, naming a wrong pair', () => {
    expect(parseScratchImages('mariadb=registry.example/mariadb:{version}, mysql=registry.example/mysql:{version}')).toEqual({
      images: {
        ...DEFAULT_SCRATCH_IMAGES,
        mariadb: 'registry.example/mariadb:{version}',
        mysql: 'registry.example/mysql:{version}',
      },
    });
    expect(parseScratchImages(undefined)).toEqual({ images: DEFAULT_SCRATCH_IMAGES });
    expect(parseScratchImages('postgres=postgres:16')).toEqual({
      problem: '"postgres=postgres:16" must be engine=image with engine one of mariadb, mysql, percona-xtradb',
    });
    expect(parseScratchImages('mariadb=')).toEqual({ problem: '"mariadb=": the image must be a non-empty reference without spaces' });
  });
});

describe("a scratch server's storage request", () => {
  it("is twice the snapshot's SQL and a GiB for the server's own files, in whole MiB", () => {
    expect(scratchServerStorageRequest(0)).toBe('1024Mi');
    expect(scratchServerStorageRequest(1024 * 1024 * 1024)).toBe('3072Mi');
    expect(scratchServerStorageRequest(1)).toBe('1025Mi');
  });
});

describe("the worker's scratch server settings", () => {
  it('give the local launcher and the Kubernetes one, which loads no API before its first drill', () => {
    const launchers = scratchServersFromEnvironment({ KUBECONFIG: '/nonexistent/kubeconfig' });
    expect(launchers.local).toBeInstanceOf(LocalScratchServers);
    expect(launchers.kubernetes).toBeInstanceOf(KubernetesJobScratchServers);
  });

  it('name the variable that is wrong', () => {
    expect(() => scratchServersFromEnvironment({ DBKEEP_SCRATCH_RUN_AS_USER: '0' })).toThrow(/DBKEEP_SCRATCH_RUN_AS_USER: must not be 0/);
    expect(() => scratchServersFromEnvironment({ DBKEEP_SCRATCH_NAMESPACE: 'Not A Namespace' })).toThrow(/DBKEEP_SCRATCH_NAMESPACE: /);
    expect(() => scratchServersFromEnvironment({ DBKEEP_SCRATCH_IMAGES: 'oracle=x' })).toThrow(
      /DBKEEP_SCRATCH_IMAGES: "oracle=x" must be engine=image/,
    );
  });

  it('refuse a drill whose placement the worker has no launcher for, saying so', () => {
    expect(() => scratchServerLauncher({ local: new LocalScratchServers() }, 'kubernetes')).toThrow(
      /spec.verification.scratch is kubernetes, and this worker starts no kubernetes scratch servers/,
    );
  });
});
