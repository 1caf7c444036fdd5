import { synthesize, SynthesizedChart } from '../../bin/commands/synth';
import buildCanaryGitops from '../../examples/canary-gitops/app';
import buildLlm from '../../examples/llm-gpu/app';
import buildRecommendation from '../../examples/recommendation-model/app';
import { validateManifests } from '../../lib';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
type Obj = Record<string, any>;

const of = (objects: Obj[], kind: string, name: string): Obj => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

describe('example recommendation-model', () => {
  let charts: SynthesizedChart[];
  let objects: Obj[];
  beforeAll(async () => {
    charts = await synthesize(buildRecommendation);
    objects = charts[0].objects;
  });

  test('synthesizes one chart, recommendation-model', () => {
    expect(charts.map((c) => c.id)).toEqual(['recommendation-model']);
  });

  test('every object is schema-valid', () => {
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('CPU model scaled by an HPA between 2 and 8 replicas, no GPU', () => {
    const hpa = of(objects, 'HorizontalPodAutoscaler', 'recsys');
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 8 });
    expect(hpa.spec.metrics[0].resource).toEqual({ name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } });
    const c = of(objects, 'Deployment', 'recsys').spec.template.spec.containers[0];
    expect(c.resources.limits['nvidia.com/gpu']).toBeUndefined();
    expect(c.image).toBe('localhost:30500/models/recsys:1.4.0'); // the NodePort pattern: what the nodes pull
  });

  test('in-cluster registry notifies the updater webhook', () => {
    expect(of(objects, 'ConfigMap', 'model-registry').data['config.yml']).toContain('url: http://modelpilot-updater.ml.svc:8080/webhooks/registry');
  });

  test('the model is scraped and alerted on with the default SLO', () => {
    expect(of(objects, 'ServiceMonitor', 'recsys').spec.selector.matchLabels).toEqual(of(objects, 'Service', 'recsys').spec.selector);
    const rules = of(objects, 'PrometheusRule', 'recsys-alerts').spec.groups.flatMap((g: Obj) => g.rules.map((r: Obj) => r.alert));
    expect(rules).toEqual(expect.arrayContaining(['ModelHighErrorRate', 'ModelHighLatencyP99', 'ModelTargetDown', 'ModelUpdaterFailing']));
  });

  test('rollback-worthy alerts go to the updater webhook; secrets are referenced, never inlined', () => {
    const native = of(objects, 'Secret', 'recsys-alertmanager');
    const yml = String(Object.values(native.stringData ?? native.data)[0]);
    expect(yml).toContain('url: http://modelpilot-updater.ml.svc:8080/webhooks/alertmanager');
    expect(yml).toContain('api_url_file: /etc/alertmanager/secrets/slack-webhook/url');
    expect(yml).toContain('routing_key_file: /etc/alertmanager/secrets/pagerduty/routing-key');
    expect(yml).not.toMatch(/hooks\.slack\.com|routing_key:/);
  });

  test('the updater watches the model Deployment by name with least privilege', () => {
    const role = of(objects, 'Role', 'modelpilot-updater');
    const deployRule = role.rules.find((r: Obj) => r.resources.includes('deployments'));
    expect(deployRule.resourceNames).toEqual(['recsys']);
    expect(of(objects, 'ConfigMap', 'modelpilot-updater').data['agent.yaml']).toContain('models/recsys');
  });

  test('snapshot', () => {
    expect(objects).toMatchSnapshot();
  });
});

describe('example llm-gpu', () => {
  let charts: SynthesizedChart[];
  let objects: Obj[];
  beforeAll(async () => {
    charts = await synthesize(buildLlm);
    objects = charts[0].objects;
  });

  test('synthesizes one chart, llm-gpu', () => {
    expect(charts.map((c) => c.id)).toEqual(['llm-gpu']);
  });

  test('every object is schema-valid', () => {
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('one GPU, Recreate, and a startup budget of ten minutes', () => {
    const d = of(objects, 'Deployment', 'llm');
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    expect(d.spec.replicas).toBe(1);
    const c = d.spec.template.spec.containers[0];
    expect(c.resources.limits['nvidia.com/gpu']).toBe('1');
    expect(c.resources.requests['nvidia.com/gpu']).toBe('1');
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(600);
    expect(d.spec.template.spec.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(d.spec.template.spec.imagePullSecrets).toEqual([{ name: 'registry-example-com' }]);
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(90);
    expect(c.env).toContainEqual({ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf-token', key: 'token' } } });
  });

  test('no registry objects for an external registry; the model pods get their NetworkPolicy', () => {
    expect(objects.map((o) => o.kind)).toEqual(['Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy']);
  });

  test('snapshot', () => {
    expect(objects).toMatchSnapshot();
  });
});

describe('example canary-gitops', () => {
  let charts: SynthesizedChart[];
  beforeAll(async () => {
    charts = await synthesize(buildCanaryGitops);
  });
  const objects = (id: string): Obj[] => charts.find((c) => c.id === id)!.objects;

  test('four charts: two stacks and their Argo CD Applications; every object schema-valid', () => {
    expect(charts.map((c) => c.id)).toEqual(['fraud-canary', 'fraud-canary-gitops', 'fraud-bluegreen', 'fraud-bluegreen-gitops']);
    for (const c of charts) expect(validateManifests(c.objects).issues).toEqual([]);
  });

  test('the Application leaves the updater-owned image to the updater', () => {
    const app = of(objects('fraud-canary-gitops'), 'Application', 'fraud');
    expect(app.spec.ignoreDifferences[0]).toMatchObject({ kind: 'Deployment', name: 'fraud', managedFieldsManagers: ['modelpilot'] });
    expect(app.spec.ignoreDifferences[0].jqPathExpressions[0]).toBe('.spec.template.spec.containers[] | select(.name == "model") | .image');
  });

  test('a canary Rollout with an AnalysisTemplate from the Slo (50 requests, 2 % errors, p99 300 ms; idle at most 3 of 5 minutes)', () => {
    const o = objects('fraud-canary');
    expect(of(o, 'Rollout', 'fraud').spec.workloadRef.name).toBe('fraud');
    const metrics = Object.fromEntries((of(o, 'AnalysisTemplate', 'fraud-slo').spec.metrics as Obj[]).map((m) => [m.name, m]));
    expect(metrics['served-requests']).toMatchObject({ successCondition: 'len(result) > 0 && result[0] >= 50', failureLimit: 3, count: 5, interval: '60s' });
    expect(metrics['error-ratio']).toMatchObject({ successCondition: 'len(result) == 0 || isNaN(result[0]) || result[0] <= 0.02', failureLimit: 1 });
    expect(metrics['p99-latency'].successCondition).toBe('len(result) == 0 || isNaN(result[0]) || result[0] <= 0.3');
  });

  test('KEDA scales the Rollout on requests per second; no HPA', () => {
    const o = objects('fraud-canary');
    expect(of(o, 'ScaledObject', 'fraud').spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'fraud' }, minReplicaCount: 2, maxReplicaCount: 20,
    });
    expect(o.some((x) => x.kind === 'HorizontalPodAutoscaler')).toBe(false);
  });

  test('blue-green: the preview Service, a PodMonitor, post-promotion analysis', () => {
    const o = objects('fraud-bluegreen');
    expect(of(o, 'Rollout', 'fraud').spec.strategy.blueGreen).toMatchObject({ activeService: 'fraud', previewService: 'fraud-preview', scaleDownDelaySeconds: 210 });
    expect(of(o, 'Service', 'fraud-preview')).toBeDefined();
    expect(of(o, 'PodMonitor', 'fraud')).toBeDefined();
  });
});
