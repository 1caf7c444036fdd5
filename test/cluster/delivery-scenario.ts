/**
 * The real canary of test/cluster/delivery.cluster.test.ts (which asserts its behaviour) and bench/delivery.bench.ts
 * (which records its timings). A real canary: the Argo Rollouts controller (v1.8.3, built from the Go module proxy by scripts/delivery/build.sh)
 * runs on the test control plane, its AnalysisRuns query a live Prometheus, and the updater's Kubernetes target —
 * authenticated as the synthesized ServiceAccount — hands each version to the Rollout and follows its verdict.
 *
 * What is real: the API server, the controllers, the Rollout controller and its analysis (the AnalysisTemplate the
 * stack synthesizes from the Slo, the same PromQL), Prometheus, the updater's target, gate and reconcile loop.
 * What is not: pods are kwok's (no container runs), so the model's metrics come from a synthetic exporter on
 * 127.0.0.1 that Prometheus scrapes: it serves `model_request_total` / `model_inference_seconds` per
 * `rollouts_pod_template_hash` — the label the ServiceMonitor copies from the pods — for each ReplicaSet the Rollout
 * creates, healthy for 1.1.0, 30 % errors for 1.2.0 and nothing (an idle canary) for 1.3.0. The registry is the
 * in-memory fake and the gate's own Prometheus check is the fake SLO (the analysis is what is under test here).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { KubeConfig } from '@kubernetes/client-node';
import { App } from 'cdk8s';
import * as YAML from 'yaml';
import { HealthGate } from '../../agent/health/gate';
import { DEFAULT_ROLLBACK, Reconciler } from '../../agent/loop';
import { AgentMetrics } from '../../agent/metrics';
import { AuditLog } from '../../agent/state/audit';
import { QuarantineStore } from '../../agent/state/quarantine';
import { KubernetesTarget } from '../../agent/targets/kubernetes';
import { CanaryStep, Delivery, Duration, SelfHealingModelStack, Slo, UpdatePolicy } from '../../lib';
import { digestOf, FakeClock, FakeRegistry, FakeSlo } from '../agent/fakes';
import { startCluster, TestCluster } from '../support/cluster';
import { installCrds } from '../support/crds';
import { deliveryBinDir } from '../support/delivery-tools';
import { startPrometheus, TestPrometheus } from '../support/prometheus';
import { freePort, stopChild, tailFile, waitFor } from '../support/tools';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes JSON
type Obj = Record<string, any>;

const REPO = '127.0.0.1:5000/models/recsys';
const ref = (tag: string): string => `${REPO}:${tag}@${digestOf(tag)}`;

/** What the synthetic exporter serves for the pods of one ReplicaSet. */
type Traffic = 'healthy' | 'errors' | 'idle';

/**
 * The model servers' metrics, synthesized: each scrape adds 5 requests to every serving ReplicaSet (30 % of them 5xx
 * for `errors`, none at all for `idle`), labelled as the ServiceMonitor labels them.
 */
class SyntheticModelMetrics {
  public readonly traffic = new Map<string, Traffic>();
  private readonly counts = new Map<string, { ok: number; err: number }>();
  private readonly server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const lines: string[] = [];
    for (const [hash, t] of this.traffic) {
      if (t === 'idle') continue;
      const c = this.counts.get(hash) ?? { ok: 0, err: 0 };
      if (t === 'errors') {
        c.ok += 3; c.err += 2;
      } else {
        c.ok += 5;
      }
      this.counts.set(hash, c);
      const l = `model="recsys",rollouts_pod_template_hash="${hash}"`;
      lines.push(`model_request_total{${l},code="200"} ${c.ok}`, `model_request_total{${l},code="500"} ${c.err}`);
      lines.push(`model_inference_seconds_bucket{${l},le="0.1"} ${c.ok + c.err}`, `model_inference_seconds_bucket{${l},le="+Inf"} ${c.ok + c.err}`);
      lines.push(`model_inference_seconds_count{${l}} ${c.ok + c.err}`, `model_inference_seconds_sum{${l}} ${(c.ok + c.err) * 0.02}`);
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(lines.join('\n') + '\n');
  });

  public async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface DeliveryRun {
  readonly cluster: TestCluster;
  readonly prometheus: TestPrometheus;
  readonly objects: Obj[];
  readonly audit: AuditLog;
  readonly quarantine: QuarantineStore;
  readonly reports: Record<string, Obj>;
  readonly ms: Record<string, number>;
  readonly rollouts: Record<string, Obj>;
  readonly analysisRuns: Obj[];
  /** The pod-template hash of each version's ReplicaSet. */
  readonly hashOf: Record<string, string>;
  readonly promql: { healthy: number; errors: number };
  /** Stops everything the scenario started, by PID, and removes its temp dirs. */
  stop(): Promise<void>;
}

