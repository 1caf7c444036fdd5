/**
 * The built-in demo (`npx modelpilot synth` with no argument): the whole self-healing stack for a CPU
 * recommendation model — an in-cluster registry that notifies the updater of every push, the model scaled by CPU
 * between 2 and 8 replicas, its ServiceMonitor and SLO alerts, Alertmanager routes to people (Slack, PagerDuty for
 * critical) and to the updater (rollback-worthy alerts), and the updater agent that rolls new versions out and
 * bad ones back.
 *
 * The app.ts contract: export a function (default export, or named `build`) that adds one or more charts to the
 * cdk8s App it is given. `modelpilot synth` creates the App, calls the function, validates every object and writes
 * one YAML file per chart (`<chart id>.yaml`).
 */
import { App, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Autoscaling, Duration, ModelRegistry, Receiver, SelfHealingModelStack, Severity, UpdatePolicy } from '../../lib';

export default function build(app: App): void {
  new SelfHealingModelStack(app, 'recommendation-model', {
    namespace: 'ml',
    registry: ModelRegistry.inCluster({ nodePort: 30500 }),
    model: {
      name: 'recsys',
      image: 'localhost:30500/models/recsys:1.4.0',
      partOf: 'recommendations',
      modelLoadTimeout: Duration.minutes(2),
      resources: {
        cpu: { request: kplus.Cpu.millis(500), limit: kplus.Cpu.units(2) },
        memory: { request: Size.gibibytes(1), limit: Size.gibibytes(2) },
      },
      autoscaling: Autoscaling.cpu({ minReplicas: 2, maxReplicas: 8, targetUtilizationPercent: 70 }),
      updatePolicy: UpdatePolicy.semver('minor'),
    },
    monitoring: {},
    alerting: {
      defaultReceiver: Receiver.slack({ name: 'ml-chat', apiUrl: { name: 'slack-webhook', key: 'url' }, channel: '#ml-alerts' }),
      routes: [
        { severity: Severity.CRITICAL, receiver: Receiver.pagerDuty({ name: 'ml-oncall', routingKey: { name: 'pagerduty', key: 'routing-key' } }) },
      ],
    },
    updater: {},
  });
}
