/**
 * A real Kubernetes node for the node tier, all inside a network namespace this module creates: the control plane of
 * the cluster tier (test/support/cluster.ts, run through `nsenter --net`), containerd + runc + the bridge CNI, a
 * kubelet and kube-proxy (iptables mode), from the binaries scripts/node/build.sh builds from the Go module proxy
 * (runc is Debian's), and CoreDNS as the cluster DNS. Addresses are documentation ranges that exist only in the namespace: the node 198.51.100.10
 * (gateway 198.51.100.1, also in the namespace: no route out), pods 203.0.113.0/25, Services 203.0.113.128/25.
 *
 * What it changes on the host, and how it is restored by {@link TestNode.stop}: global sysctls the kubelet and
 * kube-proxy write (read before, written back after), host directories the kubelet and CNI create when missing
 * (removed if they did not exist before), the kubelet's cgroups (its own `cgroupRoot`, removed), mounts under its
 * own directories (unmounted), the namespace (deleted). Processes it stops are the ones it started, by PID, and the
 * containers of its own containerd.
 */
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { certKubeconfig, clientCert, startCluster, TestCluster } from './cluster';
import { hostBinaryImage } from './host-images';
import type { TestPodman } from './podman';
import { stopChild, tailFile, waitFor } from './tools';

const ROOT = path.resolve(__dirname, '../..');

/** The node's addresses: documentation ranges, inside the namespace only. */
export const NODE_NET = {
  nodeIp: '198.51.100.10',
  gateway: '198.51.100.1',
  podCidr: '203.0.113.0/25',
  serviceCidr: '203.0.113.128/25',
} as const;

/** The image containerd runs as each pod's sandbox (no registry serves registry.k8s.io/pause here). */
export const PAUSE_IMAGE = 'localhost/modelpilot-node/pause:1';

/** Global sysctls the kubelet (protectKernelDefaults off) and kube-proxy may write: read before, restored after. */
const HOST_SYSCTLS = [
  'vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops', 'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes',
  'net/netfilter/nf_conntrack_max', 'net/netfilter/nf_conntrack_tcp_timeout_established', 'net/netfilter/nf_conntrack_tcp_timeout_close_wait',
  'net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-ip6tables',
];

/** Host paths the kubelet, containerd's CRI and CNI create whatever their configured directories: removed if new. */
const HOST_PATHS = ['/var/lib/kubelet', '/var/log/pods', '/var/log/containers', '/var/lib/cni', '/usr/libexec/kubernetes', '/opt/cni', '/etc/cni', '/run/containerd'];

