/**
 * A large language model on one GPU: it takes up to ten minutes to load its weights, so the startup probe allows
 * ten minutes; only one copy fits on a GPU node, so a new version replaces the old one with `Recreate`.
 * Images come from an existing registry that needs a pull Secret.
 */
import { App, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { DisruptionBudget, Duration, ModelCache, ModelRegistry, ModelUpdateStrategy, SelfHealingModelStack, Slo } from '../../lib';

export default function build(app: App): void {
  new SelfHealingModelStack(app, 'llm-gpu', {
    namespace: 'llm',
    registry: ModelRegistry.external({ host: 'registry.example.com', pullSecret: 'registry-example-com' }),
    model: {
      name: 'llm',
      image: 'registry.example.com/models/llm-7b:2.1.0',
      replicas: 1,
      modelLoadTimeout: Duration.minutes(10),
      strategy: ModelUpdateStrategy.recreate(),
      disruptionBudget: DisruptionBudget.maxUnavailable(1),
      resources: {
        cpu: { request: kplus.Cpu.units(4), limit: kplus.Cpu.units(8) },
        memory: { request: Size.gibibytes(32), limit: Size.gibibytes(48) },
        gpus: 1,
      },
      nodeSelector: { 'nvidia.com/gpu.present': 'true' },
      modelCache: ModelCache.emptyDir(Size.gibibytes(40)),
      drain: Duration.seconds(20),
      terminationGracePeriod: Duration.seconds(90),
      // the Hub token the server downloads gated weights with, from a Secret (SECRETS.md / the compose env file)
      env: [{ name: 'HF_HOME', value: '/models' }, { name: 'HF_TOKEN', secretKeyRef: { name: 'hf-token', key: 'token' } }],
      slo: new Slo({ maxP99Latency: Duration.seconds(20), maxErrorRatio: 0.02 }),
    },
  });
}
