import { ApiObject, App, Testing } from 'cdk8s';
import { synthesize } from '../../bin/commands/synth';
import {
  Autoscaling, CanaryStep, Delivery, Duration, KedaMetric, ScrapeTarget, SelfHealingModelStack, SelfHealingModelStackProps, Slo, validateManifests,
} from '../../lib';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are untyped JSON

const model = { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0' };

function synth(props: Partial<SelfHealingModelStackProps>): Obj[] {
  const app = Testing.app();
  new SelfHealingModelStack(app, 'recsys', { namespace: 'ml', model, ...props } as SelfHealingModelStackProps);
  return app.charts.flatMap((c) => c.toJson() as Obj[]);
}
const one = (objects: Obj[], kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`${found.length} ${kind} objects`);
  return found[0];
};

describe('Delivery.canary: a Rollout over the model Deployment and an AnalysisTemplate from the Slo', () => {
  const objects = synth({ delivery: Delivery.canary(), monitoring: {}, updater: {} });

  test('the Rollout takes the Deployment\'s pods by workloadRef; the Deployment leaves its replica count to it', () => {
    const rollout = one(objects, 'Rollout');
    expect(rollout.apiVersion).toBe('argoproj.io/v1alpha1');
    expect(rollout.spec.workloadRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'recsys', scaleDown: 'progressively' });
    expect(rollout.spec.replicas).toBe(2);
    expect(rollout.spec.selector).toEqual(one(objects, 'Deployment', 'recsys').spec.selector);
    const deployment = one(objects, 'Deployment', 'recsys');
    expect(deployment.spec.replicas).toBeUndefined();
    // the updater follows the Rollout's verdict for this Deployment
    expect(deployment.metadata.annotations['modelpilot.dev/rollout']).toBe('recsys');
  });

  test('default steps: 20 %, analysis, 50 %, analysis; each analysis is the template with the new pods\' hash', () => {
    const steps = one(objects, 'Rollout').spec.strategy.canary.steps as Obj[];
    expect(steps.map((s) => Object.keys(s)[0])).toEqual(['setWeight', 'analysis', 'setWeight', 'analysis']);
    expect(steps[0]).toEqual({ setWeight: 20 });
    expect(steps[1].analysis).toEqual({
      templates: [{ templateName: 'recsys-slo' }], args: [{ name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } }],
    });
  });

  test('the AnalysisTemplate is the updater gate\'s "served so far" PromQL, scoped to the canary hash, with the Slo\'s ceilings', () => {
    const slo = Slo.DEFAULT;
    const t = one(objects, 'AnalysisTemplate');
    expect(t.metadata.name).toBe('recsys-slo');
    const byName = Object.fromEntries((t.spec.metrics as Obj[]).map((m) => [m.name, m]));
    const sel = { model: 'recsys', matchers: ['rollouts_pod_template_hash="{{args.canary-hash}}"'] };
    expect(byName['served-requests'].provider.prometheus).toEqual({ address: 'http://prometheus-operated.monitoring.svc:9090', query: slo.metricServedRequests(sel) });
    expect(byName['error-ratio'].provider.prometheus.query).toBe(slo.metricServedErrorRatio(sel));
    expect(byName['p99-latency'].provider.prometheus.query).toBe(slo.metricServedP99(sel));
    // minSamples = minRequestRate × window = 0.1/s × 300 s
    expect(byName['served-requests'].successCondition).toBe('len(result) > 0 && result[0] >= 30');
    expect(byName['error-ratio'].successCondition).toBe('len(result) == 0 || isNaN(result[0]) || result[0] <= 0.05');
    expect(byName['p99-latency'].successCondition).toBe('len(result) == 0 || isNaN(result[0]) || result[0] <= 1');
    // 5 measurements a minute apart; idle tolerated for 4 of them (maxIdle = interval × (measurements − 1)); no SLO breach tolerated
    for (const m of Object.values(byName) as Obj[]) expect([m.interval, m.count]).toEqual(['60s', 5]);
    expect(byName['served-requests'].failureLimit).toBe(4);
    expect(byName['error-ratio'].failureLimit).toBe(0);
  });

  test('the scrape copies the Rollout\'s pod-template hash onto the series, so the analysis can select the new pods', () => {
    const sm = one(objects, 'ServiceMonitor');
    expect(sm.spec.endpoints[0].relabelings).toContainEqual({
      action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_rollouts_pod_template_hash'], targetLabel: 'rollouts_pod_template_hash',
    });
  });

  test('the updater waits for the whole rollout: its readiness timeout covers the steps and analyses', () => {
    const config = one(objects, 'ConfigMap', 'modelpilot-updater').data['agent.yaml'] as string;
    // the model's startup budget (120 s) + 120 s + 2 weight steps × 120 s + 2 analyses × 5 × 60 s = 1080 s
    expect(config).toContain('readinessTimeout: 18m');
    // without a delivery: startup budget + 120 s
    const plain = one(synth({ updater: {} }), 'ConfigMap', 'modelpilot-updater').data['agent.yaml'] as string;
    expect(plain).toContain('readinessTimeout: 4m');
  });

  test('every object validates against its schema (Rollout and AnalysisTemplate from the Argo Rollouts models)', () => {
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('options: steps, analysis timing, idle limit, surge; snapshot', () => {
    const objs = synth({
      monitoring: {},
      delivery: Delivery.canary({
        steps: [
          CanaryStep.setWeight(10), CanaryStep.pause(Duration.minutes(2)), CanaryStep.analysis(),
          CanaryStep.setWeight(60), CanaryStep.pauseUntilPromoted(),
        ],
        analysis: {
          prometheusUrl: 'http://prom.monitoring.svc:9090', interval: Duration.seconds(30), measurements: 6, failureLimit: 1, maxIdle: Duration.seconds(90), minSamples: 100,
        },
        maxSurge: 1, maxUnavailable: '10%',
      }),
    });
    const rollout = one(objs, 'Rollout');
    expect(rollout.spec.strategy.canary).toMatchObject({ maxSurge: 1, maxUnavailable: '10%' });
    expect(rollout.spec.strategy.canary.steps.filter((s: Obj) => !s.analysis)).toEqual([{ setWeight: 10 }, { pause: { duration: '120s' } }, { setWeight: 60 }, { pause: {} }]);
    const m = Object.fromEntries((one(objs, 'AnalysisTemplate').spec.metrics as Obj[]).map((x) => [x.name, x]));
    expect(m['served-requests']).toMatchObject({ interval: '30s', count: 6, failureLimit: 3, successCondition: 'len(result) > 0 && result[0] >= 100' });
    expect(m['error-ratio']).toMatchObject({ failureLimit: 1 });
    expect(m['error-ratio'].provider.prometheus.address).toBe('http://prom.monitoring.svc:9090');
    expect(objs.filter((o) => ['Rollout', 'AnalysisTemplate'].includes(o.kind))).toMatchSnapshot();
  });
});