/**
 * Runs the scenario: cluster, Prometheus, the Rollouts controller, the stack, then 1.1.0 (healthy), 1.2.0 (errors) and
 * 1.3.0 (idle) handed to the Rollout by the updater's reconcile loop. The caller stops it.
 */
export async function runDeliveryScenario(): Promise<DeliveryRun> {
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const bin = deliveryBinDir();
    const metrics = new SyntheticModelMetrics();
    const metricsPort = await metrics.start();
    cleanups.push(() => metrics.stop());
    const prometheus = await startPrometheus({
      scrapeInterval: '1s',
      scrapeConfigs: [{ job_name: 'model', honor_labels: true, static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] }],
    });
    cleanups.push(() => prometheus.stop());
    const cluster = await startCluster({ nodes: 1 });
    cleanups.push(() => cluster.stop());
    installCrds(cluster.kubectl);

    // The stack as a user writes it: a canary at 50 %, then the analysis (2 s × 4 measurements, at least 10 requests,
    // idle for at most 4 s), against this Prometheus.
    const app = new App();
    new SelfHealingModelStack(app, 'canary', {
      namespace: 'ml',
      model: { name: 'recsys', image: ref('1.0.0'), replicas: 2, updatePolicy: UpdatePolicy.semver('minor'), slo: new Slo({ minSamples: 10 }) },
      delivery: Delivery.canary({
        steps: [CanaryStep.setWeight(50), CanaryStep.analysis()],
        analysis: { prometheusUrl: prometheus.url, interval: Duration.seconds(2), measurements: 4, maxIdle: Duration.seconds(4) },
      }),
      monitoring: {},
      updater: {},
    });
    const objects = app.charts[0].toJson() as Obj[];
    cluster.kubectl(['create', 'namespace', 'ml']);
    cluster.kubectl(['apply', '--server-side', '--field-manager=modelpilot', '-f', '-'], objects.map((o) => YAML.stringify(o)).join('---\n'));

    // The Rollouts controller, as a platform runs it (cluster-wide), on ports of its own.
    const logFile = path.join(cluster.dir, 'rollouts-controller.log');
    const out = fs.openSync(logFile, 'a');
    const [metricsport, healthz] = await Promise.all([freePort(), freePort()]);
    const controller: ChildProcess = spawn(path.join(bin, 'rollouts-controller'), [
      `--kubeconfig=${cluster.kubeconfig}`, `--metricsport=${metricsport}`, `--healthzPort=${healthz}`, '--leader-elect=false', '--loglevel=info',
    ], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    cleanups.push(() => stopChild(controller));
    const rollout = (): Obj => JSON.parse(cluster.kubectl(['get', 'rollouts.argoproj.io', 'recsys', '-n', 'ml', '-o', 'json']));
    const diagnostics = (): string => `rollout status: ${JSON.stringify(rollout().status)}\ncontroller log:\n${tailFile(logFile, 3000)}`
      + `\nanalysisruns:\n${cluster.kubectlResult(['get', 'analysisruns', '-n', 'ml', '-o', 'yaml']).stdout.slice(-3000)}`;

    // Label every ReplicaSet's traffic by its image, as the model servers would serve it (checked every 250 ms).
    const behaviour = (image: string): Traffic => (image.includes(':1.2.0') ? 'errors' : image.includes(':1.3.0') ? 'idle' : 'healthy');
    let labelling = true;
    const labeller = (async () => {
      while (labelling) {
        const r = cluster.kubectlResult(['get', 'replicasets', '-n', 'ml', '-o', 'json']);
        if (r.status === 0) {
          for (const rs of JSON.parse(r.stdout).items as Obj[]) {
            const hash = rs.metadata.labels?.['rollouts-pod-template-hash'];
            if (hash) metrics.traffic.set(hash, behaviour(rs.spec.template.spec.containers[0].image));
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    cleanups.push(async () => {
      labelling = false;
      await labeller;
    });

    await waitFor(() => rollout().status?.phase === 'Healthy' && rollout().status?.stableRS !== undefined,
      { what: 'the Rollout Healthy on 1.0.0 (a first rollout skips the steps)', timeoutMs: 120_000, diagnostics });
    const rollouts: Record<string, Obj> = { initial: rollout() };

    // The updater's target, as the synthesized ServiceAccount.
    const token = cluster.kubectl(['create', 'token', 'modelpilot-updater', '-n', 'ml', '--duration=1h']).trim();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.tokenKubeconfig(token, 'ml'));
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-delivery-'));
    cleanups.push(async () => fs.rmSync(stateDir, { recursive: true, force: true }));
    const registry = new FakeRegistry(REPO, ['1.0.0']);
    const clock = new FakeClock();
    const audit = new AuditLog(path.join(stateDir, 'audit.jsonl'), () => new Date());
    const quarantine = new QuarantineStore(stateDir);
    const target = new KubernetesTarget({ kubeConfig, namespace: 'ml', deployments: ['recsys'], pollIntervalMs: 250 });
    const reconciler = new Reconciler({
      targets: [target], registry, quarantine, audit, clock, metrics: new AgentMetrics(), pollIntervalMs: 60_000,
      gate: new HealthGate({ readinessTimeoutMs: 180_000, slo: new FakeSlo(), inconclusive: 'hold' }),
      rollback: { ...DEFAULT_ROLLBACK, attemptTimeoutMs: 200_000, backoff: { initialMs: 100, maxMs: 1000, factor: 2 } },
    });

    const reports: Record<string, Obj> = {};
    const ms: Record<string, number> = {};
    for (const [version, label] of [['1.1.0', 'healthy'], ['1.2.0', 'errors'], ['1.3.0', 'idle']] as const) {
      registry.push(REPO, version);
      const t = Date.now();
      reports[label] = await reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);
      ms[label] = Date.now() - t;
      rollouts[label] = rollout();
      if (label !== 'healthy') {
        // the previous template is back on the Deployment: the Rollout returns to its stable pods
        await waitFor(() => rollout().status?.phase === 'Healthy', { what: `the Rollout Healthy again after ${version}`, timeoutMs: 60_000, diagnostics });
        rollouts[`${label}-restored`] = rollout();
      }
    }
    const analysisRuns = JSON.parse(cluster.kubectl(['get', 'analysisruns.argoproj.io', '-n', 'ml', '-o', 'json'])).items as Obj[];
    const hashOf: Record<string, string> = {};
    for (const rs of JSON.parse(cluster.kubectl(['get', 'replicasets', '-n', 'ml', '-o', 'json'])).items as Obj[]) {
      const v = /:(\d+\.\d+\.\d+)@/.exec(rs.spec.template.spec.containers[0].image)?.[1];
      const hash = rs.metadata.labels?.['rollouts-pod-template-hash'];
      if (v && hash) hashOf[v] = hash;
    }
    // The same PromQL, asked of Prometheus directly for the healthy and the failing canary's hash.
    const template = objects.find((o) => o.kind === 'AnalysisTemplate')!;
    const errorQuery = (hash: string): string => template.spec.metrics[1].provider.prometheus.query.split('{{args.canary-hash}}').join(hash);
    const value = async (q: string): Promise<number> => Number((await prometheus.query(q))[0]?.value[1] ?? NaN);
    // by each version's own ReplicaSet hash (a Rollout's status can lag its ReplicaSets), once Prometheus answers a
    // number for it: under load its last scrape can be older than the query's window, and the ratio is NaN until the next
    const answered = async (q: string): Promise<number> => {
      let v = NaN;
      await waitFor(async () => !Number.isNaN(v = await value(q)), { what: `a number for ${q}`, timeoutMs: 60_000, intervalMs: 500 });
      return v;
    };
    const promql = {
      healthy: await answered(errorQuery(hashOf['1.1.0'])),
      errors: await answered(errorQuery(hashOf['1.2.0'])),
    };
    return { cluster, prometheus, objects, audit, quarantine, reports, ms, rollouts, analysisRuns, hashOf, promql, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
