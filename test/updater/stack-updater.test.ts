import { Testing } from 'cdk8s';
import * as YAML from 'yaml';
import { ModelRegistry, Receiver, SelfHealingModelStack, SelfHealingModelStackProps, validateManifests } from '../../lib';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
type Obj = Record<string, any>;

const slack = Receiver.slack({ name: 'ml-chat', apiUrl: { name: 'slack-webhook', key: 'url' }, channel: '#ml-alerts' });

function synth(props: Partial<SelfHealingModelStackProps>): { stack: SelfHealingModelStack; objects: Obj[] } {
  const stack = new SelfHealingModelStack(Testing.app(), 'recsys', {
    namespace: 'ml', model: { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0' }, ...props,
  });
  return { stack, objects: Testing.synth(stack) as Obj[] };
}

const updaterObject = (objects: Obj[], kind: string): Obj =>
  objects.find((o) => o.kind === kind && o.metadata?.labels?.['app.kubernetes.io/component'] === 'updater') as Obj;

describe('SelfHealingModelStack updater section', () => {
  test('`updater: {}` runs the agent for the stack\'s model, with RBAC on that Deployment only', () => {
    // WHEN
    const { stack, objects } = synth({ updater: {} });
    // THEN
    expect(stack.updater).toBeDefined();
    expect(validateManifests(objects).issues).toEqual([]);
    expect(updaterObject(objects, 'Role').rules[0].resourceNames).toEqual(['recsys']);
    const config = YAML.parse(updaterObject(objects, 'ConfigMap').data['agent.yaml']);
    expect(config.targets.kubernetes).toEqual({ namespace: 'ml', deployments: ['recsys'], container: 'model' });
    expect(config.images).toEqual([expect.objectContaining({ repository: 'registry.example.com/models/recsys', model: 'recsys', policy: 'semver:minor' })]);
    expect(objects.filter((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'updater')).toMatchSnapshot();
  });

  test('no updater section, no updater objects', () => {
    const { stack, objects } = synth({});
    expect(stack.updater).toBeUndefined();
    expect(updaterObject(objects, 'Deployment')).toBeUndefined();
  });

  test('with an in-cluster registry: plain HTTP to it, its pull Secret as credentials, its pods let through', () => {
    const { objects } = synth({
      registry: ModelRegistry.inCluster({ nodePort: 30500, pullSecret: 'registry-pull' }),
      model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' },
      updater: {},
    });
    const config = YAML.parse(updaterObject(objects, 'ConfigMap').data['agent.yaml']);
    // images say localhost:30500 (what the nodes pull); the agent reaches the registry at its Service
    expect(config.registries).toEqual({
      insecure: ['model-registry.ml.svc:5000'], mirrors: { 'localhost:30500': 'model-registry.ml.svc:5000' }, dockerConfig: '/var/run/secrets/modelpilot/registry/config.json',
    });
    const np = updaterObject(objects, 'NetworkPolicy').spec;
    expect(np.ingress[0].from).toContainEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'registry', 'app.kubernetes.io/instance': 'model-registry' } },
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ml' } },
    });
    expect(np.egress[1].ports).toEqual([{ protocol: 'TCP', port: 5000 }]);
  });

  test('with alerting: the Alertmanager route targets this updater\'s webhook and token Secret', () => {
    const { objects } = synth({
      updater: { name: 'recsys-updater', port: 9090, webhookBearerToken: { name: 'am-to-updater', key: 'bearer' } },
      alerting: { defaultReceiver: slack },
    });
    const amc = objects.find((o) => o.kind === 'AlertmanagerConfig') as Obj;
    const receiver = amc.spec.receivers.find((r: Obj) => r.name === 'modelpilot-updater');
    expect(receiver.webhookConfigs[0].url).toBe('http://recsys-updater.ml.svc:9090/webhooks/alertmanager');
    expect(JSON.stringify(receiver)).toContain('am-to-updater');
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('alerting may still turn the updater route off', () => {
    const { objects } = synth({ updater: {}, alerting: { defaultReceiver: slack, updater: false } });
    const amc = objects.find((o) => o.kind === 'AlertmanagerConfig') as Obj;
    expect(amc.spec.receivers.map((r: Obj) => r.name)).toEqual(['ml-chat']);
  });
});

