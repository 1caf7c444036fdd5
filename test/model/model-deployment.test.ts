import { Chart, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import {
  Autoscaling, DisruptionBudget, DrainHook, Duration, ModelCache, ModelDeployment, ModelDeploymentProps, ModelUpdateStrategy, Slo, UpdaterPeer,
  validateManifests,
} from '../../lib';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
type Obj = Record<string, any>;

function synth(props: Partial<ModelDeploymentProps> = {}, namespace?: string): { model: ModelDeployment; objects: Obj[]; chart: Chart } {
  const chart = namespace ? new Chart(Testing.app(), 'test', { namespace }) : Testing.chart();
  const model = new ModelDeployment(chart, 'Model', { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0', ...props });
  return { model, objects: Testing.synth(chart) as Obj[], chart };
}

const byKind = (objects: Obj[], kind: string): Obj => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
};
const podSpec = (objects: Obj[]): Obj => byKind(objects, 'Deployment').spec.template.spec;
const container = (objects: Obj[]): Obj => podSpec(objects).containers[0];

describe('ModelDeployment', () => {
  test('defaults: Deployment, Service, PodDisruptionBudget and NetworkPolicy, all valid, no autoscaler', () => {
    // WHEN
    const { objects } = synth();
    // THEN
    expect(objects.map((o) => o.kind)).toEqual(['Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy']);
    expect(validateManifests(objects).issues).toEqual([]);
    const deployment = byKind(objects, 'Deployment');
    expect(deployment.metadata).toMatchObject({ name: 'recsys', namespace: 'default' });
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.revisionHistoryLimit).toBe(5);
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(objects).toMatchSnapshot();
  });

  test('sets the recommended labels on every object and selects pods by the stable subset', () => {
    const { objects, model } = synth({ partOf: 'recommendations' });
    const expected = {
      'app.kubernetes.io/name': 'recsys',
      'app.kubernetes.io/instance': 'recsys',
      'app.kubernetes.io/version': '1.4.0',
      'app.kubernetes.io/component': 'model-server',
      'app.kubernetes.io/part-of': 'recommendations',
      'app.kubernetes.io/managed-by': 'modelpilot',
    };
    for (const o of objects) expect(o.metadata.labels).toEqual(expected);
    const deployment = byKind(objects, 'Deployment');
    expect(deployment.spec.template.metadata.labels).toEqual(expected);
    const selector = { 'app.kubernetes.io/name': 'recsys', 'app.kubernetes.io/instance': 'recsys' };
    expect(deployment.spec.selector.matchLabels).toEqual(selector);
    expect(byKind(objects, 'Service').spec.selector).toEqual(selector);
    expect(byKind(objects, 'PodDisruptionBudget').spec.selector.matchLabels).toEqual(selector);
    expect(model.selectorLabels).toEqual(selector);
  });

  test('exposes the fields other constructs need', () => {
    const { model } = synth({ port: 9000, metricsPath: '/prom', servicePort: 8080 });
    expect(model.modelName).toBe('recsys');
    expect(model.namespace).toBe('default');
    expect(model.deploymentName).toBe('recsys');
    expect(model.serviceName).toBe('recsys');
    expect(model.containerName).toBe('model');
    expect(model.metricsPortName).toBe('http');
    expect(model.metricsPort).toBe(9000);
    expect(model.servicePort).toBe(8080);
    expect(model.metricsPath).toBe('/prom');
    expect(model.version).toBe('1.4.0');
    expect(model.image.toString()).toBe('registry.example.com/models/recsys:1.4.0');
    expect(model.slo).toBe(Slo.DEFAULT);
    expect(model.updatePolicy.toString()).toBe('semver:minor');
  });

  test('uses the chart namespace when none is given', () => {
    const { objects, model } = synth({}, 'ml');
    expect(model.namespace).toBe('ml');
    for (const o of objects) expect(o.metadata.namespace).toBe('ml');
  });

  test('probes: HTTP live/ready on the named port, startup budget covers modelLoadTimeout', () => {
    const { objects, model } = synth({ modelLoadTimeout: Duration.minutes(10) });
    const c = container(objects);
    expect(c.livenessProbe).toEqual({ httpGet: { path: '/health/live', port: 'http' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 });
    expect(c.readinessProbe).toEqual({ httpGet: { path: '/health/ready', port: 'http' }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 });
    expect(c.startupProbe).toEqual({ httpGet: { path: '/health/ready', port: 'http' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 60 });
    expect(model.startupBudgetSeconds).toBe(600);
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(600);
  });

  test('startup budget rounds up to whole probe periods', () => {
    const { objects } = synth({ modelLoadTimeout: Duration.seconds(95), startup: { period: Duration.seconds(10) } });
    expect(container(objects).startupProbe.failureThreshold).toBe(10);
  });

  test('preStop sleeps for the drain (kubelet sleep action) and the grace period outlasts it', () => {
    const { objects } = synth({ drain: Duration.seconds(15) });
    expect(container(objects).lifecycle).toEqual({ preStop: { sleep: { seconds: 15 } } });
    expect(podSpec(objects).terminationGracePeriodSeconds).toBe(45);
  });

  test('drain hook choices: exec sleep, a custom command, an HTTP drain endpoint; none for a zero drain', () => {
    expect(container(synth({ drainHook: DrainHook.exec() }).objects).lifecycle).toEqual({ preStop: { exec: { command: ['sleep', '10'] } } });
    expect(container(synth({ drainHook: DrainHook.exec(['/bin/drain']) }).objects).lifecycle).toEqual({ preStop: { exec: { command: ['/bin/drain'] } } });
    const http = synth({ drainHook: DrainHook.httpGet('/drain') }).objects;
    expect(container(http).lifecycle).toEqual({ preStop: { httpGet: { path: '/drain', port: 'http' } } });
    expect(validateManifests(http).issues).toEqual([]);
    expect(container(synth({ drain: Duration.seconds(0) }).objects).lifecycle).toBeUndefined();
  });

  test('secure defaults: non-root, read-only root fs with writable /tmp, no escalation, RuntimeDefault, no SA token', () => {
    const { objects } = synth();
    const pod = podSpec(objects);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const c = container(objects);
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, privileged: false, capabilities: { drop: ['ALL'] },
    });
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } });
    expect(c.imagePullPolicy).toBe('IfNotPresent');
  });

  test('sets PORT, MODEL_NAME and MODEL_VERSION, then the extra env in order', () => {
    const { objects } = synth({ port: 9000, env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'TOKEN', secretKeyRef: { name: 's', key: 'k' } }] });
    expect(container(objects).env).toEqual([
      { name: 'PORT', value: '9000' },
      { name: 'MODEL_NAME', value: 'recsys' },
      { name: 'MODEL_VERSION', value: '1.4.0' },
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ]);
    expect(container(objects).ports).toEqual([{ name: 'http', containerPort: 9000, protocol: 'TCP' }]);
    expect(byKind(objects, 'Service').spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  });

  test('GPUs: nvidia.com/gpu request and limit, NoSchedule toleration, node selector; snapshot', () => {
    const { objects } = synth({
      resources: {
        gpus: 2,
        cpu: { request: kplus.Cpu.units(4), limit: kplus.Cpu.units(8) },
        memory: { request: Size.gibibytes(16), limit: Size.gibibytes(24) },
      },
      nodeSelector: { 'nvidia.com/gpu.present': 'true' },
    });
    const c = container(objects);
    expect(c.resources).toEqual({
      requests: { 'cpu': '4', 'memory': '16Gi', 'nvidia.com/gpu': '2' },
      limits: { 'cpu': '8', 'memory': '24Gi', 'nvidia.com/gpu': '2' },
    });
    expect(podSpec(objects).tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(podSpec(objects).nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(validateManifests(objects).issues).toEqual([]);
    expect(objects).toMatchSnapshot();
  });

  test('default resources are set: requests 500m/1Gi, limits 2/2Gi', () => {
    expect(container(synth().objects).resources).toEqual({ requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } });
  });

  test('explicit tolerations and imagePullSecrets', () => {
    const { objects } = synth({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }], imagePullSecrets: ['pull'] });
    expect(podSpec(objects).tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }]);
    expect(podSpec(objects).imagePullSecrets).toEqual([{ name: 'pull' }]);
  });

  test('model cache: emptyDir with size limit mounted at /models', () => {
    const { objects } = synth({ modelCache: ModelCache.emptyDir(Size.gibibytes(20)) });
    expect(podSpec(objects).volumes).toContainEqual({ name: 'model-cache', emptyDir: { sizeLimit: '20Gi' } });
    expect(container(objects).volumeMounts).toContainEqual({ name: 'model-cache', mountPath: '/models' });
  });

  test('model cache from an existing claim', () => {
    const { objects } = synth({ modelCache: ModelCache.fromClaim('weights', { mountPath: '/weights', readOnly: true }) });
    expect(podSpec(objects).volumes).toContainEqual({ name: 'model-cache', persistentVolumeClaim: { claimName: 'weights', readOnly: true } });
    expect(container(objects).volumeMounts).toContainEqual({ name: 'model-cache', mountPath: '/weights' });
  });

  test('Recreate strategy has no rollingUpdate block', () => {
    const { objects } = synth({ strategy: ModelUpdateStrategy.recreate() });
    expect(byKind(objects, 'Deployment').spec.strategy).toEqual({ type: 'Recreate' });
  });

  test('rolling update with percentages', () => {
    const { objects } = synth({ strategy: ModelUpdateStrategy.rollingUpdate({ maxSurge: '25%', maxUnavailable: '10%' }) });
    expect(byKind(objects, 'Deployment').spec.strategy.rollingUpdate).toEqual({ maxSurge: '25%', maxUnavailable: '10%' });
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('PodDisruptionBudget: maxUnavailable 1 by default, minAvailable when chosen', () => {
    expect(byKind(synth().objects, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
    const pdb = byKind(synth({ replicas: 3, disruptionBudget: DisruptionBudget.minAvailable(2) }).objects, 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({ minAvailable: 2, selector: { matchLabels: { 'app.kubernetes.io/name': 'recsys', 'app.kubernetes.io/instance': 'recsys' } } });
  });

  test('CPU autoscaling: an autoscaling/v2 HPA on the Deployment, which leaves replicas to it; snapshot', () => {
    const { objects } = synth({ autoscaling: Autoscaling.cpu({ minReplicas: 2, maxReplicas: 8, targetUtilizationPercent: 60 }) });
    const hpa = byKind(objects, 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'recsys' },
      minReplicas: 2,
      maxReplicas: 8,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } }],
    });
    expect(byKind(objects, 'Deployment').spec.replicas).toBeUndefined();
    expect(validateManifests(objects).issues).toEqual([]);
    expect(objects).toMatchSnapshot();
  });

  test('custom Pods metric autoscaling', () => {
    const { objects } = synth({ autoscaling: Autoscaling.podsMetric({ metric: 'model_requests_per_second', targetAverageValue: '20', maxReplicas: 10 }) });
    expect(byKind(objects, 'HorizontalPodAutoscaler').spec.metrics).toEqual([
      { type: 'Pods', pods: { metric: { name: 'model_requests_per_second' }, target: { type: 'AverageValue', averageValue: '20' } } },
    ]);
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('digest-only image: version label is the first 12 hex characters of the digest', () => {
    const digest = 'sha256:' + 'ab'.repeat(32);
    const { model, objects } = synth({ image: `registry.example.com/models/recsys@${digest}` });
    expect(model.version).toBe('abababababab');
    expect(container(objects).image).toBe(`registry.example.com/models/recsys@${digest}`);
  });

  test('addPodAnnotation adds to the pod template', () => {
    const chart = Testing.chart();
    const model = new ModelDeployment(chart, 'Model', { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0' });
    expect(model.addPodAnnotation('example.com/checksum', 'abc')).toBe(model);
    const deployment = (Testing.synth(chart) as Obj[]).find((o) => o.kind === 'Deployment')!;
    expect(deployment.spec.template.metadata.annotations).toEqual({ 'example.com/checksum': 'abc' });
  });
});

describe('ModelDeployment NetworkPolicy', () => {
  test('lets in only the own namespace, Prometheus and ingressFrom, on the container port', () => {
    const chart = Testing.chart();
    new ModelDeployment(chart, 'Model', {
      name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0', port: 9000, ingressFrom: [UpdaterPeer.namespace('ingress-nginx')],
    });
    const policy = (Testing.synth(chart) as Array<Record<string, any>>).find((o) => o.kind === 'NetworkPolicy')!; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(policy.metadata.name).toBe('recsys');
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'recsys', 'app.kubernetes.io/instance': 'recsys' } },
      policyTypes: ['Ingress'],
      ingress: [{
        from: [
          { podSelector: {} },
          { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
        ],
        ports: [{ protocol: 'TCP', port: 9000 }],
      }],
    });
  });

  test('networkPolicy: false renders none', () => {
    const chart = Testing.chart();
    new ModelDeployment(chart, 'Model', { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0', networkPolicy: false });
    expect((Testing.synth(chart) as Array<{ kind: string }>).map((o) => o.kind)).toEqual(['Deployment', 'Service', 'PodDisruptionBudget']);
  });
});