describe('Delivery.blueGreen', () => {
  const analysis = { interval: Duration.seconds(30), measurements: 4 };
  const objects = synth({ delivery: Delivery.blueGreen({ analysis }), monitoring: {}, updater: {} });

  test('the model Service is active, a preview Service beside it; post-promotion analysis with the old version kept meanwhile', () => {
    const bg = one(objects, 'Rollout').spec.strategy.blueGreen;
    expect(bg).toEqual({
      activeService: 'recsys', previewService: 'recsys-preview', autoPromotionEnabled: true, scaleDownDelaySeconds: 150,
      postPromotionAnalysis: { templates: [{ templateName: 'recsys-slo' }], args: [{ name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } }] },
    });
    const preview = one(objects, 'Service', 'recsys-preview');
    expect(preview.spec.selector).toEqual(one(objects, 'Service', 'recsys').spec.selector);
    // not selected by the model's label selector (nothing picks it up twice)
    expect(preview.metadata.labels['app.kubernetes.io/name']).toBe('recsys-preview');
  });

  test('scraped per pod (a PodMonitor): the active Service would hide the preview pods', () => {
    expect(objects.some((o) => o.kind === 'ServiceMonitor')).toBe(false);
    expect(one(objects, 'PodMonitor', 'recsys').spec.podMetricsEndpoints[0].relabelings).toContainEqual(
      expect.objectContaining({ targetLabel: 'rollouts_pod_template_hash' }));
    expect(() => synth({ delivery: Delivery.blueGreen(), monitoring: { target: ScrapeTarget.SERVICE } }))
      .toThrow("'monitoring.target' ScrapeTarget.SERVICE with Delivery.blueGreen() scrapes only the pods the active Service selects");
  });

  test('analysis before promotion, manual promotion; Argo CD ignores the selector hash on both Services', () => {
    const objs = synth({
      delivery: Delivery.blueGreen({ autoPromotion: false, analyzeBeforePromotion: true, previewService: 'recsys-next' }), monitoring: {},
      gitops: { repoURL: 'https://github.com/acme/ml.git', path: 'dist/prod' },
    });
    const bg = one(objs, 'Rollout').spec.strategy.blueGreen;
    expect(bg).toMatchObject({ autoPromotionEnabled: false, previewService: 'recsys-next' });
    expect(bg.prePromotionAnalysis).toBeDefined();
    expect(bg.postPromotionAnalysis).toBeUndefined();
    const app = one(objs, 'Application');
    expect(app.spec.ignoreDifferences).toEqual([
      { group: '', kind: 'Service', name: 'recsys', namespace: 'ml', jqPathExpressions: ['.spec.selector["rollouts-pod-template-hash"]'] },
      { group: '', kind: 'Service', name: 'recsys-next', namespace: 'ml', jqPathExpressions: ['.spec.selector["rollouts-pod-template-hash"]'] },
    ]);
    expect(app.spec.syncPolicy.syncOptions).toContain('RespectIgnoreDifferences=true');
    expect(one(objs, 'Rollout').metadata.annotations['argocd.argoproj.io/sync-wave']).toBe('0');
    expect(validateManifests(objs).issues).toEqual([]);
  });
});

