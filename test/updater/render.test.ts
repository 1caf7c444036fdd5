/** The updater's pure renderers, without a chart; and the additive wiring registry.notify(updater). */
import { Chart, Testing } from 'cdk8s';
import { parseConfig } from '../../agent/config';
import { Duration, ImageRef, ModelDeployment, ModelRegistry, ModelUpdater, SelfHealingModelStack, Slo, UpdatePolicy } from '../../lib';
import { KubernetesTargetPermission } from '../../lib/core/contract/kubernetes-rbac';
import { UpdaterPeer } from '../../lib/network/peers';
import { renderAgentConfig, renderAgentVolumes, renderNetworkPolicySpec, renderRoleRules, urlPort } from '../../lib/updater/render';

const model = {
  deploymentName: 'recsys', containerName: 'model', modelName: 'recsys',
  image: ImageRef.parse('registry.example.com/models/recsys:1.4.0'), updatePolicy: UpdatePolicy.semver('minor'),
};
const spec = {
  namespace: 'ml', models: [model], pollInterval: Duration.minutes(5), readinessTimeout: Duration.seconds(90), bakeWindow: Duration.minutes(2),
  prometheusUrl: 'http://prom:9090', inconclusive: 'hold' as const, maxAttempts: 3, port: 8080, registryCredentials: false,
};

describe('renderAgentConfig', () => {
  test('by name: the Deployments listed, the default Slo, attempt timeout = readiness + 30 s; the agent accepts it', () => {
    const config = renderAgentConfig(spec);
    expect(config.targets).toEqual({ kubernetes: { namespace: 'ml', deployments: ['recsys'], container: 'model' } });
    expect(config.images).toEqual([{ repository: 'registry.example.com/models/recsys', model: 'recsys', policy: 'semver:minor', slo: Slo.DEFAULT.toJSON() }]);
    expect(config.rollback).toEqual({ maxAttempts: 3, attemptTimeout: '2m' });
    expect(config.health).toEqual({ readinessTimeout: '90s', bakeWindow: '2m', prometheus: { url: 'http://prom:9090' }, inconclusive: 'hold' });
    expect(parseConfig(config).targets.kubernetes?.deployments).toEqual(['recsys']);
  });

  test('by label, an in-cluster registry with credentials, two container names', () => {
    const config = renderAgentConfig({
      ...spec, labelSelector: 'team=ml', insecureRegistry: 'reg.ml.svc:5000', registryCredentials: true,
      models: [model, { ...model, deploymentName: 'llm', containerName: 'server', modelName: 'llm' }],
    });
    expect(config.targets).toEqual({ kubernetes: { namespace: 'ml', labelSelector: 'team=ml' } });
    expect(config.registries).toEqual({ insecure: ['reg.ml.svc:5000'], dockerConfig: '/var/run/secrets/modelpilot/registry/config.json' });
  });
});

describe('renderRoleRules', () => {
  const perms: KubernetesTargetPermission[] = [
    { apiGroup: 'apps', resource: 'deployments', verbs: ['watch', 'get'], labelDiscoveryVerbs: ['list', 'get'], byName: true },
    { apiGroup: '', resource: 'pods', verbs: ['list'], byName: false },
  ];
  test('by name: resourceNames sorted on the rules that name objects; verbs sorted', () => {
    expect(renderRoleRules(['b', 'a'], undefined, perms)).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'watch'], resourceNames: ['a', 'b'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ]);
  });
  test('by label: no resourceNames, the label-discovery verbs added once', () => {
    expect(renderRoleRules(['a'], 'team=ml', perms)[0]).toEqual({ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch'] });
  });
});

