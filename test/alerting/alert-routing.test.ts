import { Duration, Testing } from 'cdk8s';
import { parse } from 'yaml';
import { AlertRouting, AlertRoutingProps, Receiver } from '../../lib';
import { Severity } from '../../lib';
import { validateManifests } from '../../lib';

const slack = Receiver.slack({ name: 'ml-chat', apiUrl: { name: 'slack-webhook', key: 'url' }, channel: '#ml-alerts' });
const pager = Receiver.pagerDuty({ name: 'ml-oncall', routingKey: { name: 'pagerduty', key: 'routing-key' } });
const mail = Receiver.email({
  name: 'ml-mail', to: 'ml@example.com', from: 'alertmanager@example.com', smarthost: 'smtp.example.com:587',
  authUsername: 'alertmanager', authPassword: { name: 'smtp', key: 'password' },
});

function setup(props: Partial<AlertRoutingProps> = {}) {
  const chart = Testing.chart();
  const routing = new AlertRouting(chart, 'Alerting', {
    namespace: 'ml',
    defaultReceiver: slack,
    routes: [
      { severity: Severity.CRITICAL, receiver: pager, continue: true },
      { model: 'recommender', receiver: mail, repeatInterval: Duration.hours(12) },
    ],
    ...props,
  });
  const objects = Testing.synth(chart);
  const amc = objects.find((o) => o.kind === 'AlertmanagerConfig');
  const secret = objects.find((o) => o.kind === 'Secret');
  return { routing, objects, amc, secret, native: parse(secret.stringData['alertmanager.yaml']) };
}

