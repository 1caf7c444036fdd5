/**
 * People hear about every decision: the agent's rollback and quarantine are posted to a REAL Alertmanager
 * (Debian's `prometheus-alertmanager`, v2 API) and reach a webhook receiver (an in-test HTTP server on 127.0.0.1)
 * through an ordinary route — the same path AlertRouting's routes take.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { AlertmanagerNotifier } from '../../agent/notify/alertmanager';
import { startAlertmanager, TestServer } from '../support/prometheus';
import { waitFor } from '../support/tools';
import { harness, REPO } from './fakes';

interface Received { alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }> }

let am: TestServer;
let receiver: http.Server;
const received: Received[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      received.push(JSON.parse(body) as Received);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as AddressInfo).port;
  am = await startAlertmanager({ config: [
    'route:',
    '  receiver: ml-oncall',
    '  group_by: [alertname, model]',
    '  group_wait: 1s',
    '  group_interval: 1s',
    'receivers:',
    '  - name: ml-oncall',
    '    webhook_configs:',
    `      - url: http://127.0.0.1:${port}/hook`,
    '        send_resolved: false',
  ].join('\n') });
}, 90_000);

afterAll(async () => {
  await am?.stop();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
});

test('a rollback and its quarantine reach the webhook receiver through Alertmanager', async () => {
  const results: string[] = [];
  const notifier = new AlertmanagerNotifier({ url: am.url, onResult: (r) => results.push(r) });
  const h = harness({ tags: ['1.0.0', '1.1.0'], onAudit: (e) => notifier.notify(e) });
  h.target.add('recsys', `${REPO}:1.0.0`);
  h.target.behaviour.set('1.1.0', { ready: 'Unhealthy' });
  const report = await h.reconciler.runCycle([{ source: 'poll' }]);
  expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
  await notifier.flush();
  expect(results).toEqual(['sent', 'sent']);

  await waitFor(() => new Set(received.flatMap((r) => r.alerts.map((a) => a.labels.alertname))).size >= 2,
    { what: 'both notifications at the receiver', timeoutMs: 30_000 });
  const alerts = received.flatMap((r) => r.alerts);
  const rolledBack = alerts.find((a) => a.labels.alertname === 'ModelpilotUpdaterRolledBack')!;
  expect(rolledBack.status).toBe('firing');
  expect(rolledBack.labels).toMatchObject({ model: 'recsys', version: '1.1.0', workload: 'fake/recsys', severity: 'warning', source: 'modelpilot-updater' });
  expect(rolledBack.annotations.description).toMatch(/not ready: readiness probe failed: HTTP 503/);
  const quarantined = alerts.find((a) => a.labels.alertname === 'ModelpilotUpdaterQuarantined')!;
  expect(quarantined.labels).toMatchObject({ model: 'recsys', version: '1.1.0' });
}, 60_000);

test('an unreachable Alertmanager is counted and never blocks the loop', async () => {
  const results: string[] = [];
  const notifier = new AlertmanagerNotifier({ url: 'http://127.0.0.1:1', timeoutMs: 1000, onResult: (r) => results.push(r) });
  const h = harness({ tags: ['1.0.0', '1.1.0'], onAudit: (e) => notifier.notify(e) });
  h.target.add('recsys', `${REPO}:1.0.0`);
  h.target.behaviour.set('1.1.0', { ready: 'Unhealthy' });
  expect((await h.reconciler.runCycle([{ source: 'poll' }])).updates.map((u) => u.result)).toEqual(['rolled_back']);
  await notifier.flush();
  expect(results).toEqual(['failed', 'failed']);
});
