import { assertValidManifests, formatIssue, ManifestValidationError, validateManifest, validateManifests } from '../../lib';
import { describeObject, findSchemaModel } from '../../lib/validation/validate';

const deployment = (): Record<string, unknown> => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'recsys', namespace: 'ml', labels: { 'app.kubernetes.io/name': 'recsys' } },
  spec: {
    selector: { matchLabels: { 'app.kubernetes.io/name': 'recsys' } },
    template: {
      metadata: { labels: { 'app.kubernetes.io/name': 'recsys' } },
      spec: { containers: [{ name: 'model', image: 'r/m:1.0.0', ports: [{ containerPort: 8080 }] }] },
    },
  },
});

describe('validateManifests', () => {
  test('accepts a valid Deployment', () => {
    expect(validateManifests([deployment()])).toEqual({ ok: true, issues: [], checked: 1 });
  });

  test('names the object, the JSON path and the reason of a schema violation', () => {
    const d = deployment() as { spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } } };
    d.spec.template.spec.containers[0].ports[0].containerPort = '8080';
    expect(validateManifest(d)).toEqual([{
      object: 'Deployment ml/recsys',
      path: '$.spec.template.spec.containers[0].ports[0].containerPort',
      message: 'must be integer',
    }]);
  });

  test('reports a missing required field by name', () => {
    const issues = validateManifest({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ name: 'http' }] } });
    expect(issues.map(formatIssue)).toEqual(["Service s: $.spec.ports[0]: required field 'port' is missing"]);
  });

  test('validates CRDs by apiVersion + kind: PrometheusRule, ServiceMonitor, AlertmanagerConfig, Application, Rollout', () => {
    const objects = [
      { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'r', namespace: 'ml' }, spec: { groups: [{ name: 'g', rules: [{ alert: 'A' }] }] } },
      { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'sm', namespace: 'ml' }, spec: { selector: {}, endpoints: [{ port: 'http' }] } },
      { apiVersion: 'monitoring.coreos.com/v1alpha1', kind: 'AlertmanagerConfig', metadata: { name: 'am', namespace: 'ml' }, spec: { route: { receiver: 'x' } } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: 'app', namespace: 'argocd' }, spec: { destination: {} } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate', metadata: { name: 'at', namespace: 'ml' }, spec: { metrics: [{ name: 'm', provider: {} }] } },
    ];
    expect(validateManifests(objects).issues.map(formatIssue)).toEqual([
      "PrometheusRule ml/r: $.spec.groups[0].rules[0]: required field 'expr' is missing",
      "Application argocd/app: $.spec: required field 'project' is missing",
    ]);
    expect(findSchemaModel('argoproj.io/v1alpha1', 'Rollout')).toBeDefined();
    expect(findSchemaModel('networking.k8s.io/v1', 'NetworkPolicy')).toBeDefined();
    expect(findSchemaModel('rbac.authorization.k8s.io/v1', 'Role')).toBeDefined();
  });

  test('reports fields the Kubernetes API does not define, with the nearest known name', () => {
    const d = deployment() as { spec: Record<string, unknown> & { template: { spec: { containers: Array<Record<string, unknown>> } } } };
    d.spec.replicass = 2;
    d.spec.template.spec.containers[0].readinessProbe = { periodSecond: 5, httpGet: { path: '/health/ready', port: 'http' } };
    d.spec.template.spec.containers[0].lifecycle = { preStop: { sleep: { seconds: 5 } } };
    // in the object's own key order: replicass was added after template
    expect(validateManifest(d).map(formatIssue)).toEqual([
      "Deployment ml/recsys: $.spec.template.spec.containers[0].readinessProbe.periodSecond: unknown field 'periodSecond' (not part of Probe); did you mean 'periodSeconds'?",
      "Deployment ml/recsys: $.spec.replicass: unknown field 'replicass' (not part of DeploymentSpec); did you mean 'replicas'?",
    ]);
    expect(validateManifest(d, { allowUnknownFields: true })).toEqual([]);
  });

  test('map-valued fields (labels, resources, data) take any key', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', annotations: { 'example.com/x': 'y' } }, data: { 'config.yml': 'a: 1' } };
    expect(validateManifest(cm)).toEqual([]);
  });

  test('an unknown kind is an error unless allowed explicitly', () => {
    const widget = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };
    expect(validateManifests([widget]).issues.map(formatIssue)).toEqual([
      "Widget w: $: no schema is known for apiVersion 'example.com/v1' kind 'Widget'; check the spelling, or allow it explicitly with allowUnknownKinds ['example.com/v1/Widget']",
    ]);
    expect(validateManifests([widget], { allowUnknownKinds: ['example.com/v1/Widget'] }).ok).toBe(true);
    expect(validateManifests([widget], { allowUnknownKinds: ['*'] }).ok).toBe(true);
  });

  test('a misspelt kind is unknown', () => {
    expect(validateManifest({ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } })[0].message).toMatch(/^no schema is known for apiVersion 'apps\/v1' kind 'Deploymnet'/);
  });

  test('checks names, labels and that the selector matches the pod template', () => {
    const d = deployment() as { metadata: Record<string, unknown>; spec: { selector: { matchLabels: Record<string, string> } } };
    d.metadata.name = 'RecSys';
    d.metadata.labels = { 'app.kubernetes.io/version': '1.0.0+build' };
    d.spec.selector.matchLabels = { 'app.kubernetes.io/name': 'other' };
    expect(validateManifest(d).map(formatIssue)).toEqual([
      "Deployment ml/RecSys: $.metadata.name: 'RecSys' is not a valid name; use lowercase letters, digits, '-' and '.', at most 253 characters",
      "Deployment ml/RecSys: $.metadata.labels['app.kubernetes.io/version']: label value \"1.0.0+build\" is invalid; use at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric",
      "Deployment ml/RecSys: $.spec.selector.matchLabels['app.kubernetes.io/name']: selects 'other' but the pod template's label is 'recsys'; the selector must match the template labels",
    ]);
  });

  test('reports missing apiVersion/kind/name, non-objects and duplicates', () => {
    expect(validateManifest({ metadata: { name: 'x' } }).map(formatIssue)).toEqual(['(no kind) x: $.apiVersion: is missing', '(no kind) x: $.kind: is missing']);
    expect(validateManifest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }).map(formatIssue))
      .toEqual(['ConfigMap (unnamed): $.metadata.name: is missing; every object needs a name']);
    expect(validateManifest('text')[0]).toEqual({ object: '(not an object)', path: '$', message: 'expected a Kubernetes object, got "text"' });
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ml' } };
    expect(validateManifests([cm, cm]).issues.map(formatIssue))
      .toEqual(['ConfigMap ml/c: $: is defined twice (objects 1 and 2); names must be unique per kind and namespace']);
  });

  test('assertValidManifests throws a ManifestValidationError listing every issue', () => {
    const bad = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 'x' }] } };
    let error: unknown;
    try {
      assertValidManifests([bad]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ManifestValidationError);
    expect((error as ManifestValidationError).issues).toHaveLength(1);
    expect((error as Error).message).toBe('1 invalid field(s):\nService s: $.spec.ports[0].port: must be integer');
    expect(() => assertValidManifests([deployment()])).not.toThrow();
  });

  test('describeObject names cluster-scoped and namespaced objects', () => {
    expect(describeObject({ kind: 'Namespace', metadata: { name: 'ml' } })).toBe('Namespace ml');
    expect(describeObject({ kind: 'Service', metadata: { name: 's', namespace: 'ml' } })).toBe('Service ml/s');
  });
});
