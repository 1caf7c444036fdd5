import { Testing } from 'cdk8s';
import { ModelRegistry, SelfHealingModelStack, validateManifests } from '../../lib';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
type Obj = Record<string, any>;

describe('SelfHealingModelStack', () => {
  test('composes an in-cluster registry and the model in the stack namespace; snapshot', () => {
    // GIVEN
    const app = Testing.app();
    // WHEN
    const stack = new SelfHealingModelStack(app, 'recsys-prod', {
      namespace: 'ml',
      registry: ModelRegistry.inCluster(),
      model: { name: 'recsys', image: 'model-registry.ml.svc:5000/models/recsys:1.4.0' },
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
    expect(stack.registry?.host).toBe('model-registry.ml.svc:5000');
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