/** What a run records in `<dir>/node.json` so that a later run can undo it if this one is killed before its stop(). */
interface NodeRecord {
  readonly owner: number;
  readonly name: string;
  readonly dir: string;
  readonly clusterDir?: string;
  readonly pids: number[];
  readonly sysctls: Record<string, string>;
  readonly newPaths: string[];
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Kills every process in the kubelet's cgroup tree (the pods of this node, and nothing else). */
function killCgroupProcesses(name: string): void {
  const top = path.join('/sys/fs/cgroup/pids', name);
  if (!fs.existsSync(top)) return;
  const walk = (d: string): void => {
    for (const pid of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(top);
}

/** Undoes what a run did on the host: its pods, processes, mounts, cgroups, namespace, sysctls, paths and files. */
function undoHost(r: NodeRecord): string[] {
  killCgroupProcesses(r.name);
  unmountUnder(r.dir);
  removeCgroup(r.name);
  spawnSync('ip', ['netns', 'del', r.name]);
  for (const p of r.newPaths) fs.rmSync(p, { recursive: true, force: true });
  const restored = restoreSysctls(new Map(Object.entries(r.sysctls)));
  fs.rmSync(r.dir, { recursive: true, force: true });
  if (r.clusterDir) fs.rmSync(r.clusterDir, { recursive: true, force: true });
  return restored;
}

/**
 * Undoes earlier runs of this tier that were killed before their stop() (their owner process is gone): stops the
 * processes they recorded (the PIDs they started, checked against their command lines), then {@link undoHost}.
 */
function reapKilledRuns(): void {
  for (const e of fs.readdirSync(os.tmpdir())) {
    const file = path.join(os.tmpdir(), e, 'node.json');
    if (!e.startsWith('mpnode-') || !fs.existsSync(file)) continue;
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as NodeRecord;
    if (alive(r.owner)) continue;
    for (const pid of r.pids) {
      let cmd = '';
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmd.includes(r.dir) || (r.clusterDir !== undefined && cmd.includes(r.clusterDir))) process.kill(pid, 'SIGKILL');
    }
    // containerd's shims (started by the run's containerd, named by its socket)
    for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${r.dir}/containerd.sock`)) process.kill(Number(p), 'SIGKILL');
      } catch {
        // gone
      }
    }
    const restored = undoHost(r);
    console.warn(`test/support/node.ts: undid a killed run of the node tier (${r.name}); sysctls restored: ${restored.join(', ') || 'none'}`);
  }
}

/** The directory of the cached node binaries; throws with the command that builds them when they are missing. */
export function nodeBinDir(): string {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/node/build.sh'), '--check'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr.trim().split('\n').pop() ?? 'scripts/node/build.sh --check failed');
  return r.stdout.trim().split('\n').pop()!;
}

export interface TestNode {
  readonly cluster: TestCluster;
  /** The Node's name. */
  readonly name: string;
  /** `/run/netns/<name>`: run a process there with {@link TestNode.spawn}. */
  readonly netns: string;
  readonly dir: string;
  /** The host sysctls that differed after the run and were written back (`name: was → found`). */
  readonly restored: string[];
  /** Imports an image of `pod` into the node's containerd (as `ctr images import` of a `podman save`). */
  importImage(pod: TestPodman, ref: string): Promise<void>;
  /** Runs a command inside the node's network namespace. */
  run(file: string, args: readonly string[], opts?: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): SpawnSyncReturns<string>;
  /** Starts a process inside the node's network namespace (stop it yourself; nsenter execs it: the PID is its own). */
  spawn(file: string, args: readonly string[], opts?: { env?: NodeJS.ProcessEnv }): ChildProcess;
  /** `ctr -n k8s.io …` against the node's containerd. */
  ctr(args: readonly string[]): string;
  /** RSS (KiB) of the node's processes and the control plane's. */
  rssKiB(): Record<string, number>;
  /** The tail of each node process' log. */
  logs(): string;
  stop(): Promise<void>;
}

type RunOptions = { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number };

function sh(file: string, args: readonly string[], opts: RunOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(file, args, { encoding: 'utf8', input: opts.input, env: opts.env, timeout: opts.timeoutMs ?? 120_000 });
}

function must(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`);
  return r.stdout;
}

function readSysctls(): Map<string, string> {
  const m = new Map<string, string>();
  for (const k of HOST_SYSCTLS) {
    try {
      m.set(k, fs.readFileSync(`/proc/sys/${k}`, 'utf8').trim());
    } catch {
      // not in this kernel
    }
  }
  return m;
}

/** Writes back every sysctl that changed; returns what it restored. */
function restoreSysctls(before: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, was] of before) {
    let now: string;
    try {
      now = fs.readFileSync(`/proc/sys/${k}`, 'utf8').trim();
    } catch {
      continue;
    }
    if (now === was) continue;
    fs.writeFileSync(`/proc/sys/${k}`, was);
    out.push(`${k.replace(/\//g, '.')}: ${was} → ${now}`);
  }
  return out;
}

/** Unmounts every mount at or under `prefix` (deepest first). */
function unmountUnder(prefix: string): void {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
    .filter((m) => m && (m === prefix || m.startsWith(`${prefix}/`)));
  for (const m of mounts.sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', m]);
}

/** Creates the kubelet's cgroup root in every hierarchy (the kubelet refuses a root missing in one); cpuset's from its parent's. */
function makeCgroup(name: string): void {
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    const parent = path.join('/sys/fs/cgroup', h);
    if (!fs.statSync(parent).isDirectory() || fs.existsSync(path.join(parent, name))) continue;
    fs.mkdirSync(path.join(parent, name));
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (fs.existsSync(path.join(parent, f))) fs.writeFileSync(path.join(parent, name, f), fs.readFileSync(path.join(parent, f), 'utf8').trim());
    }
  }
}

