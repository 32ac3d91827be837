import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { findFreePort, findFreePorts } from './free-port';
import { startManagedProcess, type ManagedProcess } from '../pipeline/managed-process';
import { startOnFreePorts, startReady } from './start-on-free-ports';
import { kinePath, kubeApiserverPath } from './tool-paths';

export interface KubeApiServerOptions {
  /**
   * Holds the certificates, kine's SQLite database, the admin kubeconfig and the logs; created
   * when missing. Certificates already there are reused, so a restart in dir keeps its objects.
   */
  dir: string;
  detached?: boolean;
}

export interface KubeApiServer {
  /** https://127.0.0.1:port */
  server: string;
  /** An admin (system:masters) kubeconfig for server, with the certificates inlined. */
  kubeconfigPath: string;
  /** The cluster CA in PEM, for clients built without the admin kubeconfig (e.g. ServiceAccount tokens). */
  caFile: string;
  apiserverPid: number;
  kinePid: number;
  logFiles: { apiserver: string; kine: string };
  /** Stops kube-apiserver, then kine. */
  stop(): Promise<void>;
  kill(): void;
}

const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
/**
 * The first address of the range: the `kubernetes` Service's cluster IP, which the serving
 * certificate names as in-cluster clients expect. Nothing routes it here.
 */
const KUBERNETES_SERVICE_IP = '10.0.0.1';
const IN_CLUSTER_NAMES = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const CERTIFICATE_DAYS = '3650';
// kube-apiserver compiles its OpenAPI and RBAC bootstrap data before /readyz turns green:
// about 10 s on 2 cores, much more while other tests compete for them.
const READY_TIMEOUT_MS = 120_000;
const KINE_READY_TIMEOUT_MS = 30_000;

const execFileAsync = promisify(execFile);

interface Pki {
  caCertificate: string;
  servingCertificate: string;
  servingKey: string;
  adminCertificate: string;
  adminKey: string;
  serviceAccountPublicKey: string;
  serviceAccountPrivateKey: string;
}

async function startKine(options: KubeApiServerOptions): Promise<{ kine: ManagedProcess; kinePort: number }> {
  return startOnFreePorts(async () => {
    // Found together, so they differ: found one after another, a port just let go can come back.
    const [kinePort, kineMetricsPort] = (await findFreePorts(2)) as [number, number];
    const kine = startManagedProcess({
      command: kinePath(),
      // No --endpoint: kine then keeps its SQLite file, with its own tuned pragmas, in ./db.
      args: ['--listen-address', `127.0.0.1:${kinePort}`, '--metrics-bind-address', `127.0.0.1:${kineMetricsPort}`],
      cwd: join(options.dir, 'kine'),
      logFile: join(options.dir, 'kine.log'),
      detached: options.detached,
    });
    // kine serves metrics only once its etcd endpoint listens and the database is open.
    await startReady(kine, () => isOk(`http://127.0.0.1:${kineMetricsPort}/metrics`), {
      timeoutMs: KINE_READY_TIMEOUT_MS,
      what: `kine on 127.0.0.1:${kinePort}`,
    });
    return { kine, kinePort };
  });
}

/**
 * Starts kine on SQLite and the real kube-apiserver on loopback, with throwaway certificates and
 * RBAC on. Only the API server runs: no scheduler, no controller-manager, no kubelet, so objects
 * are stored and validated, but nothing acts on them (a Job gets no Pods, a Namespace is not
 * finalized on delete, no `default` ServiceAccount appears in a new namespace).
 */
export async function startKubeApiServer(options: KubeApiServerOptions): Promise<KubeApiServer> {
  const pkiDir = join(options.dir, 'pki');
  const kineDir = join(options.dir, 'kine');
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  mkdirSync(kineDir, { recursive: true });
  const pki = await ensurePki(pkiDir);

  const { kine, kinePort } = await startKine(options);
  let apiserver: ManagedProcess | undefined;
  try {
    const tls = {
      ca: readFileSync(pki.caCertificate),
      cert: readFileSync(pki.adminCertificate),
      key: readFileSync(pki.adminKey),
    };
    const started = await startOnFreePorts(async () => {
      const port = await findFreePort();
      const url = `https://127.0.0.1:${port}`;
      const child = startManagedProcess({
        command: kubeApiserverPath(),
        args: kubeApiserverArgs({ port, kinePort, pki, certDir: join(options.dir, 'apiserver') }),
        logFile: join(options.dir, 'kube-apiserver.log'),
        detached: options.detached,
      });
      apiserver = child;
      await startReady(child, () => isReady(`${url}/readyz`, tls), { timeoutMs: READY_TIMEOUT_MS, what: `kube-apiserver on ${url}` });
      return { child, server: url };
    });
    const { server } = started;

    const kubeconfigPath = join(options.dir, 'admin.kubeconfig');
    writeFileSync(kubeconfigPath, adminKubeconfig(server, tls), { mode: 0o600 });
    const running = started.child;
    return {
      server,
      kubeconfigPath,
      caFile: pki.caCertificate,
      apiserverPid: running.pid,
      kinePid: kine.pid,
      logFiles: { apiserver: running.logFile, kine: kine.logFile },
      async stop() {
        await running.stop();
        await kine.stop();
      },
      kill() {
        running.kill();
        kine.kill();
      },
    };
  } catch (error) {
    apiserver?.kill();
    kine.kill();
    throw error;
  }
}