describe('Delivery.rollingUpdate / recreate: the Deployment\'s own strategies, no Rollout', () => {
  test.each([
    ['rollingUpdate', Delivery.rollingUpdate({ maxSurge: '50%' }), { type: 'RollingUpdate', rollingUpdate: { maxSurge: '50%', maxUnavailable: 0 } }],
    ['recreate', Delivery.recreate(), { type: 'Recreate' }],
  ])('%s', (_name, delivery, strategy) => {
    const objects = synth({ delivery });
    expect(one(objects, 'Deployment').spec.strategy).toEqual(strategy);
    expect(one(objects, 'Deployment').spec.replicas).toBe(2);
    expect(objects.some((o) => o.kind === 'Rollout' || o.kind === 'AnalysisTemplate')).toBe(false);
  });
});

describe('bad delivery input names the field, the value and the fix', () => {
  test.each<[string, () => unknown, string]>([
    ['no analysis step', () => Delivery.canary({ steps: [CanaryStep.setWeight(50)] }), "'delivery.steps' has no CanaryStep.analysis(), so the canary would be promoted without looking at the Slo"],
    ['empty steps', () => Delivery.canary({ steps: [] }), "'delivery.steps' is empty"],
    ['weight 0', () => CanaryStep.setWeight(0), "'delivery.steps' setWeight value 0 is not a whole percentage in 1..100"],
    ['weight 101', () => CanaryStep.setWeight(101), 'setWeight value 101'],
    ['pause 0', () => CanaryStep.pause(Duration.millis(10)), "'delivery.steps' pause value '10ms' is shorter than 1s"],
    ['interval', () => Delivery.canary({ analysis: { interval: Duration.millis(500) } }), "'delivery.analysis.interval' value '500ms' is shorter than 1s"],
    ['measurements', () => Delivery.canary({ analysis: { measurements: 0 } }), "'delivery.analysis.measurements' value 0 must be a whole number in 1..1000"],
    ['failureLimit', () => Delivery.canary({ analysis: { measurements: 3, failureLimit: 3 } }), "'delivery.analysis.failureLimit' value 3 must be a whole number below measurements (3)"],
    ['minSamples', () => Delivery.canary({ analysis: { minSamples: 0.5 } }), "'delivery.analysis.minSamples' value 0.5 must be a whole number of requests"],
    ['maxIdle too long', () => Delivery.canary({ analysis: { interval: Duration.seconds(10), measurements: 3, maxIdle: Duration.seconds(30) } }),
      "'delivery.analysis.maxIdle' value '30s' is not shorter than the analysis (3 × 10s), so an idle version would pass; use at most Duration.seconds(20)"],
    ['scaleDownDelay', () => Delivery.blueGreen({ scaleDownDelay: Duration.seconds(60) }),
      "'delivery.scaleDownDelay' value '60s' ends before the post-promotion analysis (300s), so a failed analysis would have no previous version to switch back to; use at least Duration.seconds(330)"],
    ['surge', () => Delivery.canary({ maxSurge: '150%' }), "'delivery.maxSurge'"],
    ['surge and unavailable both zero (Argo Rollouts: InvalidSpec)', () => Delivery.canary({ maxSurge: '0%', maxUnavailable: 0 }),
      "'delivery.maxSurge' value \"0%\" and 'delivery.maxUnavailable' value 0 are both zero, so no pod could ever be replaced (Argo Rollouts marks such a Rollout InvalidSpec)"],
    ['canary without monitoring', () => synth({ delivery: Delivery.canary() }),
      "'delivery' Delivery.canary() has no 'monitoring' section: its analysis counts the new version's requests by the label rollouts-pod-template-hash"],
    ['blue/green without monitoring', () => synth({ delivery: Delivery.blueGreen() }), "'delivery' Delivery.blueGreen() has no 'monitoring' section"],
    ['strategy and delivery', () => synth({ model: { ...model, strategy: Delivery.recreate().strategy }, delivery: Delivery.canary() } as never),
      "'model.strategy' and 'delivery' (Delivery.canary()) are both given; keep 'delivery'"],
    ['not a Delivery', () => synth({ delivery: { kind: 'canary' } as never }), "'delivery' is not a Delivery; give Delivery.rollingUpdate()"],
    ['preview = active', () => synth({ delivery: Delivery.blueGreen({ previewService: 'recsys' }), monitoring: {} }), "'delivery.previewService' value 'recsys' is the model's own (active) Service"],
    ['slo.minSamples', () => new Slo({ minSamples: 0 }), "'slo.minSamples' value 0 must be a whole number of requests, at least 1"],
  ])('%s', (_name, fn, message) => {
    expect(fn).toThrow(message);
  });
});