describe('AlertRouting', () => {
  test('routes rollback-worthy alerts to the updater first, then by severity and model, else to the default receiver', () => {
    const { native } = setup();
    expect(native.route.receiver).toBe('ml-chat');
    expect(native.route.routes).toEqual([
      {
        receiver: 'modelpilot-updater', matchers: ['modelpilot_action="rollback"'], continue: true,
        group_by: ['alertname', 'namespace', 'model', 'version'], group_wait: '10s',
      },
      { receiver: 'ml-oncall', matchers: ['severity="critical"'], continue: true },
      { receiver: 'ml-mail', matchers: ['model="recommender"'], repeat_interval: '12h' },
    ]);
    expect(native.route).toMatchObject({ group_by: ['alertname', 'namespace', 'model', 'version'], group_wait: '30s', group_interval: '5m', repeat_interval: '4h' });
  });

  test('the updater receiver posts to /webhooks/alertmanager with a bearer token file', () => {
    const { native } = setup({ updater: { url: 'http://updater.ml.svc:9000/webhooks/alertmanager', bearerToken: { name: 'upd', key: 'tok' } } });
    const upd = native.receivers.find((r: { name: string }) => r.name === 'modelpilot-updater');
    expect(upd.webhook_configs[0]).toEqual({
      url: 'http://updater.ml.svc:9000/webhooks/alertmanager', send_resolved: true,
      http_config: { authorization: { type: 'Bearer', credentials_file: '/etc/alertmanager/secrets/upd/tok' } },
    });
  });

  test('both objects carry the recommended app.kubernetes.io labels', () => {
    const { amc, secret, routing } = setup();
    for (const o of [amc, secret]) {
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': routing.alertmanagerConfig.name, 'app.kubernetes.io/instance': routing.alertmanagerConfig.name,
        'app.kubernetes.io/component': 'alerting', 'app.kubernetes.io/managed-by': 'modelpilot',
      });
    }
  });

  test('updater: false leaves the updater route out', () => {
    const { native, amc } = setup({ updater: false });
    expect(native.route.routes.map((r: { receiver: string }) => r.receiver)).toEqual(['ml-oncall', 'ml-mail']);
    expect(amc.spec.receivers.map((r: { name: string }) => r.name)).not.toContain('modelpilot-updater');
  });

  test('the native config reads every secret from a mounted file and never holds a secret value', () => {
    const { native, secret, routing } = setup();
    const byName = Object.fromEntries(native.receivers.map((r: { name: string }) => [r.name, r]));
    expect(byName['ml-chat'].slack_configs[0].api_url_file).toBe('/etc/alertmanager/secrets/slack-webhook/url');
    expect(byName['ml-oncall'].pagerduty_configs[0].routing_key_file).toBe('/etc/alertmanager/secrets/pagerduty/routing-key');
    expect(byName['ml-mail'].email_configs[0].auth_password_file).toBe('/etc/alertmanager/secrets/smtp/password');
    const text = secret.stringData['alertmanager.yaml'];
    expect(text).not.toMatch(/\b(api_url|routing_key|service_key|auth_password|credentials):/);
    expect(routing.secretNames).toEqual(['modelpilot-updater-webhook', 'pagerduty', 'slack-webhook', 'smtp']);
  });

  test('the AlertmanagerConfig refers to the same Secrets and has the same routes', () => {
    const { amc } = setup();
    const byName = Object.fromEntries(amc.spec.receivers.map((r: { name: string }) => [r.name, r]));
    expect(byName['ml-chat'].slackConfigs[0].apiURL).toEqual({ name: 'slack-webhook', key: 'url' });
    expect(byName['ml-oncall'].pagerdutyConfigs[0].routingKey).toEqual({ name: 'pagerduty', key: 'routing-key' });
    expect(byName['ml-mail'].emailConfigs[0].authPassword).toEqual({ name: 'smtp', key: 'password' });
    expect(byName['modelpilot-updater'].webhookConfigs[0].httpConfig.authorization).toEqual({
      type: 'Bearer', credentials: { name: 'modelpilot-updater-webhook', key: 'token' },
    });
    expect(amc.spec.route.routes.map((r: { matchers: unknown }) => r.matchers)).toEqual([
      [{ name: 'modelpilot_action', value: 'rollback', matchType: '=' }],
      [{ name: 'severity', value: 'critical', matchType: '=' }],
      [{ name: 'model', value: 'recommender', matchType: '=' }],
    ]);
  });

  test('ModelTargetDown inhibits the error and latency alerts of the same target, in both renderings', () => {
    const { native, amc } = setup();
    expect(native.inhibit_rules).toEqual([{
      source_matchers: ['alertname="ModelTargetDown"'],
      target_matchers: ['alertname=~"ModelHighErrorRate|ModelHighLatencyP99"'],
      equal: ['namespace', 'model', 'version'],
    }]);
    expect(amc.spec.inhibitRules[0].equal).toEqual(['namespace', 'model', 'version']);
    expect(setup({ inhibitOnTargetDown: false }).native.inhibit_rules).toEqual([]);
  });

  test('several severities become one regex matcher', () => {
    const { native } = setup({ routes: [{ severity: [Severity.CRITICAL, Severity.WARNING], receiver: pager }] });
    expect(native.route.routes[1].matchers).toEqual(['severity=~"critical|warning"']);
  });

  test('routes added after construction are rendered', () => {
    const chart = Testing.chart();
    const routing = new AlertRouting(chart, 'A', { defaultReceiver: slack, updater: false });
    const route = routing.addRoute({ model: 'ranker', receiver: pager });
    expect(route.receiver).toBe(pager);
    const amc = Testing.synth(chart).find((o) => o.kind === 'AlertmanagerConfig');
    expect(amc.spec.route.routes).toEqual([{ receiver: 'ml-oncall', matchers: [{ name: 'model', value: 'ranker', matchType: '=' }] }]);
  });

  test('every synthesized object passes schema validation', () => {
    expect(validateManifests(setup().objects).issues).toEqual([]);
  });

  test('matches the snapshot', () => {
    expect(setup().objects).toMatchSnapshot();
  });

  test('throws if a route matches every alert', () => {
    expect(() => setup({ routes: [{ receiver: pager }] }))
      .toThrow('route to \'ml-oncall\' matches every alert; give \'severity\', \'model\' or \'labels\' (or make it the defaultReceiver)');
  });

  test('throws if two different receivers share a name', () => {
    const other = Receiver.webhook({ name: 'ml-chat', url: 'http://hook.example:8080/' });
    expect(() => setup({ routes: [{ severity: Severity.INFO, receiver: other }] }))
      .toThrow('receiver name \'ml-chat\' is used by two different receivers; give each a unique \'name\'');
  });
});

describe('Receiver', () => {
  test('throws if a secret is given inline instead of as a Secret reference', () => {
    expect(() => Receiver.slack({ name: 's', apiUrl: 'https://hooks.slack.com/x' as never, channel: '#x' }))
      .toThrow('receiver \'s\': \'apiUrl\' value "https://hooks.slack.com/x" is not a Secret reference; give { name: \'<secret>\', key: \'<key>\' } (the value itself never goes into the config)');
  });

  test('throws if the webhook URL is not http(s)', () => {
    expect(() => Receiver.webhook({ name: 'w', url: 'ftp://x' }))
      .toThrow('receiver \'w\': \'url\' value \'ftp://x\' is not an http(s) URL; write it like \'http://updater.ml.svc:8080/webhooks/alertmanager\'');
  });

  test('throws if the SMTP smarthost has no port', () => {
    expect(() => Receiver.email({ name: 'e', to: 'a@example.com', from: 'b@example.com', smarthost: 'smtp.example.com' }))
      .toThrow('receiver \'e\': \'smarthost\' value \'smtp.example.com\' needs a port; write it like \'smtp.example.com:587\'');
  });

  test('throws if an SMTP password is given without a user name', () => {
    expect(() => Receiver.email({ name: 'e', to: 'a@example.com', from: 'b@example.com', smarthost: 's.example.com:25', authPassword: { name: 's', key: 'p' } }))
      .toThrow('receiver \'e\': \'authPassword\' is set without \'authUsername\'; give the SMTP user name too');
  });
});
