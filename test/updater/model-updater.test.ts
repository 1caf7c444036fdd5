import { Chart, Duration, Size, Testing } from 'cdk8s';
import * as YAML from 'yaml';
import { parseConfig } from '../../agent/config';
import { ModelDeployment, ModelRegistry, ModelUpdater, ModelUpdaterProps, Slo, UpdatePolicy, UpdaterDiscovery, UpdaterPeer, UpdaterState, validateManifests } from '../../lib';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
type Obj = Record<string, any>;

interface Built { chart: Chart; updater: ModelUpdater; objects: Obj[]; model: ModelDeployment }

function build(props: Partial<ModelUpdaterProps> = {}, opts: { registry?: boolean; slo?: Slo } = {}): Built {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml', disableResourceNameHashes: true });
  const registry = opts.registry ? new ModelRegistry(chart, 'Registry', { pullSecret: 'registry-pull' }) : undefined;
  const host = registry ? registry.host : 'registry.example.com';
  const model = new ModelDeployment(chart, 'Model', {
    name: 'recsys', image: `${host}/models/recsys:1.4.0`, updatePolicy: UpdatePolicy.semver('minor'), ...(opts.slo ? { slo: opts.slo } : {}),
  });
  const updater = new ModelUpdater(chart, 'Updater', { models: [model], ...(registry ? { registry } : {}), ...props });
  return { chart, updater, model, objects: Testing.synth(chart) as Obj[] };
}