describe('Autoscaling.keda: a KEDA ScaledObject on a Prometheus trigger', () => {
  test('on the Deployment: requests per second per replica from the Slo\'s counter; no HPA of its own', () => {
    const autoscaling = Autoscaling.keda({ minReplicas: 2, maxReplicas: 10, metric: KedaMetric.requestsPerSecond(25) });
    const objects = synth({ model: { ...model, autoscaling } });
    expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
    const so = one(objects, 'ScaledObject');
    expect(so.apiVersion).toBe('keda.sh/v1alpha1');
    expect(so.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'recsys' },
      pollingInterval: 30, cooldownPeriod: 300, minReplicaCount: 2, maxReplicaCount: 10,
      triggers: [{ type: 'prometheus', metadata: { serverAddress: 'http://prometheus-operated.monitoring.svc:9090', query: 'sum(rate(model_request_total{model="recsys"}[2m]))', threshold: '25' } }],
    });
    expect(one(objects, 'Deployment').spec.replicas).toBeUndefined();
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('scale to zero with an activation threshold, a custom query; on the Rollout when delivery is a canary', () => {
    const objects = synth({
      model: {
        ...model,
        autoscaling: Autoscaling.keda({
          minReplicas: 1, maxReplicas: 4, metric: KedaMetric.query('sum(model_queue_depth{model="recsys"})', 100), scaleToZero: true, activationThreshold: 5,
          pollingInterval: Duration.seconds(10), cooldownPeriod: Duration.minutes(10), prometheusUrl: 'http://prom:9090',
        }),
      },
      delivery: Delivery.canary(), monitoring: {},
    });
    const so = one(objects, 'ScaledObject');
    expect(so.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'recsys' },
      idleReplicaCount: 0, minReplicaCount: 1, maxReplicaCount: 4, pollingInterval: 10, cooldownPeriod: 600,
    });
    expect(so.spec.triggers[0].metadata).toEqual({ serverAddress: 'http://prom:9090', query: 'sum(model_queue_depth{model="recsys"})', threshold: '100', activationThreshold: '5' });
    // the Rollout leaves the count to KEDA
    expect(one(objects, 'Rollout').spec.replicas).toBeUndefined();
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('an HPA of its own on the same target is a synth error (the two would fight over the replicas)', async () => {
    const build = (app: App): void => {
      const stack = new SelfHealingModelStack(app, 'recsys', {
        namespace: 'ml', model: { ...model, autoscaling: Autoscaling.keda({ maxReplicas: 4, metric: KedaMetric.requestsPerSecond(10) }) },
      });
      new ApiObject(stack, 'ExtraHpa', {
        apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'recsys-cpu' },
        spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'recsys' }, minReplicas: 2, maxReplicas: 4 },
      });
    };
    await expect(synthesize(build)).rejects.toThrow("HorizontalPodAutoscaler 'recsys-cpu' (recsys/ExtraHpa) scales Deployment 'recsys', which the KEDA ScaledObject "
      + "'recsys' scales too; the two would fight over the replicas: remove the HPA (KEDA creates its own) or use Autoscaling.cpu() instead of keda()");
    // an HPA on another workload is fine
    await expect(synthesize((app) => {
      const stack = new SelfHealingModelStack(app, 'recsys', { namespace: 'ml', model: { ...model, autoscaling: Autoscaling.keda({ maxReplicas: 4, metric: KedaMetric.requestsPerSecond(10) }) } });
      new ApiObject(stack, 'OtherHpa', {
        apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'other' },
        spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'other' }, minReplicas: 1, maxReplicas: 2 },
      });
    })).resolves.toHaveLength(1);
  });

  test.each<[string, () => unknown, string]>([
    ['no metric', () => Autoscaling.keda({ maxReplicas: 3 } as never), "'autoscaling.metric' is missing; give KedaMetric.requestsPerSecond(20)"],
    ['rps 0', () => KedaMetric.requestsPerSecond(0), "'autoscaling.metric.requestsPerSecond' value 0 must be a positive number per replica"],
    ['empty query', () => KedaMetric.query(' ', 10), "'autoscaling.metric.query' is empty"],
    ['activation without zero', () => Autoscaling.keda({ maxReplicas: 3, metric: KedaMetric.requestsPerSecond(5), activationThreshold: 1 }),
      "'autoscaling.activationThreshold' is set without 'scaleToZero: true'"],
    ['url', () => Autoscaling.keda({ maxReplicas: 3, metric: KedaMetric.requestsPerSecond(5), prometheusUrl: 'prom:9090' }), "'autoscaling.prometheusUrl' value 'prom:9090' is not an http(s) URL"],
    ['max < min', () => Autoscaling.keda({ minReplicas: 4, maxReplicas: 3, metric: KedaMetric.requestsPerSecond(5) }), "'autoscaling.maxReplicas' value 3 is below minReplicas 4"],
  ])('%s', (_name, fn, message) => {
    expect(fn).toThrow(message);
  });
});