function kubeApiserverArgs(settings: { port: number; kinePort: number; pki: Pki; certDir: string }): string[] {
  const { pki } = settings;
  return [
    `--etcd-servers=http://127.0.0.1:${settings.kinePort}`,
    `--secure-port=${settings.port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // The reconciler publishes the advertise address as the `kubernetes` Service's endpoint and
    // refuses a loopback one; nothing in this cluster would route to it anyway.
    '--endpoint-reconciler-type=none',
    // Unused with the certificate below, but the default is /var/run/kubernetes.
    `--cert-dir=${settings.certDir}`,
    `--tls-cert-file=${pki.servingCertificate}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCertificate}`,
    '--authorization-mode=RBAC',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${pki.serviceAccountPublicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccountPrivateKey}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    // As envtest does: this plugin rejects Pods whose ServiceAccount does not exist, and the
    // `default` one is created by kube-controller-manager, which does not run here.
    '--disable-admission-plugins=ServiceAccount',
    '--profiling=false',
  ];
}

async function ensurePki(dir: string): Promise<Pki> {
  const pki: Pki = {
    caCertificate: join(dir, 'ca.crt'),
    servingCertificate: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    adminCertificate: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    serviceAccountPublicKey: join(dir, 'service-account.pub'),
    serviceAccountPrivateKey: join(dir, 'service-account.key'),
  };
  // The last file written: a run interrupted before writing it generates everything anew.
  if (existsSync(pki.serviceAccountPublicKey)) return pki;

  const caKey = join(dir, 'ca.key');
  await openssl(['req', '-x509', ...newKeyOptions(caKey), '-out', pki.caCertificate, '-subj', '/CN=dbkeep-test-kubernetes-ca']);
  const signedByCa = ['-CA', pki.caCertificate, '-CAkey', caKey, '-addext', 'basicConstraints=critical,CA:FALSE'];
  await openssl([
    'req',
    '-x509',
    ...newKeyOptions(pki.servingKey),
    ...signedByCa,
    '-out',
    pki.servingCertificate,
    '-subj',
    '/CN=kube-apiserver',
    '-addext',
    `subjectAltName=IP:127.0.0.1,IP:${KUBERNETES_SERVICE_IP},DNS:localhost,${IN_CLUSTER_NAMES.map((name) => `DNS:${name}`).join(',')}`,
    '-addext',
    'extendedKeyUsage=serverAuth',
  ]);
  // Organization system:masters is the group RBAC binds to cluster-admin from the start.
  await openssl([
    'req',
    '-x509',
    ...newKeyOptions(pki.adminKey),
    ...signedByCa,
    '-out',
    pki.adminCertificate,
    '-subj',
    '/O=system:masters/CN=dbkeep-test-admin',
    '-addext',
    'extendedKeyUsage=clientAuth',
  ]);
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', pki.serviceAccountPrivateKey]);
  await openssl(['pkey', '-in', pki.serviceAccountPrivateKey, '-pubout', '-out', pki.serviceAccountPublicKey]);
  return pki;
}

/** `openssl req` options for a new unencrypted P-256 key in keyFile and a long-lived certificate. */
function newKeyOptions(keyFile: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-days', CERTIFICATE_DAYS];
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`openssl ${args[0]} failed${stderr ? `: ${stderr}` : ''}`, { cause: error });
  }
}

function adminKubeconfig(server: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'dbkeep-test', cluster: { server, 'certificate-authority-data': tls.ca.toString('base64') } }],
    users: [
      {
        name: 'dbkeep-test-admin',
        user: {
          'client-certificate-data': tls.cert.toString('base64'),
          'client-key-data': tls.key.toString('base64'),
        },
      },
    ],
    contexts: [{ name: 'dbkeep-test', context: { cluster: 'dbkeep-test', user: 'dbkeep-test-admin', namespace: 'default' } }],
    'current-context': 'dbkeep-test',
  });
}

async function isOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.ok;
}

// fetch cannot present a client certificate, and /readyz with the admin's is the check that
// also covers kine, RBAC's bootstrap roles and every other post-start hook.
function isReady(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = request(url, { ...tls }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    probe.setTimeout(2_000, () => probe.destroy(new Error(`no answer from ${url} within 2 s`)));
    probe.once('error', reject);
    probe.end();
  });
}
