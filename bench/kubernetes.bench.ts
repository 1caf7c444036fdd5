/**
 * The Kubernetes target against the fake API server (test/support/fake-kube.ts): API requests per quiet discovery,
 * per promoted update and per rollback; how fast a finished rollout is noticed with the watch versus polling alone
 * (the watch refused by RBAC), at the default 2 s poll interval; discovery of 100 Deployments by name and by label;
 * the idle RSS of the compiled agent (tsc build, as in the image) running the Kubernetes target with webhooks on.
 * Writes bench/results/kubernetes.json. Numbers are for the fake on 127.0.0.1: they show request counts and the
 * agent's own overhead, not an API server's latency.
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { KubernetesTarget } from '../agent/targets/kubernetes';
import { UpdatePlan } from '../agent/types';
import { FakeKube, fixture, Json, RoleRule } from '../test/support/fake-kube';

const OLD = `registry.ml.svc:5000/models/recsys:1.0.0@sha256:${'1'.repeat(64)}`;
const NEW = (i: number): string => `registry.ml.svc:5000/models/recsys:1.${i + 1}.0@sha256:${String(i % 10).repeat(64)}`;
const BYNAME_RULES: RoleRule[] = [
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch', 'watch'], resourceNames: ['recsys'] },
  { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const round = (x: number): number => Math.round(x * 10) / 10;

function target(fake: FakeKube, extra: Partial<ConstructorParameters<typeof KubernetesTarget>[0]> = {}): KubernetesTarget {
  return new KubernetesTarget({ kubeConfig: fake.kubeConfig(), namespace: 'ml', deployments: ['recsys'], ...extra });
}

async function requestsPerOperation(): Promise<Record<string, number>> {
  const fake = await FakeKube.start({ behaviour: (img) => (img.includes(':1.2.0') ? 'crashloop' : 'ready'), controllerDelayMs: 20 });
  try {
    const t = target(fake, { pollIntervalMs: 50 });
    let n = fake.calls.length;
    const [w] = await t.discover();
    const quiet = fake.calls.length - n;

    n = fake.calls.length;
    const good = new UpdatePlan(w, OLD, NEW(0), '1.0.0', '1.1.0', 'bench');
    await t.apply(good);
    await t.waitReady(good, 10_000);
    await t.promote(good);
    const update = fake.calls.length - n;

    const [w2] = await t.discover();
    n = fake.calls.length;
    const bad = new UpdatePlan(w2, w2.image, NEW(1), '1.1.0', '1.2.0', 'bench');
    await t.apply(bad);
    const verdict = await t.waitReady(bad, 10_000);
    if (verdict.status !== 'Unhealthy') throw new Error(`expected the crash-looping version to be Unhealthy, got ${JSON.stringify(verdict)}`);
    await t.rollback(bad);
    const rollback = fake.calls.length - n;
    return { quietDiscovery: quiet, promotedUpdate: update, rolledBackUpdate: rollback };
  } finally {
    await fake.stop();
  }
}

/** Milliseconds from the controller's "rollout complete" status write to waitReady's Healthy verdict. */
async function detectionLatency(withWatch: boolean, runs: number): Promise<number[]> {
  const rules = withWatch ? BYNAME_RULES : BYNAME_RULES.map((r) => ({ ...r, verbs: r.verbs.filter((v) => v !== 'watch') }));
  const fake = await FakeKube.start({ rules, controllerDelayMs: 300 });
  const out: number[] = [];
  try {
    const t = target(fake); // default poll interval (2 s)
    for (let i = 0; i < runs; i++) {
      const [w] = await t.discover();
      const plan = new UpdatePlan(w, w.image, NEW(i + 10), 'x', `1.${i + 11}.0`, 'bench');
      await t.apply(plan);
      const r = await t.waitReady(plan, 30_000);
      const doneAt = Date.now();
      if (r.status !== 'Healthy') throw new Error(`rollout ${i} not healthy: ${r.reason}`);
      out.push(doneAt - (fake.controlledAt.get('ml/recsys') ?? doneAt));
      await t.promote(plan);
    }
  } finally {
    await fake.stop();
  }
  return out;
}

