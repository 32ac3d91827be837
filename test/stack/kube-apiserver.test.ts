import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../../stack/kube-apiserver';
import { isPidAlive } from '../../pipeline/managed-process';
import { KUBERNETES_VERSION } from '../../stack/tool-paths';

const scratch = mkdtempSync(join(tmpdir(), 'dbkeep-kube-apiserver-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function adminConfig(cluster: KubeApiServer): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfigPath);
  return config;
}

async function stopAndExpectGone(cluster: KubeApiServer): Promise<void> {
  await cluster.stop();
  expect(isPidAlive(cluster.apiserverPid)).toBe(false);
  expect(isPidAlive(cluster.kinePid)).toBe(false);
}

describe('kube-apiserver on kine', () => {
  it('serves the pinned release, stores a Secret, keeps it across a restart in the same dir, and stops', async () => {
    const dir = join(scratch, 'cluster');
    const namespace = 'dbkeep-stack-test';

    const first = await startKubeApiServer({ dir });
    try {
      expect(first.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect((await adminConfig(first).makeApiClient(VersionApi).getCode()).gitVersion).toBe(KUBERNETES_VERSION);

      const core = adminConfig(first).makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      await core.createNamespacedSecret({
        namespace,
        body: { metadata: { name: 'db-credentials' }, stringData: { password: 'not-a-real-password' } },
      });
      const secret = await core.readNamespacedSecret({ name: 'db-credentials', namespace });
      expect(Buffer.from(secret.data?.password ?? '', 'base64').toString('utf8')).toBe('not-a-real-password');
    } finally {
      await stopAndExpectGone(first);
    }

    // The certificates and kine's SQLite file are reused; the ports are chosen anew.
    const second = await startKubeApiServer({ dir });
    try {
      const secret = await adminConfig(second).makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'db-credentials', namespace });
      expect(Buffer.from(secret.data?.password ?? '', 'base64').toString('utf8')).toBe('not-a-real-password');
    } finally {
      await stopAndExpectGone(second);
    }
  });
});
