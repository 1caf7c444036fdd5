import { Duration, Testing } from 'cdk8s';
import { parse } from 'yaml';
import { Receiver } from '../../lib';
import { ModelAlerts } from '../../lib';
import { validateManifests } from '../../lib';
import { SelfHealingModelStack } from '../../lib/stack';

describe('SelfHealingModelStack monitoring and alerting sections', () => {
  function synth(withSections: boolean) {
    const app = Testing.app();
    const stack = new SelfHealingModelStack(app, 'rec', {
      namespace: 'ml',
      model: { name: 'recsys', image: 'registry.example:5000/recsys:1.4.0' },
      ...(withSections ? {
        monitoring: { scrapeInterval: Duration.seconds(15), alerts: { extraLabels: { team: 'recs' } } },
        alerting: { defaultReceiver: Receiver.slack({ name: 'recs-chat', apiUrl: { name: 'slack', key: 'url' }, channel: '#recs' }) },
      } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
    return { stack, objects: stack.toJson() as Array<Record<string, any>> };
  }

  test('create the ServiceMonitor and PrometheusRule for the stack model, and the routing objects', () => {
    const { stack, objects } = synth(true);
    const kinds = objects.map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'AlertmanagerConfig', 'Secret']));
    const sm = objects.find((o) => o.kind === 'ServiceMonitor')!;
    expect(sm.spec.selector.matchLabels).toEqual(stack.model.selectorLabels);
    expect(sm.spec.endpoints[0]).toMatchObject({ port: stack.model.metricsPortName, path: stack.model.metricsPath, interval: '15s' });
    expect(ModelAlerts.isModelAlerts(stack.monitoring!.alerts)).toBe(true);
    expect(stack.monitoring!.alerts!.rule('ModelTargetDown').for).toBe('30s');
    expect(stack.monitoring!.alerts!.group.rules.every((r) => r.labels.team === 'recs')).toBe(true);
    const amc = objects.find((o) => o.kind === 'AlertmanagerConfig')!;
    expect(amc.metadata).toMatchObject({ name: 'recsys', namespace: 'ml' });
    const native = parse(objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'recsys-alertmanager')!.stringData['alertmanager.yaml']);
    expect(native.receivers.find((r: { name: string }) => r.name === 'modelpilot-updater').webhook_configs[0].url)
      .toBe('http://modelpilot-updater.ml.svc:8080/webhooks/alertmanager');
  });

  test('all objects of a stack with both sections are schema-valid', () => {
    expect(validateManifests(synth(true).objects).issues).toEqual([]);
  });

  test('without the sections, no monitoring or alerting object is made', () => {
    const { stack, objects } = synth(false);
    expect(objects.map((o) => o.kind)).not.toEqual(expect.arrayContaining(['ServiceMonitor']));
    expect(stack.monitoring).toBeUndefined();
    expect(stack.alerting).toBeUndefined();
  });
});