async function discovery100(): Promise<Record<string, number>> {
  const base = fixture<Json>('deployment-recsys.json');
  const deployments = Array.from({ length: 100 }, (_, i) => {
    const d = JSON.parse(JSON.stringify(base));
    d.metadata.name = `model-${i}`;
    d.metadata.uid = `uid-${i}`;
    return d;
  });
  const fake = await FakeKube.start({ deployments, replicaSets: [] });
  try {
    const names = deployments.map((d) => d.metadata.name as string);
    const result: Record<string, number> = {};
    for (const [mode, t] of [['byName', target(fake, { deployments: names })], ['byLabel', target(fake, { deployments: undefined })]] as const) {
      const n = fake.calls.length;
      const start = process.hrtime.bigint();
      const ws = await t.discover();
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (ws.length !== 100) throw new Error(`${mode}: discovered ${ws.length} of 100`);
      result[`${mode}Requests`] = fake.calls.length - n;
      result[`${mode}Ms`] = round(ms);
    }
    return result;
  } finally {
    await fake.stop();
  }
}

/** Peak RSS (MB) of the compiled agent after `seconds` of running against the fake, with the image's heap cap. */
async function compiledAgentRss(seconds: number): Promise<{ idleRssMb: number; apiCalls: number }> {
  const root = path.join(__dirname, '..');
  const out = path.join(root, '.tmp', 'bench-agent-build');
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', out]);
  const d = fixture<Json>('deployment-recsys.json');
  d.spec.template.spec.containers[0].image = `127.0.0.1:9/models/recsys:1.0.0@sha256:${'1'.repeat(64)}`;
  const fake = await FakeKube.start({ deployments: [d] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-bench-agent-'));
  try {
    fs.writeFileSync(path.join(dir, 'kubeconfig'), YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c', clusters: [{ name: 'f', cluster: { server: fake.url } }],
      users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'c', context: { cluster: 'f', user: 'u' } }],
    }));
    fs.writeFileSync(path.join(dir, 'token'), 'bench-token-0123456789');
    fs.writeFileSync(path.join(dir, 'agent.yaml'), YAML.stringify({
      targets: { kubernetes: { namespace: 'ml', deployments: ['recsys'] } },
      webhooks: { listen: '127.0.0.1:0', bearerTokenFile: path.join(dir, 'token') }, stateDir: path.join(dir, 'state'),
    }));
    // the image's node flags: agent/Dockerfile ENTRYPOINT (--max-semi-space-size) + ModelUpdater's NODE_OPTIONS (heap cap)
    const child = spawn(process.execPath, ['--max-semi-space-size=2', '--max-old-space-size=128', path.join(out, 'bin', 'modelpilot.js'), 'agent',
      '--config', path.join(dir, 'agent.yaml'), '--kubeconfig', path.join(dir, 'kubeconfig')], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    return { idleRssMb: round(hwm / 1024), apiCalls: fake.calls.length };
  } finally {
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const requests = await requestsPerOperation();
  const runs = 10;
  const watch = await detectionLatency(true, runs);
  const polling = await detectionLatency(false, runs);
  const discovery = await discovery100();
  const compiledAgent = await compiledAgentRss(5);
  const result = {
    benchmark: 'kubernetes-target',
    node: process.version,
    apiRequests: requests,
    rolloutDetectionMs: {
      runs,
      pollIntervalMs: 2000,
      watch: { p50: quantile(watch, 0.5), p95: quantile(watch, 0.95), max: Math.max(...watch) },
      pollingOnly: { p50: quantile(polling, 0.5), p95: quantile(polling, 0.95), max: Math.max(...polling) },
    },
    discovery100: discovery,
    compiledAgent,
    benchProcessPeakRssMb: round(process.resourceUsage().maxRSS / 1024),
  };
  const file = path.join(__dirname, 'results', 'kubernetes.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`${JSON.stringify(result)}\n-> ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`kubernetes bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