describe('SelfHealingModelStack updater section and the in-cluster registry', () => {
  test('the registry notifies the updater\'s registry webhook of every push, with the updater\'s token Secret', () => {
    const { objects } = synth({
      registry: ModelRegistry.inCluster({ nodePort: 30500 }),
      model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' },
      updater: { name: 'agent', port: 9000 },
    });
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'model-registry') as Obj;
    const config = YAML.parse(Object.values(cm.data as Record<string, string>)[0]);
    expect(config.notifications.endpoints).toEqual([expect.objectContaining({ url: 'http://agent.ml.svc:9000/webhooks/registry' })]);
    expect(JSON.stringify(objects.filter((o) => o.metadata?.name === 'model-registry'))).toContain('agent-webhook');
    expect(updaterObject(objects, 'Service').spec.ports[0].port).toBe(9000);
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('the registry keeps its own notifications when it has some', () => {
    const { objects } = synth({
      registry: ModelRegistry.inCluster({ nodePort: 30500, notifications: { url: 'http://elsewhere.ml.svc:8080/hook' } }),
      model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' },
      updater: {},
    });
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'model-registry') as Obj;
    const config = YAML.parse(Object.values(cm.data as Record<string, string>)[0]);
    expect(config.notifications.endpoints.map((e: Obj) => e.url)).toEqual(['http://elsewhere.ml.svc:8080/hook']);
  });

  test('without an updater the registry sends no notifications', () => {
    const { objects } = synth({ registry: ModelRegistry.inCluster({ nodePort: 30500 }), model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' } });
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'model-registry') as Obj;
    expect(YAML.parse(Object.values(cm.data as Record<string, string>)[0]).notifications).toBeUndefined();
  });
});

describe('the updater alerts are scoped to the stack\'s own updater', () => {
  const updaterRules = (objects: Obj[]): Obj[] => (objects.find((o) => o.kind === 'PrometheusRule')!.spec.groups[0].rules as Obj[])
    .filter((r) => /^ModelUpdater|^ModelVersionQuarantined/.test(r.alert));

  test('every modelpilot_updater_* selector names the namespace and the job its PodMonitor sets', () => {
    const { objects } = synth({ updater: { name: 'recsys-updater' }, monitoring: {} });
    const rules = updaterRules(objects);
    expect(rules.map((r) => r.alert)).toEqual(['ModelUpdaterFailing', 'ModelUpdaterRolledBack', 'ModelVersionQuarantined', 'ModelUpdaterDegraded', 'ModelUpdaterStalled']);
    for (const r of rules) {
      for (const m of (r.expr as string).match(/modelpilot_updater_\w+\{[^}]*\}/g) ?? []) {
        expect(m).toMatch(/\{job="ml\/recsys-updater",namespace="ml"\}$|\{namespace="ml",job="ml\/recsys-updater"\}$/);
      }
    }
    expect(updaterObject(objects, 'PodMonitor').spec.podMetricsEndpoints[0].relabelings).toEqual([{ targetLabel: 'job', replacement: 'ml/recsys-updater' }]);
  });

  test('two stacks in one cluster read different updaters; without an updater the rules are left unscoped', () => {
    const a = synth({ updater: {}, monitoring: {} }).objects;
    const b = new SelfHealingModelStack(Testing.app(), 'fraud', {
      namespace: 'fraud', model: { name: 'fraud', image: 'registry.example.com/models/fraud:1.0.0' }, updater: {}, monitoring: {},
    });
    const exprsA = updaterRules(a).map((r) => r.expr as string);
    const exprsB = updaterRules(Testing.synth(b) as Obj[]).map((r) => r.expr as string);
    expect(exprsA.every((e) => e.includes('namespace="ml"') && !e.includes('fraud'))).toBe(true);
    expect(exprsB.every((e) => e.includes('job="fraud/modelpilot-updater"'))).toBe(true);
    const bare = synth({ monitoring: {} }).objects;
    expect(updaterRules(bare).find((r) => r.alert === 'ModelUpdaterStalled')!.expr).toContain('modelpilot_updater_last_success_timestamp_seconds{}');
  });
});
