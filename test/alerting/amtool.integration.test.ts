import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration, Testing } from 'cdk8s';
import { AlertRouting, Receiver } from '../../lib';
import { Severity } from '../../lib';
import { startAlertmanager, TestServer } from '../support/prometheus';
import { requireTool, waitFor } from '../support/tools';

// amtool check-config and `amtool config routes test` on the native alertmanager.yml of a routing tree that uses
// every receiver type; then a real Alertmanager shows ModelTargetDown inhibiting the error alert of the same target.

let dir: string;
let configFile: string;
let routing: AlertRouting;
let amtool: string;

function synthRouting(secretsDir: string): AlertRouting {
  const chart = Testing.chart();
  return new AlertRouting(chart, 'Alerting', {
    namespace: 'ml',
    defaultReceiver: Receiver.slack({ name: 'ml-chat', apiUrl: { name: 'slack-webhook', key: 'url' }, channel: '#ml-alerts' }),
    routes: [
      { severity: Severity.CRITICAL, receiver: Receiver.pagerDuty({ name: 'ml-oncall', routingKey: { name: 'pagerduty', key: 'routing-key' } }) },
      {
        model: 'recommender', receiver: Receiver.email({
          name: 'ml-mail', to: 'ml@example.com', from: 'am@example.com', smarthost: 'smtp.example.com:587',
          authUsername: 'am', authPassword: { name: 'smtp', key: 'password' },
        }),
      },
      { labels: { team: 'search' }, receiver: Receiver.webhook({ name: 'search-hook', url: 'http://127.0.0.1:9/hook', bearerToken: { name: 'search', key: 'token' } }) },
    ],
    groupWait: Duration.seconds(1), groupInterval: Duration.seconds(1),
    secretsMountPath: secretsDir,
  });
}

beforeAll(() => {
  amtool = requireTool('amtool', 'prometheus-alertmanager');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-amtool-'));
  const secrets = path.join(dir, 'secrets');
  for (const [s, k] of [['slack-webhook', 'url'], ['pagerduty', 'routing-key'], ['smtp', 'password'], ['search', 'token'], ['modelpilot-updater-webhook', 'token']]) {
    fs.mkdirSync(path.join(secrets, s), { recursive: true });
    fs.writeFileSync(path.join(secrets, s, k), k === 'url' ? 'https://hooks.slack.example/T0/B0/x' : 'not-a-real-secret');
  }
  routing = synthRouting(secrets);
  configFile = path.join(dir, 'alertmanager.yml');
  const secret = Testing.synth(routing.node.scope as never).find((o) => o.kind === 'Secret');
  fs.writeFileSync(configFile, secret.stringData['alertmanager.yaml']);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test('amtool check-config accepts the native alertmanager.yml with every receiver type', () => {
  const r = spawnSync(amtool, ['check-config', configFile], { encoding: 'utf8' });
  expect(r.stdout + r.stderr).toContain('SUCCESS');
  expect(r.stdout).toContain(' - 5 receivers');
  expect(r.stdout).toContain(' - 1 inhibit rules');
  expect(r.status).toBe(0);
});

test('amtool check-config rejects a broken config (the check can fail)', () => {
  const broken = path.join(dir, 'broken.yml');
  fs.writeFileSync(broken, fs.readFileSync(configFile, 'utf8').replace('routing_key_file', 'routing_key_fiel'));
  const r = spawnSync(amtool, ['check-config', broken], { encoding: 'utf8' });
  expect(r.status).not.toBe(0);
  expect(r.stdout + r.stderr).toContain('routing_key_fiel');
});

test.each([
  [['alertname=ModelHighErrorRate', 'modelpilot_action=rollback', 'severity=critical', 'model=ranker'], 'modelpilot-updater,ml-oncall'],
  [['alertname=ModelHighLatencyP99', 'modelpilot_action=rollback', 'severity=warning', 'model=recommender'], 'modelpilot-updater,ml-mail'],
  [['alertname=ModelVersionSkew', 'severity=warning', 'model=recommender'], 'ml-mail'],
  [['alertname=ModelTargetDown', 'severity=critical', 'model=recommender'], 'ml-oncall'],
  [['alertname=Custom', 'severity=warning', 'team=search'], 'search-hook'],
  [['alertname=ModelUpdaterFailing', 'severity=warning', 'model=ranker'], 'ml-chat'],
])('amtool routes %j to %s', (labels, receivers) => {
  const r = spawnSync(amtool, ['config', 'routes', 'test', `--config.file=${configFile}`, `--verify.receivers=${receivers}`, ...labels], { encoding: 'utf8' });
  expect(r.stdout.trim()).toBe(receivers);
  expect(r.status).toBe(0);
});

test('amtool routes test fails when the expected receiver is wrong (the check can fail)', () => {
  const r = spawnSync(amtool, ['config', 'routes', 'test', `--config.file=${configFile}`, '--verify.receivers=ml-chat', 'severity=critical'], { encoding: 'utf8' });
  expect(r.status).not.toBe(0);
});

describe('a real Alertmanager', () => {
  let am: TestServer;
  beforeAll(async () => {
    am = await startAlertmanager({ config: fs.readFileSync(configFile, 'utf8') });
  });
  afterAll(async () => {
    await am?.stop();
  });

  test('ModelTargetDown inhibits the error alert of the same model and version, not of another version', async () => {
    const base = { namespace: 'ml', model: 'recommender', severity: 'critical' };
    const alerts = [
      { labels: { ...base, alertname: 'ModelTargetDown', version: '2.0.0', instance: 'pod-a:8080' } },
      { labels: { ...base, alertname: 'ModelHighErrorRate', version: '2.0.0' } },
      { labels: { ...base, alertname: 'ModelHighErrorRate', version: '1.0.0' } },
    ];
    const post = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
    expect(post.status).toBe(200);
    type Got = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } };
    let got: Got[] = [];
    await waitFor(async () => {
      got = await (await fetch(`${am.url}/api/v2/alerts`)).json() as Got[];
      return got.length === 3 && got.some((a) => a.status.state === 'suppressed');
    }, { what: 'three alerts, one suppressed', timeoutMs: 30_000, intervalMs: 200 });
    const state = (name: string, version: string) => got.find((a) => a.labels.alertname === name && a.labels.version === version)!.status;
    expect(state('ModelHighErrorRate', '2.0.0').state).toBe('suppressed');
    expect(state('ModelHighErrorRate', '2.0.0').inhibitedBy.length).toBe(1);
    expect(state('ModelHighErrorRate', '1.0.0').state).toBe('active');
    expect(state('ModelTargetDown', '2.0.0').state).toBe('active');
  });
});