describe('renderNetworkPolicySpec / renderAgentVolumes / urlPort', () => {
  test('an external registry is reached anywhere on its port; ingress from Alertmanager, Prometheus and the extra peers', () => {
    const prom = UpdaterPeer.pods({ app: 'prom' });
    const np = renderNetworkPolicySpec({
      selector: { app: 'u' }, port: 8080, prometheus: prom, prometheusPort: 9090, alertmanager: UpdaterPeer.namespace('monitoring'),
      registryPort: 443, allowWebhooksFrom: [UpdaterPeer.cidr('10.0.0.0/8')], apiServer: UpdaterPeer.cidr('172.20.0.1/32'), anywhere: UpdaterPeer.cidr('0.0.0.0/0'),
    }) as { ingress: Array<{ from: unknown[] }>; egress: Array<{ to: unknown[]; ports: unknown[] }> };
    expect(np.ingress[0].from).toEqual([UpdaterPeer.namespace('monitoring').peer, prom.peer, { ipBlock: { cidr: '10.0.0.0/8' } }]);
    expect(np.egress[0].to).toEqual([{ ipBlock: { cidr: '172.20.0.1/32' } }]);
    expect(np.egress[1]).toEqual({ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 443 }] });
  });

  test('state on a claim, registry credentials mounted read-only', () => {
    const { volumes, mounts } = renderAgentVolumes({
      name: 'u', webhookBearerToken: { name: 's', key: 't' }, webhookHmacSecret: { name: 's', key: 'h' }, stateClaimName: 'state', registryCredentials: 'pull',
    });
    expect(volumes.find((v) => v.name === 'state')).toEqual({ name: 'state', persistentVolumeClaim: { claimName: 'state' } });
    expect(volumes.find((v) => v.name === 'webhook-token')).toEqual({ name: 'webhook-token', secret: { secretName: 's', items: [{ key: 't', path: 'token' }] } });
    expect(mounts.at(-1)).toEqual({ name: 'registry-credentials', mountPath: '/var/run/secrets/modelpilot/registry', readOnly: true });
  });

  test.each([['http://p:9090', 9090], ['https://p', 443], ['http://p', 80]])('urlPort(%s) is %d', (url, port) => {
    expect(urlPort(url, 'prometheusUrl')).toBe(port);
  });
  test('throws if the URL is not http(s)', () => {
    expect(() => urlPort('ftp://p', 'prometheusUrl')).toThrow(
      new Error("'prometheusUrl' value 'ftp://p' is not an http(s) URL; use an http:// or https:// URL such as 'http://prometheus-operated.monitoring.svc:9090'"),
    );
    expect(() => urlPort('http://admin:pw@prometheus:9090', 'prometheusUrl')).toThrow(
      "'prometheusUrl' value 'http://prometheus:9090' carries a user and password, which would be rendered in plain text; "
      + 'remove them (the URL is rendered into agent.yaml in plain text)',
    );
  });
});

describe('ModelRegistry.notify', () => {
  const objectsOf = (chart: Chart) => Testing.synth(chart) as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

  test('an updater created after the registry gets its push events, with its token, rendered at synthesis', () => {
    const chart = new Chart(Testing.app(), 't', { namespace: 'ml' });
    const registry = new ModelRegistry(chart, 'Registry');
    const m = new ModelDeployment(chart, 'Model', { name: 'recsys', image: `${registry.host}/models/recsys:1.4.0` });
    const updater = new ModelUpdater(chart, 'Updater', { models: [m], registry, name: 'upd' });
    registry.notify(updater);
    const objects = objectsOf(chart);
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'model-registry')!;
    expect(cm.data['config.yml']).toContain('url: http://upd.ml.svc:8080/webhooks/registry');
    const pod = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'model-registry')!.spec.template.spec;
    expect(pod.initContainers[0].env).toEqual([{ name: 'MODELPILOT_NOTIFY_TOKEN', valueFrom: { secretKeyRef: { name: 'upd-webhook', key: 'token' } } }]);
  });

  test('throws if the registry already notifies someone', () => {
    const chart = new Chart(Testing.app(), 't', { namespace: 'ml' });
    const registry = new ModelRegistry(chart, 'Registry', { notifications: { url: 'http://ci.ml.svc/hook' } });
    expect(() => registry.notify({ webhookUrl: () => 'http://u/webhooks/registry', webhookBearerToken: { name: 's', key: 't' } })).toThrow(new Error(
      "registry 'model-registry' already sends notifications to 'http://ci.ml.svc/hook'; a registry has one endpoint: drop its 'notifications' prop or the second notify()"));
  });

  test('the stack wires its registry to its updater; a registry with its own endpoint keeps it', () => {
    const own = new SelfHealingModelStack(Testing.app(), 'own', {
      namespace: 'ml', registry: ModelRegistry.inCluster({ nodePort: 30500, notifications: { url: 'http://ci.ml.svc/hook' } }),
      model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' }, updater: {},
    });
    expect((own.registry as ModelRegistry).notifications?.url).toBe('http://ci.ml.svc/hook');
    const wired = new SelfHealingModelStack(Testing.app(), 'wired', {
      namespace: 'ml', registry: ModelRegistry.inCluster({ nodePort: 30500 }), model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' }, updater: {},
    });
    expect((wired.registry as ModelRegistry).notifications).toEqual({
      url: 'http://modelpilot-updater.ml.svc:8080/webhooks/registry', bearerToken: { name: 'modelpilot-updater-webhook', key: 'token' },
    });
  });
});

describe('ModelUpdater with a model deployed some other way', () => {
  test('a plain object (the MonitoredModel fields + image and policy) is kept up to date; nothing is marked', () => {
    const chart = new Chart(Testing.app(), 't', { namespace: 'ml' });
    const updater = new ModelUpdater(chart, 'Updater', {
      models: [{
        ...model, namespace: 'ml', selectorLabels: { app: 'recsys' }, metricsPortName: 'http', metricsPath: '/metrics',
      }],
    });
    expect(updater.config.targets).toEqual({ kubernetes: { namespace: 'ml', deployments: ['recsys'], container: 'model' } });
    expect(updater.config.health?.readinessTimeout).toBe('2m');
  });
});
