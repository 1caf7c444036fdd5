/**
 * `pulumi up` for real, per environment: the repo's program (stacks/index.ts, with Pulumi.<env>.yaml and the image
 * by digest) on the real Pulumi engine and Kubernetes provider built by scripts/pulumi/build.sh, against a fresh real
 * control plane (the Pulumi tier's set-up). Per run and environment: the first `pulumi up` (creates), a no-op
 * `pulumi up`, `pulumi destroy`, each timed; while they run, the RSS of every process of the run is sampled from
 * /proc every 100 ms: the Node.js program host (the Automation API runner with the program in it), the `pulumi`
 * engine and the `pulumi-resource-kubernetes` plugin. Writes bench/results/pulumi.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import { stackFileConfig, TEST_SECRETS } from '../test/pulumi/harness';
import { configMap, runProgram } from '../test/pulumi-engine/engine';
import { startCluster } from '../test/support/cluster';
import { installCrds } from '../test/support/crds';

const RUNS = Number(process.env.PULUMI_BENCH_RUNS ?? 3);
const ENVS = ['dev', 'staging', 'prod'];
const ROOT = path.join(__dirname, '..');
const DIGEST = `sha256:${'4'.repeat(64)}`;

interface Proc { pid: number; ppid: number; name: string; rssKiB: number }

function procs(): Proc[] {
  const out: Proc[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = fs.readFileSync(`/proc/${d}/status`, 'utf8');
      const field = (k: string): string => new RegExp(`^${k}:\\s*(.+)$`, 'm').exec(status)?.[1] ?? '';
      out.push({ pid: Number(d), ppid: Number(field('PPid')), name: field('Name'), rssKiB: parseInt(field('VmRSS') || '0', 10) });
    } catch { /* exited */ }
  }
  return out;
}

/** Samples the RSS of `root` and its descendants until stopped: peak per process name and peak of the sum. */
function sampler(): { watch(pid: number): void; stop(): { peakByNameMiB: Record<string, number>; peakTotalMiB: number } } {
  let root = -1;
  const peak: Record<string, number> = {};
  let peakTotal = 0;
  const timer = setInterval(() => {
    if (root < 0) return;
    const all = procs();
    const tree = new Set([root]);
    for (let grew = true; grew;) {
      grew = false;
      for (const p of all) if (!tree.has(p.pid) && tree.has(p.ppid)) { tree.add(p.pid); grew = true; }
    }
    let total = 0;
    const byName: Record<string, number> = {};
    for (const p of all) {
      if (!tree.has(p.pid)) continue;
      const name = p.pid === root ? 'node (program + Automation API)' : p.name;
      byName[name] = (byName[name] ?? 0) + p.rssKiB;
      total += p.rssKiB;
    }
    for (const [k, v] of Object.entries(byName)) peak[k] = Math.max(peak[k] ?? 0, v);
    peakTotal = Math.max(peakTotal, total);
  }, 100);
  return {
    watch: (pid) => { root = pid; },
    stop: () => {
      clearInterval(timer);
      const peakByNameMiB = Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round(v / 1024)]));
      return { peakByNameMiB, peakTotalMiB: Math.round(peakTotal / 1024) };
    },
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const cluster = await startCluster({ nodes: 2 });
  const runs: Array<Record<string, unknown>> = [];
  try {
    installCrds(cluster.kubectl);
    for (let i = 0; i < RUNS; i++) {
      for (const env of ENVS) {
        const file = stackFileConfig(env);
        const ns = file['modelpilot:namespace'];
        // a fresh volume each run (a released one does not bind again), and prod's namespace from the "platform team"
        cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
          apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `state-${env}-${i}` },
          spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: '', hostPath: { path: path.join(cluster.dir, `pv-${env}-${i}`) } },
        }));
        const needsNamespace = file['modelpilot:createNamespace'] === 'false' && cluster.kubectlResult(['get', 'namespace', ns]).status !== 0;
        if (needsNamespace) cluster.kubectl(['create', 'namespace', ns]);
        const s = sampler();
        const { results, home } = await runProgram({
          stackName: env, program: path.join(ROOT, 'stacks/index.ts'), ops: ['up', 'up', 'destroy'], env: { KUBECONFIG: cluster.kubeconfig },
          config: configMap({ ...file, ...TEST_SECRETS, 'modelpilot:kubeContext': 'test', 'modelpilot:imageDigest': DIGEST }, Object.keys(TEST_SECRETS)),
          onSpawn: (pid) => s.watch(pid),
        });
        const rss = s.stop();
        fs.rmSync(home, { recursive: true, force: true });
        const failed = results.find((r) => !r.ok);
        if (failed || results.length !== 3) throw new Error(`${env}: ${failed?.op ?? 'a step'} failed: ${failed?.error.slice(-2000) ?? ''}`);
        const [first, noop, destroy] = results;
        if (Object.keys(noop.changes).length) throw new Error(`${env}: the second up was not a no-op: ${JSON.stringify(noop.changes)}`);
        const run = {
          run: i + 1, env, firstUpMs: first.ms, creates: first.changes.create, noopUpMs: noop.ms,
          destroyMs: destroy.ms, deletes: destroy.changes.delete, ...rss,
        };
        runs.push(run);
        process.stdout.write(`${JSON.stringify(run)}\n`);
      }
    }
  } finally {
    await cluster.stop();
  }
  const per = (env: string, k: string): number => median(runs.filter((r) => r.env === env).map((r) => r[k] as number));
  const result = {
    measured: new Date().toISOString(),
    setup: 'pulumi CLI 3.248.0 and pulumi-resource-kubernetes (module of @pulumi/kubernetes 4.34.2) built from the Go module proxy; offline file backend, '
      + 'passphrase secrets; the program stacks/index.ts with Pulumi.<env>.yaml, modelpilot:imageDigest (no image build), through the Automation API '
      + '(inline program, ts-node transpile-only) in a child process; a fresh real control plane (etcd, kube-apiserver, KCM, scheduler, kwok pods, 2 nodes) '
      + 'on 127.0.0.1; 2 cores',
    notes: [
      'firstUpMs includes the provider\'s await logic: Deployments Available (kwok marks pods Ready), the state claim Bound, Services with endpoints',
      'each measurement starts a new runner process (engine, plugin and program host start-up included), as `pulumi up` from a shell does',
      'RSS peaks are per process name over the whole run (up, no-op up, destroy); peakTotalMiB is the peak of the sum at one sample',
    ],
    median: Object.fromEntries(ENVS.map((env) => [env, {
      firstUpMs: per(env, 'firstUpMs'), noopUpMs: per(env, 'noopUpMs'), destroyMs: per(env, 'destroyMs'), peakTotalMiB: per(env, 'peakTotalMiB'),
    }])),
    runs,
  };
  fs.writeFileSync(path.join(__dirname, 'results', 'pulumi.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`${JSON.stringify(result.median)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
