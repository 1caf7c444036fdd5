import { Testing } from 'cdk8s';
import { ModelRegistry, SelfHealingModelStack, validateManifests } from '../../lib';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
type Obj = Record<string, any>;

describe('images the nodes can pull (#17: the NodePort pattern)', () => {
  test.each<[string, () => SelfHealingModelStack, RegExp]>([
    ['an in-cluster registry without a NodePort', () => new SelfHealingModelStack(Testing.app(), 's', {
      namespace: 'ml', registry: ModelRegistry.inCluster(), model: { name: 'recsys', image: 'model-registry.ml.svc:5000/models/recsys:1.4.0' },
    }), /^'model\.image' host 'model-registry\.ml\.svc:5000' is a cluster DNS name, which the nodes cannot pull from: .*ModelRegistry\.inCluster\(\{ nodePort: 30500 \}\).*'localhost:30500\/models\/recsys:1\.4\.0'.*hosts\.toml/],
    ['an external registry named by cluster DNS', () => new SelfHealingModelStack(Testing.app(), 's', {
      namespace: 'ml', registry: ModelRegistry.external({ host: 'harbor.registry.svc.cluster.local' }),
      model: { name: 'recsys', image: 'harbor.registry.svc.cluster.local/models/recsys:1.4.0' },
    }), /is a cluster DNS name, which the nodes cannot pull from: .*Use a registry host the nodes resolve/],
    ['no registry section, a cluster DNS image', () => new SelfHealingModelStack(Testing.app(), 's', {
      namespace: 'ml', model: { name: 'recsys', image: 'zot.infra.svc:5000/models/recsys:1.4.0' },
    }), /'model\.image' host 'zot\.infra\.svc:5000' is a cluster DNS name/],
  ])('throws if %s', (_n, make, message) => {
    expect(make).toThrow(message);
  });

  test.each([[29999], [32768], [30500.5]])('throws if the NodePort %s is outside 30000..32767', (nodePort) => {
    expect(() => new SelfHealingModelStack(Testing.app(), 's', {
      namespace: 'ml', registry: ModelRegistry.inCluster({ nodePort }), model: { name: 'recsys', image: `localhost:${nodePort}/models/recsys:1.4.0` },
    })).toThrow(`'registry.nodePort' value ${nodePort} is outside Kubernetes' NodePort range; use a whole number in 30000..32767 such as 30500`);
  });
});

describe('SelfHealingModelStack', () => {
  test('composes an in-cluster registry and the model in the stack namespace; snapshot', () => {
    // GIVEN
    const app = Testing.app();
    // WHEN
    const stack = new SelfHealingModelStack(app, 'recsys-prod', {
      namespace: 'ml',
      registry: ModelRegistry.inCluster({ nodePort: 30500 }),
      model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' },
    });
    const objects = stack.toJson() as Obj[];
    // THEN
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ConfigMap/model-registry', 'PersistentVolumeClaim/model-registry', 'Deployment/model-registry', 'Service/model-registry', 'NetworkPolicy/model-registry',
      'Deployment/recsys', 'Service/recsys', 'PodDisruptionBudget/recsys', 'NetworkPolicy/recsys',
    ]);
    // the registry needs credentials by default: the model pulls with its pull Secret
    const model = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'recsys')!;
    expect(model.spec.template.spec.imagePullSecrets).toEqual([{ name: 'model-registry-pull' }]);
    for (const o of objects) expect(o.metadata.namespace).toBe('ml');
    expect(stack.model.namespace).toBe('ml');
    expect(stack.registry?.host).toBe('localhost:30500');
    expect(stack.registry?.serviceHost).toBe('model-registry.ml.svc:5000');
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'model-registry')!;
    expect(svc.spec).toMatchObject({ type: 'NodePort', ports: [{ name: 'http', port: 5000, targetPort: 'http', protocol: 'TCP', nodePort: 30500 }] });
    expect(validateManifests(objects).issues).toEqual([]);
    expect(objects).toMatchSnapshot();
  });

  test('adds the external registry pull Secret to the model pods once', () => {
    const stack = new SelfHealingModelStack(Testing.app(), 's', {
      registry: ModelRegistry.external({ host: 'registry.example.com', pullSecret: 'pull' }),
      model: { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0', imagePullSecrets: ['other', 'pull'] },
    });
    const deployment = (stack.toJson() as Obj[]).find((o) => o.kind === 'Deployment')!;
    expect(deployment.spec.template.spec.imagePullSecrets).toEqual([{ name: 'other' }, { name: 'pull' }]);
  });

  test('without a registry the image may come from anywhere, and the namespace is default', () => {
    const stack = new SelfHealingModelStack(Testing.app(), 's', { model: { name: 'recsys', image: 'ghcr.io/acme/recsys:v2.0.0' } });
    expect(stack.registry).toBeUndefined();
    expect(stack.model.namespace).toBe('default');
    expect((stack.toJson() as Obj[]).map((o) => o.kind)).toEqual(['Deployment', 'Service', 'PodDisruptionBudget', 'NetworkPolicy']);
  });

  test('throws if the model section is missing', () => {
    expect(() => new SelfHealingModelStack(Testing.app(), 's', {} as never))
      .toThrow(new Error("'model' is missing from stack 's'; give at least { model: { name, image } }"));
  });

  test('throws with the model.image field name for a mutable tag', () => {
    expect(() => new SelfHealingModelStack(Testing.app(), 's', { model: { name: 'recsys', image: 'ghcr.io/acme/recsys:latest' } }))
      .toThrow(new Error("'model.image' tag 'latest' is mutable; pin a semver tag such as '1.2.0' or a digest"));
  });
});
