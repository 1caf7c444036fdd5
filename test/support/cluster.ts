/**
 * A throw-away Kubernetes control plane on 127.0.0.1, from the binaries scripts/cluster/build.sh builds from the Go
 * module proxy: etcd → kube-apiserver (real PKI, `--authorization-mode=Node,RBAC`, an audit log) →
 * kube-controller-manager (default controllers) → kube-scheduler → kwok (fake kubelets: pods become Running/Ready
 * with IPs; no containers run). Everything lives in one temp dir and every process is stopped by its PID.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { freePort, stopChild, tailFile, waitFor } from './tools';

const ROOT = path.resolve(__dirname, '../..');

/** The directory of the cached binaries; throws with the command that builds them when they are missing. */
export function clusterBinDir(): string {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/cluster/build.sh'), '--check'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr.trim().split('\n').pop() ?? 'scripts/cluster/build.sh --check failed');
  return r.stdout.trim().split('\n').pop()!;
}

export interface ClusterOptions {
  /** Fake nodes to create. @default 1 */
  readonly nodes?: number;
  /** Fake GPU nodes to add (label `nvidia.com/gpu.present=true`, 8 `nvidia.com/gpu`, as GPU feature discovery sets). @default 0 */
  readonly gpuNodes?: number;
  /**
   * Pods whose `app.kubernetes.io/version` label is one of these never become Ready (kwok's pod-ready stage skips
   * them): a version whose pods fail their readiness probe.
   */
  readonly neverReadyVersions?: readonly string[];
  /**
   * Runs the control plane inside this network namespace (the node tier): every process through `nsenter --net`, the
   * apiserver on `address` (the node's IP there, so pods reach it through the `kubernetes` Service), kubectl inside
   * the namespace too, no kwok. @default - on this host's 127.0.0.1, with kwok
   */
  readonly netns?: { readonly path: string; readonly address: string };
  /** The Service IP range. @default '10.96.0.0/16' */
  readonly serviceCidr?: string;
}

/** The first address of an IPv4 range: the `kubernetes` Service's ClusterIP. */
function firstServiceIp(cidr: string): string {
  const [a, b, c, d] = cidr.split('/')[0].split('.').map(Number);
  return [a, b, c, d + 1].join('.');
}

export interface TestCluster {
  readonly dir: string;
  /** The PKI directory (ca.crt/ca.key, …): {@link clientCert} makes more client certificates from it. */
  readonly pki: string;
  /** Admin kubeconfig (system:masters). */
  readonly kubeconfig: string;
  readonly server: string;
  /** Runs kubectl with the admin kubeconfig; throws with its output on a non-zero exit. */
  kubectl(args: readonly string[], input?: string): string;
  /** Runs kubectl; returns the exit status and output instead of throwing. */
  kubectlResult(args: readonly string[], input?: string, kubeconfig?: string): { status: number; stdout: string; stderr: string };
  /** A kubeconfig that authenticates with `token` (a ServiceAccount's, from the TokenRequest API). */
  tokenKubeconfig(token: string, namespace: string): string;
  /** The apiserver's audit log entries so far (JSON lines). */
  auditEvents(): Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any -- audit JSON
  /** Start-up time (ms) of the whole control plane, and the RSS (KiB) of each process now. */
  readonly startupMs: number;
  rssKiB(): Record<string, number>;
  /** The PIDs of its processes (for a reaper after a killed run). */
  pids(): number[];
  stop(): Promise<void>;
}

function sh(cmd: string, args: readonly string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A client certificate `<name>.crt`/`<name>.key` signed by the cluster's CA, for `subject` (e.g. `/O=system:nodes/CN=system:node:n1`). */
export function clientCert(pki: string, name: string, subject: string): { cert: string; key: string } {
  const ssl = (...args: string[]) => sh('openssl', args, pki);
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', 'cli.ext', '-out', `${name}.crt`);
  return { cert: path.join(pki, `${name}.crt`), key: path.join(pki, `${name}.key`) };
}

/** A kubeconfig file for a client certificate. */
export function certKubeconfig(file: string, server: string, pki: string, cert: { cert: string; key: string }): string {
  fs.writeFileSync(file, kubeconfigYaml(server, path.join(pki, 'ca.crt'), { 'client-certificate': cert.cert, 'client-key': cert.key }));
  return file;
}

/** CA, apiserver serving cert (127.0.0.1 and `address`), admin client cert (system:masters), service-account key pair. */
function makePki(pki: string, address: string, serviceIp: string): void {
  fs.mkdirSync(pki, { recursive: true });
  const ssl = (...args: string[]) => sh('openssl', args, pki);
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=modelpilot-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver');
  fs.writeFileSync(path.join(pki, 'srv.ext'), 'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,'
    + `DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:${serviceIp}${address === '127.0.0.1' ? '' : `,IP:${address}`}\nextendedKeyUsage=serverAuth\n`);
  ssl('x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', 'srv.ext', '-out', 'apiserver.crt');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'admin.key', '-out', 'admin.csr', '-subj', '/O=system:masters/CN=admin');
  fs.writeFileSync(path.join(pki, 'cli.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl('x509', '-req', '-in', 'admin.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', 'cli.ext', '-out', 'admin.crt');
  ssl('genrsa', '-out', 'sa.key', '2048');
  ssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
}

function kubeconfigYaml(server: string, caFile: string, user: Record<string, string>, namespace = 'default'): string {
  return YAML.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': fs.readFileSync(caFile).toString('base64') } }],
    users: [{ name: 'user', user }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'user', namespace } }],
  });
}