/** Removes a cgroup (v1: in every hierarchy) and its children, deepest first. */
function removeCgroup(name: string): void {
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    const top = path.join('/sys/fs/cgroup', h, name);
    if (!fs.existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string): void => {
      dirs.push(d);
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    };
    walk(top);
    for (const d of dirs.reverse()) {
      try {
        fs.rmdirSync(d);
      } catch {
        // a process still inside: left for the report below
      }
    }
  }
}

function containerdConfig(dir: string, bin: string): string {
  return `version = 3
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
[grpc]
  address = "${dir}/containerd.sock"
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "${PAUSE_IMAGE}"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "${dir}/certs.d"
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "/usr/sbin/runc"
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["${bin}"]
      conf_dir = "${dir}/cni/net.d"
`;
}

export interface NodeOptions {
  /**
   * Registry hosts containerd pulls from over plain HTTP (`host:port` → `http://host:port`), written as
   * `<certs.d>/<host>/hosts.toml` the way docs/registry.md tells users to. @default []
   */
  readonly insecureRegistries?: readonly string[];
  /** Extra images to import before the node registers (the pause image always is). */
  readonly podman: TestPodman;
}

export async function startNode(opts: NodeOptions): Promise<TestNode> {
  const bin = nodeBinDir();
  reapKilledRuns();
  const id = crypto.randomBytes(3).toString('hex');
  const name = `mpnode-${id}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpnode-'));
  const netns = `/run/netns/${name}`;
  const sysctls = readSysctls();
  const newPaths = HOST_PATHS.filter((p) => !fs.existsSync(p));
  const cgroupRoot = `/${name}`;
  const children: Array<{ name: string; child: ChildProcess; log: string }> = [];
  let cluster: TestCluster | undefined;
  const restored: string[] = [];
  const nsArgs = (file: string, args: readonly string[]): string[] => [`--net=${netns}`, file, ...args];
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
  const record = (): void => {
    const r: NodeRecord = {
      owner: process.pid, name, dir, clusterDir: cluster?.dir, sysctls: Object.fromEntries(sysctls), newPaths,
      pids: [...children.map((c) => c.child.pid), ...(cluster?.pids() ?? [])].filter((p): p is number => p !== undefined),
    };
    fs.writeFileSync(path.join(dir, 'node.json'), JSON.stringify(r));
  };
  record();
  const start = (proc: string, file: string, args: readonly string[]): ChildProcess => {
    const log = path.join(dir, `${proc}.log`);
    const out = fs.openSync(log, 'a');
    const child = spawn('nsenter', nsArgs(file, args), { stdio: ['ignore', out, out], env });
    fs.closeSync(out);
    children.push({ name: proc, child, log });
    record();
    return child;
  };
  const logs = (): string => children.map((c) => `--- ${c.name} (exit ${c.child.exitCode ?? 'running'}):\n${tailFile(c.log, 2500)}`).join('\n');
  const sock = path.join(dir, 'containerd.sock');
  const ctr = (args: readonly string[]): string => must(sh(path.join(bin, 'ctr'), ['--address', sock, '-n', 'k8s.io', ...args]), `ctr ${args.join(' ')}`);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // the pods first, through the kubelet (CNI DEL, sandboxes removed), while it still runs
    if (cluster && children.some((c) => c.name === 'kubelet' && c.child.exitCode === null)) {
      cluster.kubectlResult(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1', '--wait=true', '--timeout=60s']);
    }
    for (const c of [...children].reverse().filter((x) => x.name !== 'containerd')) await stopChild(c.child, 5000);
    // anything the kubelet left: killed and removed through our own containerd
    const cd = children.find((c) => c.name === 'containerd');
    if (cd && cd.child.exitCode === null) {
      for (const task of sh(path.join(bin, 'ctr'), ['--address', sock, '-n', 'k8s.io', 'tasks', 'ls', '-q']).stdout.split('\n').filter(Boolean)) {
        sh(path.join(bin, 'ctr'), ['--address', sock, '-n', 'k8s.io', 'tasks', 'kill', '-s', 'SIGKILL', task]);
        sh(path.join(bin, 'ctr'), ['--address', sock, '-n', 'k8s.io', 'tasks', 'delete', '-f', task]);
      }
      await stopChild(cd.child, 10_000);
    }
    await cluster?.stop();
    restored.push(...undoHost({ owner: process.pid, name, dir, pids: [], sysctls: Object.fromEntries(sysctls), newPaths }));
  };

  try {
    // 1. the namespace: the node's veth and its gateway, both inside (no route out)
    must(sh('ip', ['netns', 'add', name]), 'ip netns add');
    const ipn = (...a: string[]) => must(sh('ip', ['-n', name, ...a]), `ip -n ${name} ${a.join(' ')}`);
    ipn('link', 'set', 'lo', 'up');
    ipn('link', 'add', 'node0', 'type', 'veth', 'peer', 'name', 'gw0');
    ipn('addr', 'add', `${NODE_NET.nodeIp}/24`, 'dev', 'node0');
    ipn('addr', 'add', `${NODE_NET.gateway}/24`, 'dev', 'gw0');
    ipn('link', 'set', 'node0', 'up');
    ipn('link', 'set', 'gw0', 'up');
    ipn('route', 'add', 'default', 'via', NODE_NET.gateway, 'dev', 'node0');

    // 2. the control plane, in the namespace
    cluster = await startCluster({ netns: { path: netns, address: NODE_NET.nodeIp }, serviceCidr: NODE_NET.serviceCidr });
    record();
    const c = cluster;
    const nodeCert = clientCert(c.pki, 'node', `/O=system:nodes/CN=system:node:${name}`);
    const proxyCert = clientCert(c.pki, 'kube-proxy', '/CN=system:kube-proxy');

    // 3. containerd, its registry hosts (docs/registry.md's hosts.toml) and the bridge CNI
    fs.mkdirSync(path.join(dir, 'cni/net.d'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'containerd.toml'), containerdConfig(dir, bin));
    for (const host of opts.insecureRegistries ?? []) {
      fs.mkdirSync(path.join(dir, 'certs.d', host), { recursive: true });
      fs.writeFileSync(path.join(dir, 'certs.d', host, 'hosts.toml'), `server = "http://${host}"\n\n[host."http://${host}"]\n  capabilities = ["pull", "resolve"]\n`);
    }
    fs.writeFileSync(path.join(dir, 'cni/net.d/10-modelpilot.conflist'), JSON.stringify({
      cniVersion: '1.0.0', name: 'modelpilot-node',
      plugins: [{
        type: 'bridge', bridge: 'mpcni0', isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: NODE_NET.podCidr }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(dir, 'cni/ipam') },
      }, { type: 'portmap', capabilities: { portMappings: true } }],
    }));
    start('containerd', path.join(bin, 'containerd'), ['--config', path.join(dir, 'containerd.toml')]);
    await waitFor(() => sh(path.join(bin, 'ctr'), ['--address', sock, 'version']).status === 0, { what: 'containerd', timeoutMs: 60_000, diagnostics: logs });
    const pause = await hostBinaryImage(opts.podman, PAUSE_IMAGE, ['/usr/bin/sleep'], ['/usr/bin/sleep', 'infinity']);
    await importImage(opts.podman, pause);

    // 4. the kubelet, under a cgroup root of its own
    makeCgroup(cgroupRoot.slice(1));
    const kubeletConfig = {
      apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration',
      failCgroupV1: false, failSwapOn: false, cgroupDriver: 'cgroupfs', cgroupRoot,
      containerRuntimeEndpoint: `unix://${sock}`, address: NODE_NET.nodeIp, readOnlyPort: 0, healthzBindAddress: '127.0.0.1',
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: path.join(c.pki, 'ca.crt') } },
      authorization: { mode: 'Webhook' },
      clusterDomain: 'cluster.local', clusterDNS: [NODE_NET.gateway], resolvConf: path.join(dir, 'resolv.conf'), podLogsDir: path.join(dir, 'pod-logs'),
      imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      maxPods: 30, podPidsLimit: 1024, serializeImagePulls: false, protectKernelDefaults: false,
      // status of a pod's probes to the API quickly: the scenarios wait on it
      nodeStatusUpdateFrequency: '5s', syncFrequency: '10s',
    };
    // the node's own resolver is the cluster DNS too (inside the namespace), never this host's
    fs.writeFileSync(path.join(dir, 'resolv.conf'), `nameserver ${NODE_NET.gateway}\noptions timeout:1 attempts:2\n`);
    fs.writeFileSync(path.join(dir, 'kubelet.yaml'), YAML.stringify(kubeletConfig));
    const nodeKubeconfig = certKubeconfig(path.join(dir, 'node.kubeconfig'), c.server, c.pki, nodeCert);
    start('kubelet', path.join(bin, 'kubelet'), [
      `--config=${path.join(dir, 'kubelet.yaml')}`, `--kubeconfig=${nodeKubeconfig}`, `--hostname-override=${name}`, `--node-ip=${NODE_NET.nodeIp}`,
      `--root-dir=${path.join(dir, 'kubelet')}`, `--cert-dir=${path.join(dir, 'kubelet-pki')}`, `--volume-plugin-dir=${path.join(dir, 'volume-plugins')}`,
    ]);

    // 5. kube-proxy: Services (ClusterIP and NodePort, also on the node's 127.0.0.1) through iptables in the namespace
    fs.writeFileSync(path.join(dir, 'kube-proxy.yaml'), YAML.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', mode: 'iptables',
      clientConnection: { kubeconfig: certKubeconfig(path.join(dir, 'kube-proxy.kubeconfig'), c.server, c.pki, proxyCert) },
      hostnameOverride: name, clusterCIDR: NODE_NET.podCidr, nodePortAddresses: [`${NODE_NET.nodeIp}/32`, '127.0.0.1/32'],
      metricsBindAddress: '127.0.0.1:10249', healthzBindAddress: '127.0.0.1:10256',
      // never touch the host's conntrack table size or timeouts (global)
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s', udpTimeout: '0s', udpStreamTimeout: '0s' },
    }));
    start('kube-proxy', path.join(bin, 'kube-proxy'), [`--config=${path.join(dir, 'kube-proxy.yaml')}`]);

    // 6. the cluster DNS (CoreDNS on the gateway's address: Service names resolve for pods as on any cluster)
    fs.writeFileSync(path.join(dir, 'Corefile'), `.:53 {
    bind ${NODE_NET.gateway}
    errors
    kubernetes cluster.local in-addr.arpa {
        kubeconfig ${c.kubeconfig}
    }
}
`);
    start('coredns', path.join(bin, 'coredns'), ['-conf', path.join(dir, 'Corefile')]);

    await waitFor(() => c.kubectlResult(['get', 'node', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).stdout === 'True',
      { what: `node ${name} Ready`, timeoutMs: 120_000, diagnostics: logs });
    await waitFor(() => c.kubectlResult(['get', 'serviceaccount', 'default', '-n', 'default']).status === 0,
      { what: 'the default ServiceAccount', timeoutMs: 60_000, diagnostics: logs });
  } catch (e) {
    const text = logs();
    await stop();
    throw new Error(`${(e as Error).message}\n${text}`);
  }

  async function importImage(pod: TestPodman, ref: string): Promise<void> {
    const archive = path.join(dir, `image-${crypto.randomBytes(4).toString('hex')}.tar`);
    try {
      await pod.podman(['save', '--format', 'oci-archive', '-o', archive, ref], { timeoutMs: 300_000 });
      ctr(['images', 'import', '--all-platforms', '--base-name', ref.replace(/:[^:/]+$/, ''), archive]);
    } finally {
      fs.rmSync(archive, { force: true });
    }
  }

  return {
    cluster, name, netns, dir, restored, importImage, ctr, logs, stop,
    run: (file, args, o = {}) => sh('nsenter', nsArgs(file, args), { ...o, env: o.env ?? env }),
    spawn: (file, args, o = {}) => spawn('nsenter', nsArgs(file, args), { env: o.env ?? env, stdio: ['ignore', 'pipe', 'pipe'] }),
    rssKiB() {
      const out: Record<string, number> = { ...cluster!.rssKiB() };
      for (const c of children) {
        const m = /VmRSS:\s+(\d+) kB/.exec(fs.existsSync(`/proc/${c.child.pid}/status`) ? fs.readFileSync(`/proc/${c.child.pid}/status`, 'utf8') : '');
        out[c.name] = m ? Number(m[1]) : 0;
      }
      return out;
    },
  };
}