const updaterObjects = (objects: Obj[]) => objects.filter((o) => o.metadata?.labels?.['app.kubernetes.io/component'] === 'updater');
const byKind = (objects: Obj[], kind: string): Obj => {
  const found = updaterObjects(objects).filter((o) => o.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
};
const agentConfig = (objects: Obj[]) => YAML.parse(byKind(objects, 'ConfigMap').data['agent.yaml']);

describe('ModelUpdater', () => {
  test('defaults: the agent, its RBAC, config, Service, NetworkPolicy and PodMonitor, all schema-valid', () => {
    // WHEN
    const { objects } = build();
    // THEN
    expect(updaterObjects(objects).map((o) => o.kind)).toEqual(
      ['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service', 'NetworkPolicy', 'PodMonitor', 'PersistentVolumeClaim']);
    expect(validateManifests(objects).issues).toEqual([]);
    for (const o of updaterObjects(objects)) {
      expect(o.metadata).toMatchObject({ name: o.kind === 'PersistentVolumeClaim' ? 'modelpilot-updater-state' : 'modelpilot-updater', namespace: 'ml' });
      expect(o.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'modelpilot-updater', 'app.kubernetes.io/instance': 'modelpilot-updater', 'app.kubernetes.io/version': '0.1.0',
        'app.kubernetes.io/component': 'updater', 'app.kubernetes.io/part-of': 'modelpilot', 'app.kubernetes.io/managed-by': 'modelpilot',
      });
    }
    expect(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false);
    expect(updaterObjects(objects)).toMatchSnapshot();
  });

  test('requireSignature mounts the cosign public key from its Secret and points agent.yaml at it', () => {
    const { objects } = build({ requireSignature: { publicKey: { name: 'cosign', key: 'cosign.pub' } } });
    expect(agentConfig(objects).requireSignature).toEqual({ publicKeyFiles: ['/var/run/secrets/modelpilot/signing/cosign.pub'] });
    const pod = byKind(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'signing-key', secret: { secretName: 'cosign', items: [{ key: 'cosign.pub', path: 'cosign.pub' }] } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'signing-key', mountPath: '/var/run/secrets/modelpilot/signing', readOnly: true });
  });

  test('attest and requireVerifiedIn mount the private key and each environment\'s public key, and agent.yaml points at them', () => {
    const { objects } = build({
      attest: { environment: 'prod', privateKey: { name: 'prod-attest', key: 'key.pem' } },
      requireVerifiedIn: [
        { environment: 'staging', publicKey: { name: 'staging-attest', key: 'attest.pub' } },
        { environment: 'qa', publicKey: { name: 'qa-attest', key: 'pub.pem' } },
      ],
    });
    const config = agentConfig(objects);
    expect(config).toMatchObject({
      attest: { environment: 'prod', privateKeyFile: '/var/run/secrets/modelpilot/attest/attest.key' },
      requireVerifiedIn: ['staging', 'qa'],
      trustedEnvironments: {
        staging: { publicKeyFiles: ['/var/run/secrets/modelpilot/trust/staging.pub'] }, qa: { publicKeyFiles: ['/var/run/secrets/modelpilot/trust/qa.pub'] },
      },
    });
    expect(parseConfig(config).requireVerifiedIn).toEqual(['staging', 'qa']);
    const pod = byKind(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'attest-key', secret: { secretName: 'prod-attest', items: [{ key: 'key.pem', path: 'attest.key' }], defaultMode: 0o400 } });
    expect(pod.volumes).toContainEqual({ name: 'trusted-keys', projected: { sources: [
      { secret: { name: 'staging-attest', items: [{ key: 'attest.pub', path: 'staging.pub' }] } },
      { secret: { name: 'qa-attest', items: [{ key: 'pub.pem', path: 'qa.pub' }] } },
    ] } });
    expect(pod.containers[0].volumeMounts).toEqual(expect.arrayContaining([
      { name: 'attest-key', mountPath: '/var/run/secrets/modelpilot/attest', readOnly: true },
      { name: 'trusted-keys', mountPath: '/var/run/secrets/modelpilot/trust', readOnly: true },
    ]));
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test('mlflow: the model follows its MLflow alias; the token is mounted and the NetworkPolicy lets the agent reach MLflow', () => {
    const { objects } = build({
      mlflow: {
        url: 'http://mlflow.mlflow.svc:5000', token: { name: 'mlflow', key: 'token' }, tagPrefix: 'modelpilot.prod', peer: UpdaterPeer.cidr('10.1.2.3/32'),
        models: { recsys: { alias: 'champion', imageTag: 'v{version}', digestTag: 'image_digest' } },
      },
    });
    const config = agentConfig(objects);
    expect(config.mlflow).toEqual({ url: 'http://mlflow.mlflow.svc:5000', tokenFile: '/var/run/secrets/modelpilot/mlflow/token', tagPrefix: 'modelpilot.prod' });
    expect(config.images[0].mlflow).toEqual({ registeredModel: 'recsys', alias: 'champion', imageTag: 'v{version}', digestTag: 'image_digest' });
    expect(parseConfig(config).images[0].mlflow).toEqual({ registeredModel: 'recsys', alias: 'champion', imageTag: 'v{version}', digestTag: 'image_digest' });
    const pod = byKind(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'mlflow-token', secret: { secretName: 'mlflow', items: [{ key: 'token', path: 'token' }] } });
    expect(byKind(objects, 'NetworkPolicy').spec.egress).toContainEqual({ to: [{ ipBlock: { cidr: '10.1.2.3/32' } }], ports: [{ protocol: 'TCP', port: 5000 }] });
    expect(validateManifests(objects).issues).toEqual([]);
  });

  test.each<[string, Partial<ModelUpdaterProps>, string]>([
    ['mlflow names a model the updater does not keep', { mlflow: { url: 'http://mlflow:5000', models: { fraud: {} } } },
      "'mlflow.models' names model 'fraud', which this updater does not keep up to date; use one of 'recsys'"],
    ['an MLflow tag template without {version}', { mlflow: { url: 'http://mlflow:5000', models: { recsys: { imageTag: 'stable' } } } },
      "'images[0].mlflow.imageTag' value 'stable' has no '{version}'"],
    ['an environment listed twice', { requireVerifiedIn: [
      { environment: 'staging', publicKey: { name: 'a', key: 'k' } }, { environment: 'staging', publicKey: { name: 'b', key: 'k' } }] },
    "'requireVerifiedIn' lists environment 'staging' twice; give each environment once, with its agent's public key"],
    ['an updater requiring its own proof', {
      attest: { environment: 'staging', privateKey: { name: 'a', key: 'k' } }, requireVerifiedIn: [{ environment: 'staging', publicKey: { name: 'b', key: 'k' } }],
    }, "'attest.environment' value 'staging' is also in 'requireVerifiedIn'"],
    ['an environment name the agent refuses', { attest: { environment: 'Prod EU', privateKey: { name: 'a', key: 'k' } } },
      "'attest.environment' value 'Prod EU' is not an environment name; use lower-case letters, digits, '.', '_' and '-', such as 'staging'"],
  ])('throws if %s', (_n, props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  test('the Role is limited by resourceNames to the model Deployments (least privilege by default)', () => {
    const { objects } = build();
    expect(byKind(objects, 'Role').rules).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch', 'watch'], resourceNames: ['recsys'] },
      { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      // a canary / blue-green model: the Rollout of the same name, read only
      { apiGroups: ['argoproj.io'], resources: ['rollouts'], verbs: ['get'], resourceNames: ['recsys'] },
      { apiGroups: ['argoproj.io'], resources: ['analysisruns'], verbs: ['get'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
    expect(byKind(objects, 'RoleBinding')).toMatchObject({
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'modelpilot-updater' },
      subjects: [{ kind: 'ServiceAccount', name: 'modelpilot-updater', namespace: 'ml' }],
    });
  });

  test('label discovery needs namespace-wide list, so it drops resourceNames', () => {
    const { objects } = build({ discovery: UpdaterDiscovery.byLabel() });
    expect(byKind(objects, 'Role').rules[0]).toEqual({ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'patch', 'watch'] });
    expect(agentConfig(objects).targets.kubernetes).toEqual({ namespace: 'ml', labelSelector: 'modelpilot.dev/managed=true', container: 'model' });
  });

  test('the agent pod is non-root, read-only, resourced, probed on /healthz and mounts the API token', () => {
    const { objects } = build();
    const d = byKind(objects, 'Deployment');
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    const pod = d.spec.template.spec;
    expect(pod.serviceAccountName).toBe('modelpilot-updater');
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const [c] = pod.containers;
    expect(c.image).toBe('ghcr.io/modelpilot/modelpilot-updater:0.1.0');
    expect(c.args).toEqual(['agent', '--config', '/etc/modelpilot/agent.yaml']);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(c.resources.requests).toEqual({ cpu: '50m', memory: '128Mi' });
    expect(c.resources.limits).toEqual({ cpu: '500m', memory: '256Mi' });
    // heap caps that keep the measured RSS (~86 MB idle, ~105 MB peak) well inside the 256Mi limit, whatever the image
    expect(c.env).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=128 --max-semi-space-size=2' });
    for (const p of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(p.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.volumeMounts.map((m: Obj) => m.mountPath)).toEqual(
      ['/etc/modelpilot', '/var/run/secrets/modelpilot/webhook/token', '/var/run/secrets/modelpilot/webhook/hmac', '/var/lib/modelpilot', '/tmp']);
    expect(d.spec.template.metadata.annotations['modelpilot.dev/config-sha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  test('renders the config from typed props and the model, valid under the schema the agent loads', () => {
    const slo = new Slo({ maxErrorRatio: 0.02, maxP99Latency: Duration.millis(300) });
    const { objects } = build({
      pollInterval: Duration.seconds(30), bakeWindow: Duration.minutes(10), maxAttempts: 2, inconclusive: 'rollback', minImageAge: Duration.hours(2),
    }, { slo });
    const raw = agentConfig(objects);
    const config = parseConfig(raw, 'agent.yaml');
    expect(config.targets.kubernetes).toEqual({ namespace: 'ml', deployments: ['recsys'], container: 'model', inCluster: true });
    expect(config.images).toHaveLength(1);
    expect(config.images[0]).toMatchObject({ repository: 'registry.example.com/models/recsys', model: 'recsys' });
    expect(config.images[0].policy?.toString()).toBe('semver:minor');
    expect(config.images[0].slo).toMatchObject({ maxErrorRatio: 0.02, maxFailedScrapes: 3 });
    expect(config.images[0].slo?.maxP99Latency.toMilliseconds()).toBe(300);
    expect(config.pollInterval.toSeconds()).toBe(30);
    expect(config.minImageAge.toHours()).toBe(2);
    expect(raw.minImageAge).toBe('2h');
    expect(raw.requireSignature).toBeUndefined();
    expect(config.health.bakeWindow.toMinutes()).toBe(10);
    expect(config.health.inconclusive).toBe('rollback');
    expect(config.health.prometheus?.url).toBe('http://prometheus-operated.monitoring.svc:9090');
    // readiness = the model's startup budget (2 min load at 10 s periods) + 2 min; attempt = readiness + 30 s
    expect(raw.health.readinessTimeout).toBe('4m');
    expect(raw.rollback).toEqual({ maxAttempts: 2, attemptTimeout: '270s' });
    expect(config.webhooks).toMatchObject({ listen: '0.0.0.0:8080', enabled: true, bearerTokenFile: '/var/run/secrets/modelpilot/webhook/token', hmacSecretFile: '/var/run/secrets/modelpilot/webhook/hmac' });
    expect(config.stateDir).toBe('/var/lib/modelpilot');
  });

  test('references the webhook and registry Secrets by name, never inlines them', () => {
    const { objects, updater } = build({ webhookBearerToken: { name: 'am-token', key: 'bearer' } }, { registry: true });
    const pod = byKind(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes).toEqual(expect.arrayContaining([
      { name: 'webhook-token', secret: { secretName: 'am-token', items: [{ key: 'bearer', path: 'token' }] } },
      { name: 'webhook-hmac', secret: { secretName: 'modelpilot-updater-webhook', items: [{ key: 'hmac', path: 'hmac' }] } },
      { name: 'registry-credentials', secret: { secretName: 'registry-pull', items: [{ key: '.dockerconfigjson', path: 'config.json' }] } },
    ]));
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
    const config = agentConfig(objects);
    expect(config.registries).toEqual({ insecure: ['model-registry.ml.svc:5000'], dockerConfig: '/var/run/secrets/modelpilot/registry/config.json' });
    expect(updater.webhookUrl('registry')).toBe('http://modelpilot-updater.ml.svc:8080/webhooks/registry');
    expect(updater.webhookUrl('alertmanager')).toBe('http://modelpilot-updater.ml.svc:8080/webhooks/alertmanager');
  });

  test('NetworkPolicy: webhooks in only from Alertmanager, Prometheus, the registry and allowed peers; out to API, registry, Prometheus, DNS', () => {
    const { objects } = build({ allowWebhooksFrom: [UpdaterPeer.cidr('10.20.0.0/16'), UpdaterPeer.namespace('ci')], apiServerPeer: UpdaterPeer.cidr('172.20.0.1/32') },
      { registry: true });
    const np = byKind(objects, 'NetworkPolicy').spec;
    expect(np.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'modelpilot-updater', 'app.kubernetes.io/instance': 'modelpilot-updater' } });
    expect(np.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.ingress).toHaveLength(1);
    expect(np.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 8080 }]);
    expect(np.ingress[0].from).toEqual([
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'alertmanager' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'registry', 'app.kubernetes.io/instance': 'model-registry' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ml' } } },
      { ipBlock: { cidr: '10.20.0.0/16' } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ci' } } },
    ]);
    expect(np.egress.map((e: Obj) => [e.to[0], e.ports])).toEqual([
      [{ ipBlock: { cidr: '172.20.0.1/32' } }, [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 6443 }]],
      [expect.objectContaining({ podSelector: expect.anything() }), [{ protocol: 'TCP', port: 5000 }]],
      [expect.objectContaining({ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }), [{ protocol: 'TCP', port: 9090 }]],
      [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } },
        [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }]],
    ]);
  });

  test('an external registry is reached on 443', () => {
    const { objects } = build();
    const np = byKind(objects, 'NetworkPolicy').spec;
    expect(np.egress[1]).toEqual({ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 443 }] });
  });

  test('PodMonitor scrapes the agent /metrics; Service exposes the webhooks', () => {
    const { objects } = build();
    expect(byKind(objects, 'PodMonitor').spec).toEqual({
      selector: { matchLabels: { 'app.kubernetes.io/name': 'modelpilot-updater', 'app.kubernetes.io/instance': 'modelpilot-updater' } },
      podMetricsEndpoints: [{ port: 'http', path: '/metrics', interval: '30s', relabelings: [{ targetLabel: 'job', replacement: 'ml/modelpilot-updater' }] }],
    });
    expect(byKind(objects, 'Service').spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
  });

  test('marks the model Deployment as managed (metadata only, so no rollout)', () => {
    const { objects } = build();
    const model = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'recsys') as Obj;
    expect(model.metadata.labels['modelpilot.dev/managed']).toBe('true');
    expect(model.metadata.annotations['modelpilot.dev/policy']).toBe('semver:minor');
    expect(model.spec.template.metadata.labels['modelpilot.dev/managed']).toBeUndefined();
  });

  describe('state', () => {
    const stateVolume = (objects: Obj[]) => byKind(objects, 'Deployment').spec.template.spec.volumes.find((v: Obj) => v.name === 'state');
    const claims = (objects: Obj[]) => updaterObjects(objects).filter((o) => o.kind === 'PersistentVolumeClaim');

    test('durable by default: a 1Gi ReadWriteOnce claim beside a one-replica Recreate Deployment', () => {
      const { objects, updater } = build();
      expect(updater.state.durable).toBe(true);
      expect(claims(objects)).toEqual([expect.objectContaining({
        metadata: expect.objectContaining({ name: 'modelpilot-updater-state', namespace: 'ml' }),
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      })]);
      expect(stateVolume(objects)).toEqual({ name: 'state', persistentVolumeClaim: { claimName: 'modelpilot-updater-state' } });
      // a ReadWriteOnce volume and a rolling update would deadlock: the new pod waits for the old one's volume
      expect(byKind(objects, 'Deployment').spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
    });

    test('claim size and StorageClass are given to the claim', () => {
      const { objects } = build({ state: UpdaterState.persistentVolumeClaim({ size: Size.mebibytes(512), storageClassName: 'fast-ssd' }) });
      expect(claims(objects)[0].spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '512Mi' } }, storageClassName: 'fast-ssd' });
    });

    test('an existing claim, by state or by stateClaimName, creates none', () => {
      for (const props of [{ stateClaimName: 'updater-state' }, { state: UpdaterState.existingClaim('updater-state') }]) {
        const { objects } = build(props);
        expect(claims(objects)).toEqual([]);
        expect(stateVolume(objects)).toEqual({ name: 'state', persistentVolumeClaim: { claimName: 'updater-state' } });
      }
    });

    test('an emptyDir only when asked for', () => {
      const { objects, updater } = build({ state: UpdaterState.emptyDir() });
      expect(updater.state.durable).toBe(false);
      expect(claims(objects)).toEqual([]);
      expect(stateVolume(objects)).toEqual({ name: 'state', emptyDir: {} });
    });

    test('bad state input names the field and the fix', () => {
      expect(() => build({ state: UpdaterState.emptyDir(), stateClaimName: 'x' }))
        .toThrow("both 'state' and 'stateClaimName' ('x') are given; keep one, e.g. state: UpdaterState.existingClaim('x')");
      expect(() => UpdaterState.existingClaim('Bad_Name')).toThrow("'UpdaterState.existingClaim claimName' value 'Bad_Name' is not a valid Kubernetes name");
      expect(() => UpdaterState.persistentVolumeClaim({ size: Size.kibibytes(10) })).toThrow("'size' is");
      expect(() => UpdaterState.persistentVolumeClaim({ storageClassName: 'Fast SSD' })).toThrow("storageClassName' value 'Fast SSD'");
    });
  });

  describe('bad input', () => {
    const chart = () => new Chart(Testing.app(), 'test', { namespace: 'ml', disableResourceNameHashes: true });
    const model = (c: Chart, namespace?: string, id = 'Model') => new ModelDeployment(c, id, { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0', namespace });

    test('throws if no model is given', () => {
      expect(() => new ModelUpdater(chart(), 'U', { models: [] }))
        .toThrow("'models' is empty; give the ModelDeployments the updater keeps up to date, e.g. { models: [stack.model] }");
    });
    test('throws if a model is in another namespace', () => {
      const c = chart();
      expect(() => new ModelUpdater(c, 'U', { models: [model(c, 'other')], namespace: 'ml' }))
        .toThrow("'models' model 'recsys' is in namespace 'other', not the updater's 'ml'; the Role is namespaced: run one ModelUpdater per namespace");
    });
    test('throws if the same Deployment is listed twice', () => {
      const c = chart();
      const m = model(c);
      expect(() => new ModelUpdater(c, 'U', { models: [m, m] })).toThrow("'models' lists Deployment 'recsys' twice; give each model once");
    });
    test('throws if the agent image has a mutable tag', () => {
      const c = chart();
      expect(() => new ModelUpdater(c, 'U', { models: [model(c)], image: 'ghcr.io/modelpilot/modelpilot-updater:latest' }))
        .toThrow("'image' tag 'latest' is mutable; pin a semver tag such as '1.2.0' or a digest");
    });
    test('throws if the name is not a DNS label', () => {
      const c = chart();
      expect(() => new ModelUpdater(c, 'U', { models: [model(c)], name: 'Updater_1' }))
        .toThrow("'name' value 'Updater_1' is not a DNS label; use at most 63 lowercase letters, digits and '-'");
    });
    test('throws if the port is privileged', () => {
      const c = chart();
      expect(() => new ModelUpdater(c, 'U', { models: [model(c)], port: 80 }))
        .toThrow("'port' value 80 is out of range; use a whole number in 1024..65535 (the agent runs as non-root) such as 8080");
    });
    test('throws if the poll interval is below what the agent accepts (the agent schema decides)', () => {
      const c = chart();
      expect(() => new ModelUpdater(c, 'U', { models: [model(c)], pollInterval: Duration.millis(500) }))
        .toThrow("the agent config rendered from the props is invalid ('pollInterval' value '500ms' is shorter than 1s; give at least '1s'); fix the matching prop");
    });
    test('throws if the Prometheus URL is not a URL', () => {
      const c = chart();
      expect(() => new ModelUpdater(c, 'U', { models: [model(c)], prometheusUrl: 'prometheus:9090' }))
        .toThrow(/'prometheusUrl' value 'prometheus:9090'|prometheus\.url/);
    });
    test('throws if maxAttempts is not a positive whole number', () => {
      const c = chart();
      expect(() => new ModelUpdater(c, 'U', { models: [model(c)], maxAttempts: 0 })).toThrow("'maxAttempts' value 0 must be a whole number of at least 1");
    });
    test.each([
      [() => UpdaterPeer.cidr('10.0.0.0'), "'UpdaterPeer.cidr' value '10.0.0.0' is not an IPv4 CIDR block; write it like '10.0.0.0/8'"],
      [() => UpdaterPeer.cidr('300.0.0.0/8'), "'UpdaterPeer.cidr' value '300.0.0.0/8' is not an IPv4 CIDR block; write it like '10.0.0.0/8'"],
      [() => UpdaterPeer.pods({}), "'UpdaterPeer.pods' labels are empty, which would match every pod; give labels such as { 'app.kubernetes.io/name': 'alertmanager' }"],
      [() => UpdaterPeer.namespace('Team A'), "'UpdaterPeer.namespace' value 'Team A' is not a namespace name; use lowercase letters, digits and '-'"],
      [() => UpdaterDiscovery.byLabel('a b'), "'discovery' label selector 'a b' is malformed; write it like 'modelpilot.dev/managed=true'"],
    ])('throws if a peer or discovery is malformed (%#)', (fn, message) => {
      expect(fn).toThrow(message);
    });
  });
});