/** kwok's default stages, with the pod-ready stage told to leave never-ready versions alone. */
function kwokStages(bin: string, neverReady: readonly string[]): string {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(bin, 'kwok-stages.yaml'), 'utf8')).map((d) => d.toJS()).filter((d) => d);
  for (const d of docs) {
    if (d.metadata?.name === 'pod-ready' && neverReady.length > 0) {
      d.spec.selector.matchExpressions.push({ key: '.metadata.labels["app.kubernetes.io/version"]', operator: 'NotIn', values: [...neverReady] });
    }
  }
  return docs.map((d) => YAML.stringify(d)).join('---\n');
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ['system:serviceaccount:ml:modelpilot-updater']
  - level: None
`;

export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const bin = clusterBinDir();
  const t0 = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-cluster-'));
  const pki = path.join(dir, 'pki');
  const ns = opts.netns;
  const host = ns?.address ?? '127.0.0.1';
  const serviceCidr = opts.serviceCidr ?? '10.96.0.0/16';
  makePki(pki, host, firstServiceIp(serviceCidr));
  const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort] = await Promise.all([1, 2, 3, 4, 5, 6].map(() => freePort()));
  const server = `https://${host}:${apiPort}`;
  // inside the namespace, nsenter execs the binary: the PID is the process's own
  const command = (file: string, args: readonly string[]): [string, string[]] => (ns ? ['nsenter', [`--net=${ns.path}`, file, ...args]] : [file, [...args]]);
  const kubeconfig = path.join(dir, 'admin.kubeconfig');
  fs.writeFileSync(kubeconfig, kubeconfigYaml(server, path.join(pki, 'ca.crt'), {
    'client-certificate-data': fs.readFileSync(path.join(pki, 'admin.crt')).toString('base64'),
    'client-key-data': fs.readFileSync(path.join(pki, 'admin.key')).toString('base64'),
  }));
  fs.writeFileSync(path.join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
  const auditLog = path.join(dir, 'audit.log');
  fs.writeFileSync(path.join(dir, 'kwok.yaml'), kwokStages(bin, opts.neverReadyVersions ?? []));

  const children: Array<{ name: string; child: ChildProcess; log: string }> = [];
  const start = (name: string, args: string[]): void => {
    const log = path.join(dir, `${name}.log`);
    const out = fs.openSync(log, 'a');
    const child = spawn(...command(path.join(bin, name), args), { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    children.push({ name, child, log });
  };
  const logs = (): string => children.map((c) => `--- ${c.name} (exit ${c.child.exitCode ?? 'running'}):\n${tailFile(c.log, 1500)}`).join('\n');
  const kubectlResult = (args: readonly string[], input?: string, config = kubeconfig) => {
    const r = spawnSync(...command(path.join(bin, 'kubectl'), ['--kubeconfig', config, ...args]), { encoding: 'utf8', input, timeout: 120_000 });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
  };
  const kubectl = (args: readonly string[], input?: string): string => {
    const r = kubectlResult(args, input);
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const stop = async (): Promise<void> => {
    for (const c of [...children].reverse()) await stopChild(c.child, 5000);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    start('etcd', [
      '--name=node0', `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`, `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=node0=http://127.0.0.1:${etcdPeer}`, '--unsafe-no-fsync=true', '--log-level=warn',
      '--listen-metrics-urls=', '--quota-backend-bytes=1073741824',
    ]);
    // (in a namespace, the apiserver's /readyz below waits for etcd)
    if (!ns) {
      await waitFor(async () => (fetch(`http://127.0.0.1:${etcdClient}/health`).then((r) => r.ok, () => false)),
        { what: 'etcd healthy', timeoutMs: 30_000, diagnostics: logs });
    }
    start('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`, `--bind-address=${host}`, `--secure-port=${apiPort}`,
      `--advertise-address=${ns ? host : '192.0.2.10'}`,
      // a real kubelet: logs/exec with a system:masters client cert, by the node's InternalIP (never through DNS)
      ...(ns ? [`--kubelet-client-certificate=${pki}/admin.crt`, `--kubelet-client-key=${pki}/admin.key`, '--kubelet-preferred-address-types=InternalIP'] : []),
      `--tls-cert-file=${pki}/apiserver.crt`, `--tls-private-key-file=${pki}/apiserver.key`, `--client-ca-file=${pki}/ca.crt`,
      '--authorization-mode=Node,RBAC', '--allow-privileged=true',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki}/sa.pub`, `--service-account-signing-key-file=${pki}/sa.key`,
      `--service-cluster-ip-range=${serviceCidr}`, `--cert-dir=${pki}`, '--profiling=false',
      `--audit-policy-file=${path.join(dir, 'audit-policy.yaml')}`, `--audit-log-path=${auditLog}`, '--audit-log-format=json',
    ]);
    await waitFor(() => kubectlResult(['get', '--raw=/readyz']).status === 0, { what: 'kube-apiserver /readyz', timeoutMs: 90_000, diagnostics: logs });
    start('kube-controller-manager', [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`, `--cert-dir=${path.join(dir, 'kcm')}`, '--leader-elect=false',
      '--controllers=*', `--root-ca-file=${pki}/ca.crt`, `--service-account-private-key-file=${pki}/sa.key`,
      `--cluster-signing-cert-file=${pki}/ca.crt`, `--cluster-signing-key-file=${pki}/ca.key`,
      '--kube-api-qps=100', '--kube-api-burst=200',
    ]);
    start('kube-scheduler', [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1', `--secure-port=${schedPort}`, `--cert-dir=${path.join(dir, 'sched')}`, '--leader-elect=false',
    ]);
    if (!ns) start('kwok', [
      `--kubeconfig=${kubeconfig}`, `--config=${path.join(dir, 'kwok.yaml')}`, '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake', '--node-ip=192.0.2.1', '--node-lease-duration-seconds=40',
      '--cidr=10.244.0.0/16', `--server-address=127.0.0.1:${kwokPort}`,
    ]);
    const nodes = ns ? [] : [
      ...Array.from({ length: opts.nodes ?? 1 }, (_, i) => ({ name: `kwok-node-${i}`, gpu: false })),
      ...Array.from({ length: opts.gpuNodes ?? 0 }, (_, i) => ({ name: `kwok-gpu-node-${i}`, gpu: true })),
    ];
    for (const n of nodes) {
      const resources = { cpu: '32', memory: '256Gi', pods: '110', ...(n.gpu ? { 'nvidia.com/gpu': '8' } : {}) };
      kubectl(['apply', '-f', '-'], YAML.stringify({
        apiVersion: 'v1', kind: 'Node',
        metadata: {
          name: n.name, annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: {
            'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok',
            ...(n.gpu ? { 'nvidia.com/gpu.present': 'true' } : {}),
          },
        },
        status: { allocatable: resources, capacity: resources },
      }));
    }
    if (!ns) await waitFor(() => /True/.test(kubectlResult(['get', 'nodes', '-o', 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}']).stdout),
      { what: 'kwok node Ready', timeoutMs: 60_000, diagnostics: logs });
    // The default ServiceAccount (serviceaccount-controller) must exist before pods can be admitted.
    await waitFor(() => kubectlResult(['get', 'serviceaccount', 'default', '-n', 'default']).status === 0,
      { what: 'the default ServiceAccount', timeoutMs: 60_000, diagnostics: logs });
  } catch (e) {
    const text = logs();
    await stop();
    throw new Error(`${(e as Error).message}\n${text}`);
  }
  const startupMs = Date.now() - t0;
  return {
    dir, pki, kubeconfig, server, kubectl, kubectlResult, stop, startupMs,
    tokenKubeconfig(token: string, namespace: string): string {
      const file = path.join(dir, `token-${Math.random().toString(36).slice(2)}.kubeconfig`);
      fs.writeFileSync(file, kubeconfigYaml(server, path.join(pki, 'ca.crt'), { token }, namespace));
      return file;
    },
    auditEvents() {
      if (!fs.existsSync(auditLog)) return [];
      return fs.readFileSync(auditLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    },
    pids: () => children.map((c) => c.child.pid).filter((p): p is number => p !== undefined),
    rssKiB() {
      const out: Record<string, number> = {};
      for (const c of children) {
        try {
          const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${c.child.pid}/status`, 'utf8'));
          if (m) out[c.name] = Number(m[1]);
        } catch {
          out[c.name] = 0;
        }
      }
      return out;
    },
  };
}
