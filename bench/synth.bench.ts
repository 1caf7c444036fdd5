/**
 * Synth + validate time of 1, 10 and 100 model stacks built with modelpilot, next to the same objects built
 * directly with plain cdk8s-plus-28 (its `k8s` L1 classes), in the same run. Each (variant, N) runs in its own child
 * process so that its peak RSS is its own; each does one warm-up round, then `reps` timed rounds (median reported).
 * The baseline's output is checked to be deep-equal to modelpilot's, so both sides build the same objects.
 *
 * Writes bench/results/synth.json.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isDeepStrictEqual } from 'util';
import { App, Chart, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import * as YAML from 'yaml';
import { Autoscaling, DrainHook, Duration, ModelRegistry, SelfHealingModelStack, validateManifests } from '../lib';

const k8s = kplus.k8s;
const SIZES = [1, 10, 100];
type Variant = 'modelpilot' | 'plain-cdk8s-plus';
type Obj = Record<string, unknown>;

/**
 * The stack under test, one per namespace: the recommendation-model demo's registry and model sections (the demo's
 * monitoring, alerting and updater sections are left out, so the hand-written baseline below stays comparable).
 */
function modelpilotApp(n: number): App {
  const app = new App();
  for (let i = 0; i < n; i++) {
    new SelfHealingModelStack(app, `stack-${i}`, {
      namespace: `ns-${i}`,
      registry: ModelRegistry.inCluster({ nodePort: 30000 + i, notifications: { url: `http://modelpilot-updater.ns-${i}.svc:8080/webhooks/registry` } }),
      model: {
        name: 'recsys',
        image: `localhost:${30000 + i}/models/recsys:1.4.0`,
        partOf: 'recommendations',
        modelLoadTimeout: Duration.minutes(2),
        resources: {
          cpu: { request: kplus.Cpu.millis(500), limit: kplus.Cpu.units(2) },
          memory: { request: Size.gibibytes(1), limit: Size.gibibytes(2) },
        },
        autoscaling: Autoscaling.cpu({ minReplicas: 2, maxReplicas: 8, targetUtilizationPercent: 70 }),
        // cdk8s-plus-28's k8s classes predate the kubelet sleep action (Kubernetes 1.30) and drop it on output,
        // so the benchmark uses the exec drain hook, which both sides can express.
        drainHook: DrainHook.exec(),
      },
    });
  }
  return app;
}

