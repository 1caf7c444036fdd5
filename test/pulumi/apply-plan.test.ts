// lib/pulumi/apply-plan.ts: how ModelEnvironment turns the synthesized cdk8s stack into ordered Kubernetes resources.
import { App } from 'cdk8s';
import { apiGroup, isBuiltinGroup, KubeObject, planApply, replaceContainerImage, SectionedObject, synthObjects } from '../../lib/pulumi/apply-plan';
import { updaterOwnedPaths } from '../../lib/pulumi/model-environment';
import { ModelRegistry } from '../../lib/registry/model-registry';
import { SelfHealingModelStack } from '../../lib/stack';

const obj = (section: string, apiVersion: string, kind: string, name: string, extra: Record<string, unknown> = {}): SectionedObject => ({
  section,
  object: { apiVersion, kind, metadata: { name, namespace: 'ml' }, ...extra } as KubeObject,
});

const crd = (group: string, kind: string, plural: string) => obj('crds', 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', `${plural}.${group}`, {
  spec: { group, names: { kind, plural }, scope: 'Namespaced', versions: [] },
});

describe('planApply', () => {
  test('applies CRDs first and makes each custom resource depend on the CRD of its group and kind', () => {
    // GIVEN a ServiceMonitor declared before its CRD, and a CR whose CRD is installed elsewhere
    const objects = [
      obj('monitoring', 'monitoring.coreos.com/v1', 'ServiceMonitor', 'recsys'),
      obj('delivery', 'argoproj.io/v1alpha1', 'AnalysisTemplate', 'recsys'),
      obj('model', 'apps/v1', 'Deployment', 'recsys'),
      crd('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors'),
      crd('monitoring.coreos.com', 'PrometheusRule', 'prometheusrules'),
    ];
    // WHEN
    const plan = planApply(objects);
    // THEN
    expect(plan.map((p) => p.key)).toEqual([
      'crds-customresourcedefinition-servicemonitors.monitoring.coreos.com',
      'crds-customresourcedefinition-prometheusrules.monitoring.coreos.com',
      'model-deployment-recsys',
      'monitoring-servicemonitor-recsys',
      'delivery-analysistemplate-recsys',
    ]);
    const deps = Object.fromEntries(plan.map((p) => [p.key, p.dependsOn]));
    expect(deps['monitoring-servicemonitor-recsys']).toEqual(['crds-customresourcedefinition-servicemonitors.monitoring.coreos.com']);
    expect(deps['delivery-analysistemplate-recsys']).toEqual([]);
    expect(deps['model-deployment-recsys']).toEqual([]);
  });

  test('applies the registry, then the model, then the updater; each waits for the one before', () => {
    const plan = planApply([
      obj('updater', 'apps/v1', 'Deployment', 'modelpilot-updater'),
      obj('monitoring', 'monitoring.coreos.com/v1', 'ServiceMonitor', 'recsys'),
      obj('model', 'apps/v1', 'Deployment', 'recsys'),
      obj('model', 'v1', 'Service', 'recsys'),
      obj('registry', 'apps/v1', 'Deployment', 'model-registry'),
      obj('registry', 'v1', 'Service', 'model-registry'),
    ]);
    expect(plan.map((p) => p.key)).toEqual([
      'registry-deployment-model-registry', 'registry-service-model-registry',
      'model-deployment-recsys', 'model-service-recsys',
      'updater-deployment-modelpilot-updater', 'monitoring-servicemonitor-recsys',
    ]);
    const deps = Object.fromEntries(plan.map((p) => [p.key, p.dependsOn]));
    expect(deps['model-service-recsys']).toEqual(['registry-deployment-model-registry', 'registry-service-model-registry']);
    expect(deps['updater-deployment-modelpilot-updater']).toEqual(['model-deployment-recsys']);
    expect(deps['monitoring-servicemonitor-recsys']).toEqual([]);
  });

  test('throws if two objects would get the same resource name', () => {
    expect(() => planApply([obj('model', 'v1', 'Service', 'recsys'), obj('model', 'v1', 'Service', 'recsys')])).toThrow(
      "object 'model-service-recsys' appears twice in the synthesized stack; give the second Service another 'metadata.name'",
    );
  });
});

describe('API groups', () => {
  test.each([
    ['v1', '', true], ['apps/v1', 'apps', true], ['policy/v1', 'policy', true], ['networking.k8s.io/v1', 'networking.k8s.io', true],
    ['monitoring.coreos.com/v1', 'monitoring.coreos.com', false], ['argoproj.io/v1alpha1', 'argoproj.io', false],
  ])('%s is group %j, built in: %s', (apiVersion, group, builtin) => {
    expect(apiGroup(apiVersion)).toBe(group);
    expect(isBuiltinGroup(group)).toBe(builtin);
  });
});

