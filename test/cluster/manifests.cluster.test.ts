/**
 * Every synthesized object meets a real API server: the examples and a set of test stacks are checked with
 * `kubectl apply --server-side --dry-run=server --validate=strict`, then applied for real; every Deployment must
 * reach Available and every Service get ready endpoints; a second apply must change nothing.
 * Pods are kwok's (no containers run): Available here means the scheduler bound them and kwok reported Ready.
 */
import { App, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import * as YAML from 'yaml';
import { DEFAULT_APP, loadApp, synthesize } from '../../bin/commands/synth';
import {
  Autoscaling, Duration, ModelCache, ModelRegistry, Receiver, RolloutStrategy, ScrapeTarget, SelfHealingModelStack, Severity, Slo, UpdatePolicy,
  UpdaterDiscovery, UpdaterPeer,
} from '../../lib';
import { startCluster, TestCluster } from '../support/cluster';
import { installCrds } from '../support/crds';
import { waitFor } from '../support/tools';

jest.setTimeout(300_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are untyped JSON
type Obj = Record<string, any>;

/** Test stacks beyond the examples: the options that change what is rendered. */
function testStacks(app: App): void {
  new SelfHealingModelStack(app, 'external-registry', {
    namespace: 'serving',
    registry: ModelRegistry.external({ host: 'registry.example.com', pullSecret: 'registry-pull' }),
    model: {
      name: 'churn', image: 'registry.example.com/models/churn:2.0.0', replicas: 3, strategy: RolloutStrategy.recreate(),
      slo: new Slo({ maxErrorRatio: 0.01, window: Duration.minutes(10), maxP99Latency: Duration.millis(300) }),
      env: [{ name: 'LOG_LEVEL', value: 'debug' }, { name: 'API_KEY', secretKeyRef: { name: 'churn-secrets', key: 'api-key' } }],
      modelCache: ModelCache.emptyDir(Size.gibibytes(5)), updatePolicy: UpdatePolicy.semver('patch'),
    },
    monitoring: { target: ScrapeTarget.POD },
    updater: { discovery: UpdaterDiscovery.byLabel(), inconclusive: 'rollback', allowWebhooksFrom: [UpdaterPeer.cidr('10.0.0.0/8')], stateClaimName: 'updater-state' },
    gitops: { repoURL: 'https://github.com/acme/ml-platform.git', path: 'dist/serving', targetRevision: 'main', createProject: true },
  });
  new SelfHealingModelStack(app, 'in-cluster-htpasswd', {
    namespace: 'registry-auth',
    registry: ModelRegistry.inCluster({ htpasswdSecret: 'registry-htpasswd', pullSecret: 'registry-pull', port: 5001, nodePort: 30501 }),
    model: {
      name: 'ranker', image: 'localhost:30501/models/ranker:0.9.1', partOf: 'search',
      autoscaling: Autoscaling.cpu({ minReplicas: 2, maxReplicas: 4, targetUtilizationPercent: 60 }),
      resources: {
        cpu: { request: kplus.Cpu.millis(250), limit: kplus.Cpu.units(1) }, memory: { request: Size.mebibytes(512), limit: Size.gibibytes(1) },
      },
    },
    monitoring: {},
    alerting: {
      defaultReceiver: Receiver.webhook({ name: 'ops', url: 'http://ops.example.com/hook' }),
      routes: [{
        severity: Severity.CRITICAL,
        receiver: Receiver.email({ name: 'oncall', to: 'oncall@example.com', from: 'am@example.com', smarthost: 'smtp.example.com:587' }),
      }],
    },
    updater: { name: 'updater', port: 9090 },
  });
}

async function allCharts(): Promise<Array<{ id: string; objects: Obj[] }>> {
  const charts = [
    ...await synthesize(loadApp(DEFAULT_APP)),
    ...await synthesize(loadApp(`${__dirname}/../../examples/llm-gpu/app.ts`)),
    ...await synthesize(loadApp(`${__dirname}/../../examples/canary-gitops/app.ts`)),
    ...await synthesize(testStacks),
  ];
  return charts.map((c) => ({ id: c.id, objects: c.objects as Obj[] }));
}

const toYaml = (objects: readonly Obj[]): string => objects.map((o) => YAML.stringify(o)).join('---\n');

describe('synthesized manifests on a real API server', () => {
  let cluster: TestCluster;
  let charts: Array<{ id: string; objects: Obj[] }>;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 1, gpuNodes: 1 });
    charts = await allCharts();
  }, 180_000);
  afterAll(async () => cluster?.stop());

  test('the CRDs of prometheus-operator, Argo Rollouts and Argo CD install server-side and become Established', () => {
    const files = installCrds(cluster.kubectl);
    expect(files.map((f) => f.project)).toEqual(expect.arrayContaining(['prometheus-operator', 'argo-rollouts', 'argo-cd', 'keda']));
    const names = cluster.kubectl(['get', 'crd', '-o', 'jsonpath={.items[*].metadata.name}']).split(' ');
    expect(names).toEqual(expect.arrayContaining([
      'servicemonitors.monitoring.coreos.com', 'podmonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com',
      'alertmanagerconfigs.monitoring.coreos.com', 'rollouts.argoproj.io', 'analysistemplates.argoproj.io', 'applications.argoproj.io',
      'scaledobjects.keda.sh',
    ]));
  });

  test('every chart passes strict server-side validation, applies, and is idempotent', async () => {
    expect(charts.map((c) => c.id)).toEqual(['recommendation-model', 'llm-gpu', 'fraud-canary', 'fraud-canary-gitops', 'fraud-bluegreen', 'fraud-bluegreen-gitops',
      'external-registry', 'external-registry-gitops', 'in-cluster-htpasswd']);
    const namespaces = new Set(charts.flatMap((c) => c.objects.map((o) => o.metadata?.namespace).filter(Boolean)));
    for (const ns of namespaces) cluster.kubectlResult(['create', 'namespace', ns]);
    // What a user provides: the claim named by stateClaimName, and volumes to bind claims to (no provisioner here)
    cluster.kubectl(['apply', '-f', '-'], YAML.stringify({
      apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'updater-state', namespace: 'serving' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    }));
    const claims = charts.flatMap((c) => c.objects.filter((o) => o.kind === 'PersistentVolumeClaim')).length + 1;
    for (let i = 0; i < claims; i++) {
      cluster.kubectl(['apply', '-f', '-'], YAML.stringify({
        apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `pv-${i}` },
        spec: { capacity: { storage: '100Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Delete', hostPath: { path: `/tmp/pv-${i}` } },
      }));
    }
    for (const chart of charts) {
      const yaml = toYaml(chart.objects);
      const dry = cluster.kubectlResult(['apply', '--server-side', '--field-manager=modelpilot', '--dry-run=server', '--validate=strict', '-f', '-'], yaml);
      expect([chart.id, dry.status, dry.stderr]).toEqual([chart.id, 0, '']);
      const applied = cluster.kubectlResult(['apply', '--server-side', '--field-manager=modelpilot', '-f', '-'], yaml);
      expect([chart.id, applied.status, applied.stderr]).toEqual([chart.id, 0, '']);
    }
    // a second apply of the same output changes nothing: no object gets a new resourceVersion
    const versions = (): string => cluster.kubectl(['get', 'deploy,svc,cm,sa,role,rolebinding,networkpolicy,pdb,hpa,pvc,servicemonitor,podmonitor,prometheusrule,alertmanagerconfig,secret',
      '-A', '-o', 'jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}']);
    await waitFor(() => cluster.kubectl(['get', 'deploy', '-A', '-o', 'jsonpath={.items[*].status.observedGeneration}']).length > 0, { what: 'deployments observed', timeoutMs: 30_000 });
    const before = versions();
    for (const chart of charts) cluster.kubectl(['apply', '--server-side', '--field-manager=modelpilot', '-f', '-'], toYaml(chart.objects));
    const userObjects = (text: string) => text.split('\n')
      .filter((l) => l && !/^(Deployment|HorizontalPodAutoscaler|PodDisruptionBudget|PersistentVolumeClaim)\//.test(l)).join('\n');
    // Deployments, PDBs, HPAs and PVCs get status writes from controllers; their spec must not change (generation)
    expect(userObjects(versions())).toBe(userObjects(before));
    const generations = (): string => cluster.kubectl(['get', 'deploy', '-A', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.metadata.generation}{"\\n"}{end}']);
    const g1 = generations();
    for (const chart of charts) cluster.kubectl(['apply', '--server-side', '--field-manager=modelpilot', '-f', '-'], toYaml(chart.objects));
    expect(generations()).toBe(g1);
  });

  test('the Argo CD Application and AppProject are stored as synthesized: the updater-owned image ignored, retry and sync options kept', () => {
    const app = JSON.parse(cluster.kubectl(['get', 'application', 'churn', '-n', 'argocd', '-o', 'json']));
    expect(app.spec.project).toBe('churn-models');
    expect(app.spec.syncPolicy.syncOptions).toEqual(['CreateNamespace=true', 'ServerSideApply=true', 'RespectIgnoreDifferences=true']);
    expect(app.spec.syncPolicy.retry).toEqual({ limit: 5, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } });
    expect(app.spec.ignoreDifferences).toEqual([expect.objectContaining({ kind: 'Deployment', name: 'churn', namespace: 'serving', managedFieldsManagers: ['modelpilot'] })]);
    const project = JSON.parse(cluster.kubectl(['get', 'appproject', 'churn-models', '-n', 'argocd', '-o', 'json']));
    expect(project.spec.destinations).toEqual([{ namespace: 'serving', server: 'https://kubernetes.default.svc' }]);
    const wave = cluster.kubectl(['get', 'deployment', 'churn', '-n', 'serving', '-o', "jsonpath={.metadata.annotations['argocd\\.argoproj\\.io/sync-wave']}"]);
    expect(wave).toBe('0');
  });

  test('the canary-gitops example is stored as synthesized: a Rollout over the Deployment, its AnalysisTemplate from the Slo, a ScaledObject on the Rollout', () => {
    const get = (kind: string, name: string, ns: string) => JSON.parse(cluster.kubectl(['get', kind, name, '-n', ns, '-o', 'json']));
    const rollout = get('rollouts.argoproj.io', 'fraud', 'fraud');
    expect(rollout.spec.workloadRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'fraud', scaleDown: 'progressively' });
    expect(rollout.spec.strategy.canary.steps.map((s: Obj) => Object.keys(s)[0])).toEqual(['setWeight', 'analysis', 'setWeight', 'analysis']);
    const template = get('analysistemplates.argoproj.io', 'fraud-slo', 'fraud');
    expect(template.spec.metrics.map((m: Obj) => m.name)).toEqual(['served-requests', 'error-ratio', 'p99-latency']);
    expect(template.spec.metrics[0].successCondition).toBe('len(result) > 0 && result[0] >= 50');
    expect(template.spec.metrics[0].failureLimit).toBe(3);
    const scaled = get('scaledobjects.keda.sh', 'fraud', 'fraud');
    expect(scaled.spec.scaleTargetRef).toEqual({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'fraud' });
    expect(scaled.spec.triggers[0]).toMatchObject({ type: 'prometheus', metadata: { threshold: '50' } });
    // blue-green: the preview Service, and the Application ignores the selector hash Argo Rollouts writes on both Services
    expect(get('rollouts.argoproj.io', 'fraud', 'fraud-shadow').spec.strategy.blueGreen).toMatchObject({ activeService: 'fraud', previewService: 'fraud-preview' });
    const app = get('application', 'fraud-shadow', 'argocd');
    expect(app.spec.ignoreDifferences.filter((d: Obj) => d.kind === 'Service').map((d: Obj) => d.name)).toEqual(['fraud', 'fraud-preview']);
    expect(get('deployment', 'fraud', 'fraud').metadata.annotations['modelpilot.dev/rollout']).toBe('fraud');
  });

  test('every Deployment becomes Available and every Service with a selector gets ready endpoints', async () => {
    const deployments = charts.flatMap((c) => c.objects.filter((o) => o.kind === 'Deployment'));
    for (const d of deployments) {
      const r = cluster.kubectlResult(['rollout', 'status', `deployment/${d.metadata.name}`, '-n', d.metadata.namespace, '--timeout=120s']);
      expect([d.metadata.namespace, d.metadata.name, r.status, r.stderr]).toEqual([d.metadata.namespace, d.metadata.name, 0, '']);
    }
    const services = charts.flatMap((c) => c.objects.filter((o) => o.kind === 'Service' && o.spec?.selector));
    for (const s of services) {
      const ready = () => cluster.kubectl(['get', 'endpointslices', '-n', s.metadata.namespace, '-l', `kubernetes.io/service-name=${s.metadata.name}`,
        '-o', 'jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}']).trim();
      await waitFor(() => ready().length > 0, { what: `endpoints of ${s.metadata.namespace}/${s.metadata.name}`, timeoutMs: 60_000 });
    }
    expect(services.length).toBeGreaterThanOrEqual(8);
  });

  test('strict validation rejects what a schema check can let through: an unknown field, an immutable selector change', () => {
    const [chart] = charts;
    const deployment = structuredClone(chart.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'recsys')!);
    deployment.spec.template.spec.containers[0].readinessProbe.httpGet.pathh = '/typo';
    const typo = cluster.kubectlResult(['apply', '--server-side', '--dry-run=server', '--validate=strict', '-f', '-'], YAML.stringify(deployment));
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toContain('.readinessProbe.httpGet.pathh: field not declared in schema');
    const moved = structuredClone(chart.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'recsys')!);
    moved.spec.selector.matchLabels['app.kubernetes.io/instance'] = 'other';
    moved.spec.template.metadata.labels['app.kubernetes.io/instance'] = 'other';
    const immutable = cluster.kubectlResult(['apply', '--server-side', '--field-manager=modelpilot', '--dry-run=server', '-f', '-'], YAML.stringify(moved));
    expect(immutable.status).not.toBe(0);
    expect(immutable.stderr).toContain('field is immutable');
  });
});