/** The same objects, written out by hand with cdk8s-plus-28's k8s classes. */
function plainApp(n: number): App {
  const app = new App();
  const q = (s: string) => k8s.Quantity.fromString(s);
  for (let i = 0; i < n; i++) {
    const ns = `ns-${i}`;
    const chart = new Chart(app, `stack-${i}`, { namespace: ns, disableResourceNameHashes: true });
    const regSelector = { 'app.kubernetes.io/name': 'registry', 'app.kubernetes.io/instance': 'model-registry' };
    const regLabels = {
      ...regSelector, 'app.kubernetes.io/version': '2.8.3', 'app.kubernetes.io/component': 'model-registry',
      'app.kubernetes.io/part-of': 'modelpilot', 'app.kubernetes.io/managed-by': 'modelpilot',
    };
    const regMeta = { name: 'model-registry', namespace: ns, labels: regLabels };
    const config = {
      version: 0.1,
      log: { fields: { service: 'registry' } },
      storage: { filesystem: { rootdirectory: '/var/lib/registry' }, delete: { enabled: true } },
      http: { addr: ':5000', headers: { 'X-Content-Type-Options': ['nosniff'] } },
      health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
      notifications: {
        events: { includereferences: true },
        endpoints: [{
          name: 'modelpilot-updater', url: `http://modelpilot-updater.${ns}.svc:8080/webhooks/registry`, headers: {}, timeout: '2s',
          threshold: 5, backoff: '5s', ignoredmediatypes: ['application/octet-stream'], ignore: { actions: ['pull'] },
        }],
      },
    };
    new k8s.KubeConfigMap(chart, 'RegistryConfig', { metadata: regMeta, data: { 'config.yml': YAML.stringify(config) } });
    new k8s.KubePersistentVolumeClaim(chart, 'RegistryStorage', {
      metadata: regMeta, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: q('50Gi') } } },
    });
    new k8s.KubeDeployment(chart, 'Registry', {
      metadata: regMeta,
      spec: {
        replicas: 1, strategy: { type: 'Recreate' }, revisionHistoryLimit: 3, selector: { matchLabels: regSelector },
        template: {
          metadata: { labels: regLabels },
          spec: {
            automountServiceAccountToken: false, enableServiceLinks: false,
            securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'registry', image: 'docker.io/library/registry:2.8.3', imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: 5000, protocol: 'TCP' }],
              readinessProbe: { httpGet: { path: '/', port: k8s.IntOrString.fromString('http') }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/', port: k8s.IntOrString.fromString('http') }, periodSeconds: 10, failureThreshold: 3 },
              resources: { requests: { cpu: q('100m'), memory: q('128Mi') }, limits: { cpu: q('1'), memory: q('512Mi') } },
              securityContext: {
                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, privileged: false, capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'data', mountPath: '/var/lib/registry' },
                { name: 'config', mountPath: '/etc/docker/registry', readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            }],
            volumes: [
              { name: 'data', persistentVolumeClaim: { claimName: 'model-registry' } },
              { name: 'config', configMap: { name: 'model-registry' } },
              { name: 'tmp', emptyDir: { sizeLimit: q('64Mi') } },
            ],
          },
        },
      },
    });
    new k8s.KubeService(chart, 'RegistryService', {
      metadata: regMeta,
      spec: { type: 'ClusterIP', selector: regSelector, ports: [{ name: 'http', port: 5000, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }] },
    });

    const selector = { 'app.kubernetes.io/name': 'recsys', 'app.kubernetes.io/instance': 'recsys' };
    const labels = {
      ...selector, 'app.kubernetes.io/version': '1.4.0', 'app.kubernetes.io/component': 'model-server',
      'app.kubernetes.io/part-of': 'recommendations', 'app.kubernetes.io/managed-by': 'modelpilot',
    };
    const meta = { name: 'recsys', namespace: ns, labels };
    const http = k8s.IntOrString.fromString('http');
    new k8s.KubeDeployment(chart, 'Model', {
      metadata: meta,
      spec: {
        revisionHistoryLimit: 5,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false, enableServiceLinks: false, terminationGracePeriodSeconds: 40,
            securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'model', image: `model-registry.${ns}.svc:5000/models/recsys:1.4.0`, imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
              env: [{ name: 'PORT', value: '8080' }, { name: 'MODEL_NAME', value: 'recsys' }, { name: 'MODEL_VERSION', value: '1.4.0' }],
              resources: { requests: { cpu: q('500m'), memory: q('1Gi') }, limits: { cpu: q('2'), memory: q('2Gi') } },
              startupProbe: { httpGet: { path: '/health/ready', port: http }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 12 },
              livenessProbe: { httpGet: { path: '/health/live', port: http }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
              readinessProbe: { httpGet: { path: '/health/ready', port: http }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
              lifecycle: { preStop: { exec: { command: ['sleep', '10'] } } },
              securityContext: {
                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, privileged: false, capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            }],
            volumes: [{ name: 'tmp', emptyDir: { sizeLimit: q('256Mi') } }],
          },
        },
      },
    });
    new k8s.KubeService(chart, 'ModelService', {
      metadata: meta,
      spec: { type: 'ClusterIP', selector, ports: [{ name: 'http', port: 80, targetPort: http, protocol: 'TCP' }] },
    });
    new k8s.KubePodDisruptionBudget(chart, 'ModelPdb', {
      metadata: meta, spec: { selector: { matchLabels: selector }, maxUnavailable: k8s.IntOrString.fromNumber(1) },
    });
    new k8s.KubeHorizontalPodAutoscalerV2(chart, 'ModelHpa', {
      metadata: meta,
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'recsys' }, minReplicas: 2, maxReplicas: 8,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      },
    });
  }
  return app;
}

/** One round: build, synthesize every chart to JSON, validate every object. */
function round(variant: Variant, n: number): { synthMs: number; validateMs: number; ms: number; objects: Obj[] } {
  const t0 = process.hrtime.bigint();
  const app = variant === 'modelpilot' ? modelpilotApp(n) : plainApp(n);
  const objects = app.charts.flatMap((c) => c.toJson() as Obj[]);
  const t1 = process.hrtime.bigint();
  const result = validateManifests(objects);
  const t2 = process.hrtime.bigint();
  if (!result.ok) throw new Error(`${variant} n=${n}: ${result.issues.length} invalid objects, first: ${JSON.stringify(result.issues[0])}`);
  return { synthMs: Number(t1 - t0) / 1e6, validateMs: Number(t2 - t1) / 1e6, ms: Number(t2 - t0) / 1e6, objects };
}

const VARIANTS: Variant[] = ['plain-cdk8s-plus', 'modelpilot'];

interface Timing { synthMs: number[]; validateMs: number[]; totalMs: number[] }

