import { Size, Testing } from 'cdk8s';
import * as YAML from 'yaml';
import { ModelRegistry, UpdaterPeer, validateManifests, warningsOf } from '../../lib';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
type Obj = Record<string, any>;

const of = (objects: Obj[], kind: string): Obj => objects.find((o) => o.kind === kind)!;

describe('ModelRegistry (in-cluster)', () => {
  test('defaults: ConfigMap, PVC, Deployment, Service and NetworkPolicy of registry:2, all valid; snapshot', () => {
    // GIVEN
    const chart = Testing.chart();
    // WHEN
    const registry = new ModelRegistry(chart, 'Registry', { namespace: 'ml' });
    const objects = Testing.synth(chart) as Obj[];
    // THEN
    expect(objects.map((o) => o.kind)).toEqual(['ConfigMap', 'PersistentVolumeClaim', 'Deployment', 'Service', 'NetworkPolicy']);
    expect(validateManifests(objects).issues).toEqual([]);
    expect(registry.host).toBe('model-registry.ml.svc:5000');
    expect(registry.inCluster).toBe(true);
    const pod = of(objects, 'Deployment').spec.template.spec;
    expect(pod.containers[0].image).toBe('docker.io/library/registry:2.8.3');
    expect(of(objects, 'Deployment').spec.strategy).toEqual({ type: 'Recreate' });
    expect(pod.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'model-registry' } });
    expect(of(objects, 'PersistentVolumeClaim').spec.resources.requests.storage).toBe('50Gi');
    expect(of(objects, 'Service').spec.ports).toEqual([{ name: 'http', port: 5000, targetPort: 'http', protocol: 'TCP' }]);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    expect(objects).toMatchSnapshot();
  });

  test('htpasswd Secret turns on basic auth and is mounted at /auth', () => {
    const chart = Testing.chart();
    new ModelRegistry(chart, 'Registry', { htpasswdSecret: 'registry-htpasswd', storage: Size.gibibytes(10), storageClassName: 'fast' });
    const objects = Testing.synth(chart) as Obj[];
    const config = YAML.parse(of(objects, 'ConfigMap').data['config.yml']);
    expect(config.auth).toEqual({ htpasswd: { realm: 'modelpilot', path: '/auth/htpasswd' } });
    const pod = of(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'auth', secret: { secretName: 'registry-htpasswd', items: [{ key: 'htpasswd', path: 'htpasswd' }] } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'auth', mountPath: '/auth', readOnly: true });
    expect(of(objects, 'PersistentVolumeClaim').spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '10Gi' } } });
  });

  test('notifications endpoint points at the updater webhook and ignores pulls', () => {
    const chart = Testing.chart();
    const registry = new ModelRegistry(chart, 'Registry', {
      notifications: { url: 'http://modelpilot-updater.ml.svc:8080/webhooks/registry', headers: { 'X-Source': 'registry' } },
    });
    const config = YAML.parse(of(Testing.synth(chart) as Obj[], 'ConfigMap').data['config.yml']);
    expect(config.notifications.endpoints).toEqual([expect.objectContaining({
      name: 'modelpilot-updater',
      url: 'http://modelpilot-updater.ml.svc:8080/webhooks/registry',
      headers: { 'X-Source': ['registry'] },
      ignore: { actions: ['pull'] },
    })]);
    expect(registry.config).toEqual(config);
  });

  test('a bearer token for notifications stays in its Secret: template ConfigMap, init container renders into memory', () => {
    const chart = Testing.chart();
    new ModelRegistry(chart, 'Registry', {
      notifications: { url: 'http://modelpilot-updater.ml.svc:8080/webhooks/registry', bearerToken: { name: 'updater-webhook', key: 'token' } },
    });
    const objects = Testing.synth(chart) as Obj[];
    expect(validateManifests(objects).issues).toEqual([]);
    const config = YAML.parse(of(objects, 'ConfigMap').data['config.yml']);
    expect(config.notifications.endpoints[0].headers).toEqual({ Authorization: ['Bearer __MODELPILOT_NOTIFY_TOKEN__'] });
    const pod = of(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'config', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    expect(pod.volumes).toContainEqual({ name: 'config-template', configMap: { name: 'model-registry' } });
    expect(pod.initContainers).toHaveLength(1);
    expect(pod.initContainers[0]).toMatchObject({
      name: 'render-config',
      image: 'docker.io/library/registry:2.8.3',
      env: [{ name: 'MODELPILOT_NOTIFY_TOKEN', valueFrom: { secretKeyRef: { name: 'updater-webhook', key: 'token' } } }],
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
    });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/docker/registry', readOnly: true });
  });

  test('throws if both an Authorization header and a bearer token are given', () => {
    expect(() => new ModelRegistry(Testing.chart(), 'Registry', {
      notifications: { url: 'http://u.ml.svc:8080/webhooks/registry', headers: { authorization: 'Bearer x' }, bearerToken: { name: 's', key: 'token' } },
    })).toThrow(new Error("'registry.notifications.headers' sets Authorization and 'bearerToken' is given too; keep only 'bearerToken'"));
  });

  test('authentication by default: htpasswd from <name>-htpasswd, pulls with <name>-pull; no notifications', () => {
    const chart = Testing.chart();
    const registry = new ModelRegistry(chart, 'Registry');
    const objects = Testing.synth(chart) as Obj[];
    const config = YAML.parse(of(objects, 'ConfigMap').data['config.yml']);
    expect(config.auth).toEqual({ htpasswd: { realm: 'modelpilot', path: '/auth/htpasswd' } });
    expect(config.notifications).toBeUndefined();
    expect(config.storage.filesystem).toEqual({ rootdirectory: '/var/lib/registry' });
    const pod = of(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'auth', secret: { secretName: 'model-registry-htpasswd', items: [{ key: 'htpasswd', path: 'htpasswd' }] } });
    expect(pod.initContainers).toBeUndefined();
    expect(registry.pullSecretName).toBe('model-registry-pull');
    expect(registry.htpasswdSecretName).toBe('model-registry-htpasswd');
    expect(warningsOf(chart)).toEqual([]);
  });

  test('anonymousPush: true turns authentication off, with a warning naming the cost', () => {
    const chart = Testing.chart();
    const registry = new ModelRegistry(chart, 'Registry', { anonymousPush: true });
    expect(YAML.parse(of(Testing.synth(chart) as Obj[], 'ConfigMap').data['config.yml']).auth).toBeUndefined();
    expect(registry.pullSecretName).toBeUndefined();
    expect(warningsOf(chart)).toEqual([{
      path: 'test/Registry',
      message: "'registry.anonymousPush' is true: anyone who can reach model-registry.default.svc:5000 can push a model version, and the updater rolls it "
        + 'out on the push notification; drop anonymousPush and create the credentials with `npx modelpilot registry-credentials`',
    }]);
  });

  test('throws if anonymousPush is combined with an htpasswd Secret', () => {
    expect(() => new ModelRegistry(Testing.chart(), 'Registry', { anonymousPush: true, htpasswdSecret: 'creds' }))
      .toThrow(new Error("'registry.anonymousPush' is true but 'registry.htpasswdSecret' ('creds') turns authentication on; keep one of them"));
  });

  test('a NetworkPolicy lets in only the updater, pushFrom and pullFrom, on the registry port', () => {
    const chart = Testing.chart();
    new ModelRegistry(chart, 'Registry', { port: 5001, pushFrom: [UpdaterPeer.namespace('ci')], pullFrom: [UpdaterPeer.cidr('10.0.0.0/16')] });
    const policy = of(Testing.synth(chart) as Obj[], 'NetworkPolicy');
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'registry', 'app.kubernetes.io/instance': 'model-registry' } },
      policyTypes: ['Ingress'],
      ingress: [{
        from: [
          { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'modelpilot-updater' } } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ci' } } },
          { ipBlock: { cidr: '10.0.0.0/16' } },
        ],
        ports: [{ protocol: 'TCP', port: 5001 }],
      }],
    });
    const none = Testing.chart();
    new ModelRegistry(none, 'Registry', { networkPolicy: false });
    expect((Testing.synth(none) as Obj[]).map((o) => o.kind)).not.toContain('NetworkPolicy');
  });
});

describe('ModelRegistry.external', () => {
  test('describes an existing registry and creates nothing', () => {
    const chart = Testing.chart();
    const source = ModelRegistry.external({ host: 'registry.example.com:5000', pullSecret: 'pull' });
    const registry = source.bind(chart, 'Registry');
    expect(registry).toMatchObject({ host: 'registry.example.com:5000', pullSecretName: 'pull', inCluster: false });
    expect(Testing.synth(chart)).toEqual([]);
  });

  test('inCluster() binds a ModelRegistry construct', () => {
    const chart = Testing.chart();
    const registry = ModelRegistry.inCluster({ name: 'models' }).bind(chart, 'Registry');
    expect(registry).toBeInstanceOf(ModelRegistry);
    expect(registry.host).toBe('models.default.svc:5000');
  });
});