describe('replaceContainerImage', () => {
  const deployment = obj('model', 'apps/v1', 'Deployment', 'recsys', {
    spec: { template: { spec: {
      initContainers: [{ name: 'fetch', image: 'r.example.com/models/recsys:1.4.0' }],
      containers: [{ name: 'model', image: 'r.example.com/models/recsys:1.4.0' }, { name: 'sidecar', image: 'r.example.com/proxy:2.0.0' }],
    } } },
  }).object;

  test('replaces the matching container and init container images and leaves the others and the input alone', () => {
    const out = replaceContainerImage(deployment, 'r.example.com/models/recsys:1.4.0', 'PINNED');
    type Pod = { containers: Array<{ image: string }>; initContainers: Array<{ image: string }> };
    const pod = (out.spec as { template: { spec: Pod } }).template.spec;
    expect(pod.containers.map((c) => c.image)).toEqual(['PINNED', 'r.example.com/proxy:2.0.0']);
    expect(pod.initContainers[0].image).toBe('PINNED');
    expect(JSON.stringify(deployment)).not.toContain('PINNED');
  });

  test('returns the same object when nothing matches', () => {
    expect(replaceContainerImage(deployment, 'other:1.0.0', 'PINNED')).toBe(deployment);
  });
});

describe('synthObjects', () => {
  test('returns the SelfHealingModelStack objects with the section that made each one', () => {
    // GIVEN a stack with an in-cluster registry
    const app = new App();
    const chart = new SelfHealingModelStack(app, 'recsys', {
      namespace: 'ml-dev',
      registry: ModelRegistry.inCluster({ nodePort: 30500 }),
      model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' },
    });
    // WHEN
    const objects = synthObjects(chart);
    // THEN
    const summary = objects.map((o) => `${o.section} ${o.object.kind} ${o.object.metadata.name}`);
    expect(summary).toEqual(expect.arrayContaining([
      'registry Deployment model-registry', 'registry Service model-registry', 'model Deployment recsys', 'model Service recsys',
    ]));
    expect(objects.every((o) => o.object.metadata.namespace === 'ml-dev')).toBe(true);
    expect(objects).toHaveLength((chart.toJson() as unknown[]).length);
    expect(summary.sort()).toMatchSnapshot();
  });
});

describe('updaterOwnedPaths', () => {
  const deployment = (containers: Array<Record<string, unknown>>) => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'recsys' }, spec: { template: { spec: { containers } } },
  });

  test('the model container\'s image and MODEL_VERSION value: what the updater patches', () => {
    const d = deployment([
      { name: 'sidecar', image: 'envoy:1.0', env: [{ name: 'MODEL_VERSION', value: 'x' }] },
      { name: 'model', image: 'reg/models/recsys:1.4.0', env: [{ name: 'PORT', value: '8080' }, { name: 'MODEL_VERSION', value: '1.4.0' }] },
    ]);
    expect(updaterOwnedPaths(d, 'reg/models/recsys:1.4.0')).toEqual(['spec.template.spec.containers[1].image', 'spec.template.spec.containers[1].env[1].value']);
  });

  test('the pod template\'s version label too, unless the selector uses it (then the updater leaves it alone)', () => {
    const labelled = (selector: Record<string, string>) => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'recsys' }, spec: {
        selector: { matchLabels: selector },
        template: { metadata: { labels: { 'app.kubernetes.io/name': 'recsys', 'app.kubernetes.io/version': '1.4.0' } }, spec: { containers: [{ name: 'model', image: 'reg/m:1.4.0' }] } },
      },
    });
    expect(updaterOwnedPaths(labelled({ 'app.kubernetes.io/name': 'recsys' }), 'reg/m:1.4.0'))
      .toEqual(['spec.template.spec.containers[0].image', 'spec.template.metadata.labels["app.kubernetes.io/version"]']);
    expect(updaterOwnedPaths(labelled({ 'app.kubernetes.io/version': '1.4.0' }), 'reg/m:1.4.0')).toEqual(['spec.template.spec.containers[0].image']);
    expect(updaterOwnedPaths(labelled({}), 'reg/other:1')).toEqual([]);
  });

  test('nothing for other kinds, or a Deployment that does not run the model image', () => {
    expect(updaterOwnedPaths({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'recsys' } }, 'reg/m:1')).toEqual([]);
    expect(updaterOwnedPaths(deployment([{ name: 'agent', image: 'updater:0.1.0' }]), 'reg/m:1')).toEqual([]);
  });
});