/** Timing worker: both variants in one process, warmed up, then interleaved round by round so load changes hit both alike. */
function timingWorker(n: number, reps: number): void {
  for (const v of VARIANTS) round(v, n);
  const t: Record<Variant, Timing> = {
    'plain-cdk8s-plus': { synthMs: [], validateMs: [], totalMs: [] },
    'modelpilot': { synthMs: [], validateMs: [], totalMs: [] },
  };
  for (let r = 0; r < reps; r++) {
    for (const v of (r % 2 ? [...VARIANTS].reverse() : VARIANTS)) {
      const x = round(v, n);
      t[v].synthMs.push(x.synthMs);
      t[v].validateMs.push(x.validateMs);
      t[v].totalMs.push(x.ms);
    }
  }
  process.stdout.write(JSON.stringify(t) + '\n');
}

/** Memory worker: one variant alone, one round; reports the process's peak RSS. */
function memoryWorker(variant: Variant, n: number): void {
  const x = round(variant, n);
  process.stdout.write(JSON.stringify({ objects: x.objects.length, maxRssMb: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

function child(args: string[]): string {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', __filename, ...args], {
    encoding: 'utf8', cwd: path.join(__dirname, '..'), maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`bench worker ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop() as string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round2 = (x: number): number => Math.round(x * 100) / 100;

function main(): void {
  // Both variants must build the same objects, or the ratio means nothing.
  const a = round('modelpilot', 2).objects;
  const b = round('plain-cdk8s-plus', 2).objects;
  const sameObjects = a.length === b.length && a.every((o, i) => isDeepStrictEqual(o, b[i]));
  if (!sameObjects) {
    const i = a.findIndex((o, j) => !isDeepStrictEqual(o, b[j]));
    throw new Error(`baseline differs from modelpilot at object ${i}:\n${YAML.stringify(a[i])}\n---\n${YAML.stringify(b[i])}`);
  }

  const results = [];
  for (const n of SIZES) {
    const reps = n >= 100 ? 9 : n >= 10 ? 31 : 101;
    const timing = JSON.parse(child(['--timing', String(n), String(reps)])) as Record<Variant, Timing>;
    const mem = Object.fromEntries(VARIANTS.map((v) => [v, JSON.parse(child(['--memory', v, String(n)])) as { objects: number; maxRssMb: number }]));
    const summary = (v: Variant) => ({
      medianMs: round2(median(timing[v].totalMs)),
      minMs: round2(Math.min(...timing[v].totalMs)),
      synthMedianMs: round2(median(timing[v].synthMs)),
      validateMedianMs: round2(median(timing[v].validateMs)),
      peakRssMb: round2(mem[v].maxRssMb),
    });
    const mp = summary('modelpilot');
    const plain = summary('plain-cdk8s-plus');
    const row = {
      stacks: n,
      objects: mem.modelpilot.objects,
      reps,
      modelpilot: mp,
      plainCdk8sPlus: plain,
      ratio: round2(mp.medianMs / plain.medianMs),
      synthOnlyRatio: round2(mp.synthMedianMs / plain.synthMedianMs),
    };
    results.push(row);
    process.stdout.write(`${n} stack(s), ${row.objects} objects: synth+validate modelpilot ${mp.medianMs} ms (synth ${mp.synthMedianMs}), `
      + `plain cdk8s-plus ${plain.medianMs} ms (synth ${plain.synthMedianMs}), ratio ${row.ratio}; peak RSS ${mp.peakRssMb} MB vs ${plain.peakRssMb} MB\n`);
  }
  const report = {
    benchmark: 'synth',
    description: 'synth (build + toJson) + schema validation of N SelfHealingModelStacks (in-cluster registry + CPU model with HPA, 8 objects each), '
      + 'vs the same objects built directly with cdk8s-plus-28 k8s classes and validated the same way. Timing: one process per N, one warm-up '
      + 'round per variant, then rounds interleaved (ABBA…), median reported. Peak RSS: one process per variant and N, one round.',
    target: { maxRatio: 1.2 },
    sameObjects,
    machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAvg1m: round2(os.loadavg()[0]) },
    date: new Date().toISOString(),
    results,
    maxRatio: Math.max(...results.map((r) => r.ratio)),
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'synth.json'), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`wrote bench/results/synth.json (max ratio ${report.maxRatio}, target <= 1.2)\n`);
}

if (process.argv[2] === '--timing') {
  timingWorker(Number(process.argv[3]), Number(process.argv[4]));
} else if (process.argv[2] === '--memory') {
  memoryWorker(process.argv[3] as Variant, Number(process.argv[4]));
} else {
  main();
}
