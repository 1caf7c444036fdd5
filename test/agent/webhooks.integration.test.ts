/**
 * The webhook server fed by the real senders on 127.0.0.1: Debian's distribution registry (push notifications)
 * and Alertmanager (webhook v4), so the parsers are proven against what those tools actually send.
 */
import { createHash } from 'node:crypto';
import { AgentHttpServer } from '../../agent/http';
import { TriggerEvent } from '../../agent/types';
import { startAlertmanager, TestServer } from '../support/prometheus';
import { startRegistry, TestRegistry } from '../support/registry';
import { waitFor } from '../support/tools';

const TOKEN = 'integration-token-0123456789abcdef';

async function pushTag(reg: TestRegistry, repository: string, tag: string): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Labels: { tag } } }));
  const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const start = await fetch(`${reg.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(start.headers.get('location') as string, reg.url);
  loc.searchParams.set('digest', digest);
  expect((await fetch(loc, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: config })).status).toBe(201);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [],
  });
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest,
  });
  expect(res.status).toBe(201);
}

describe('webhooks from the real senders', () => {
  let server: AgentHttpServer;
  let port: number;
  const events: TriggerEvent[] = [];
  const statuses: Array<{ route: string; status: number }> = [];
  const abort = new AbortController();
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    server = new AgentHttpServer({
      port: 0, host: '127.0.0.1', auth: { bearerToken: TOKEN }, onRequest: (route, status) => statuses.push({ route, status }),
    });
    port = await server.listen();
    await server.trigger().start((e) => events.push(e), abort.signal);
  });
  afterAll(async () => {
    for (const s of stops) await s();
    abort.abort();
    await server.close();
  });
  beforeEach(() => {
    events.length = 0;
    statuses.length = 0;
  });

  test('a push to the distribution registry arrives as a registry trigger for that repository', async () => {
    const reg = await startRegistry({
      notifications: { url: `http://127.0.0.1:${port}/webhooks/registry`, headers: { Authorization: `Bearer ${TOKEN}` }, ignorePulls: true },
    });
    stops.push(() => reg.stop());
    await pushTag(reg, 'models/recsys', '1.1.0');
    await waitFor(() => events.length > 0, { what: 'the registry notification', timeoutMs: 30_000, diagnostics: () => reg.logs() });
    expect(events[0]).toEqual({ source: 'webhook:registry', repositories: ['models/recsys'] });
    expect(statuses.filter((s) => s.route === '/webhooks/registry').every((s) => s.status === 202 || s.status === 200)).toBe(true);
  });

  test('a registry sending a wrong token gets 401 and triggers nothing', async () => {
    const reg = await startRegistry({
      notifications: { url: `http://127.0.0.1:${port}/webhooks/registry`, headers: { Authorization: 'Bearer wrong-token-xxxxxxxxxxxx' }, ignorePulls: true },
    });
    stops.push(() => reg.stop());
    await pushTag(reg, 'models/recsys', '1.2.0');
    await waitFor(() => statuses.some((s) => s.status === 401), { what: 'the refused notification', timeoutMs: 30_000, diagnostics: () => reg.logs() });
    expect(events).toEqual([]);
  });

  test('a firing Alertmanager alert marked rollback arrives as a rollback of that model version', async () => {
    const am = await startAlertmanager({
      config: [
        'route:',
        '  receiver: modelpilot',
        '  group_by: [alertname, model, version]',
        '  group_wait: 0s',
        '  group_interval: 1s',
        'receivers:',
        '  - name: modelpilot',
        '    webhook_configs:',
        `      - url: http://127.0.0.1:${port}/webhooks/alertmanager`,
        '        send_resolved: true',
        '        http_config:',
        '          authorization:',
        '            type: Bearer',
        '            credentials_file: $DIR/token',
        '',
      ].join('\n'),
      files: { token: TOKEN },
    });
    stops.push(() => am.stop());
    await postAlerts(am, [
      { labels: { alertname: 'ModelErrorRateHigh', model: 'recsys', version: '1.2.0', modelpilot_action: 'rollback' }, annotations: { summary: 'error ratio 0.3 > 0.05' } },
      { labels: { alertname: 'ModelInfo', model: 'recsys', version: '1.2.0' } },
    ]);
    await waitFor(() => events.some((e) => e.rollback), { what: 'the Alertmanager webhook', timeoutMs: 60_000, diagnostics: () => am.log() });
    expect(events.filter((e) => e.rollback)).toEqual([{
      source: 'webhook:alertmanager', models: ['recsys'],
      rollback: { model: 'recsys', version: '1.2.0', reason: 'ModelErrorRateHigh firing: error ratio 0.3 > 0.05', startsAt: expect.any(String) },
    }]);
  });
});

async function postAlerts(am: TestServer, alerts: Array<{ labels: Record<string, string>; annotations?: Record<string, string> }>): Promise<void> {
  const res = await fetch(`${am.url}/api/v2/alerts`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(alerts.map((a) => ({ ...a, startsAt: new Date().toISOString() }))),
  });
  if (res.status !== 200) throw new Error(`alertmanager answered ${res.status}: ${await res.text()}`);
}
