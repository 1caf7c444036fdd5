/**
 * GitOps and progressive delivery, all of it: Argo CD syncs the stack from Git (and leaves the updater's image
 * alone), a new version goes out as an Argo Rollouts canary — 20 %, analysis, 50 %, analysis — gated by an
 * AnalysisTemplate generated from the model's Slo (an idle canary fails after 3 minutes instead of passing), and
 * KEDA scales the Rollout on requests per second. A second stack shows blue-green with post-promotion analysis.
 *
 * `npx modelpilot synth examples/canary-gitops/app.ts` writes fraud-canary.yaml (commit it under dist/prod),
 * fraud-canary-gitops.yaml (apply once to Argo CD's namespace), fraud-bluegreen.yaml and fraud-bluegreen-gitops.yaml.
 */
import { App } from 'cdk8s';
import {
  Autoscaling, CanaryStep, Delivery, Duration, KedaMetric, ModelRegistry, SelfHealingModelStack, Slo,
} from '../../lib';

const slo = new Slo({ maxErrorRatio: 0.02, maxP99Latency: Duration.millis(300), window: Duration.minutes(5), minSamples: 50 });

export default function build(app: App): void {
  new SelfHealingModelStack(app, 'fraud-canary', {
    namespace: 'fraud',
    registry: ModelRegistry.external({ host: 'registry.example.com', pullSecret: 'registry-example-com' }),
    model: {
      name: 'fraud',
      image: 'registry.example.com/models/fraud:3.2.0',
      slo,
      autoscaling: Autoscaling.keda({ minReplicas: 2, maxReplicas: 20, metric: KedaMetric.requestsPerSecond(50) }),
    },
    delivery: Delivery.canary({
      steps: [CanaryStep.setWeight(20), CanaryStep.analysis(), CanaryStep.setWeight(50), CanaryStep.analysis()],
      analysis: { interval: Duration.minutes(1), measurements: 5, failureLimit: 1, maxIdle: Duration.minutes(3) },
    }),
    monitoring: {},
    updater: {},
    gitops: { repoURL: 'https://github.com/acme/ml-platform.git', path: 'dist/prod', targetRevision: 'main', createProject: true },
  });

  new SelfHealingModelStack(app, 'fraud-bluegreen', {
    namespace: 'fraud-shadow',
    registry: ModelRegistry.external({ host: 'registry.example.com', pullSecret: 'registry-example-com' }),
    model: { name: 'fraud', image: 'registry.example.com/models/fraud:3.2.0', slo, replicas: 3 },
    delivery: Delivery.blueGreen({ autoPromotion: true, analysis: { interval: Duration.seconds(30), measurements: 6 } }),
    monitoring: {},
    updater: {},
    gitops: { name: 'fraud-shadow', repoURL: 'https://github.com/acme/ml-platform.git', path: 'dist/shadow', targetRevision: 'main' },
  });
}
