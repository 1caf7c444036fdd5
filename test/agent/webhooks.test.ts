/**
 * The agent's HTTP server and webhook parsers, over real HTTP on 127.0.0.1. Every refusal (4xx) must emit nothing.
 */
import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { AgentHttpServer } from '../../agent/http';
import { parseAlertmanager, parseMlflowEvent, parseRegistryNotification, validateWebhookAuth } from '../../agent/triggers/webhooks';
import { TriggerEvent } from '../../agent/types';

const TOKEN = 'test-token-0123456789abcdef';
const SECRET = 'hmac-secret-0123456789abcdef';

interface Sent {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A raw node:http request, so tests control Content-Length and chunking exactly. */
function send(
  port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, chunked = false,
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined && !chunked) h['Content-Length'] = String(Buffer.byteLength(body));
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    if (body !== undefined && chunked) {
      const buf = Buffer.from(body);
      for (let i = 0; i < buf.length; i += 64 * 1024) req.write(buf.subarray(i, i + 64 * 1024));
    } else if (body !== undefined) {
      req.write(body);
    }
    req.end();
  });
}

const bearer = { Authorization: `Bearer ${TOKEN}` };
/** The documented scheme: HMAC-SHA256 of '<timestamp>.<raw body>', the timestamp (unix seconds) in its own header. */
const sign = (body: string, secret = SECRET, ts = Math.floor(Date.now() / 1000)): Record<string, string> => ({
  'X-Modelpilot-Timestamp': String(ts),
  'X-Modelpilot-Signature': `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`,
});

const registryPush = JSON.stringify({
  events: [{
    id: 'e1', timestamp: '2026-11-25T09:00:00Z', action: 'push',
    target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'b'.repeat(64)}`, repository: 'models/recsys', tag: '1.1.0' },
    request: { host: '127.0.0.1:5000', method: 'PUT' },
  }],
});

const alert = (status: string, labels: Record<string, string>): unknown => ({ status, labels, annotations: { summary: 'error ratio 0.2 > 0.05' } });
const amBody = (alerts: unknown[]): string => JSON.stringify({ version: '4', status: 'firing', receiver: 'modelpilot', groupKey: 'g', alerts });

describe('AgentHttpServer', () => {
  let server: AgentHttpServer;
  let port: number;
  let events: TriggerEvent[];
  let healthy = true;
  let metricsBody = 'modelpilot_updater_cycles_total 3\n';
  const abort = new AbortController();

  beforeAll(async () => {
    server = new AgentHttpServer({
      port: 0, host: '127.0.0.1', auth: { bearerToken: TOKEN, hmacSecret: SECRET }, maxBodyBytes: 1024 * 1024, requestsPerSecond: 10_000,
      metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: metricsBody }),
      healthz: () => ({ healthy, detail: { lastCycle: 'x' } }),
    });
    port = await server.listen();
    await server.trigger().start((e) => events.push(e), abort.signal);
  });
  afterAll(async () => {
    abort.abort();
    await server.close();
  });
  beforeEach(() => {
    events = [];
    healthy = true;
    metricsBody = 'modelpilot_updater_cycles_total 3\n';
  });

  test('serves /healthz (200 healthy, 503 not) and /metrics from the callbacks', async () => {
    const ok = await send(port, 'GET', '/healthz');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ healthy: true, lastCycle: 'x' });
    healthy = false;
    expect((await send(port, 'GET', '/healthz')).status).toBe(503);
    const m = await send(port, 'GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toBe('text/plain; version=0.0.4');
    expect(m.body).toContain('modelpilot_updater_cycles_total 3');
  });

  test('gzip: /metrics and JSON answers are compressed when asked (Accept-Encoding), small ones and q=0 are not', async () => {
    const big = `${'modelpilot_updater_cycles_total 3\n'.repeat(200)}`;
    const raw = (headers: Record<string, string>) => new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/metrics', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    metricsBody = big;
    const zipped = await raw({ 'Accept-Encoding': 'br, gzip;q=0.8' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('Accept-Encoding');
    expect(gunzipSync(zipped.body).toString()).toBe(big);
    expect(zipped.body.length).toBeLessThan(big.length / 10);
    const plain = await raw({});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.toString()).toBe(big);
    expect((await raw({ 'Accept-Encoding': 'gzip;q=0' })).headers['content-encoding']).toBeUndefined();
    metricsBody = 'small 1\n';
    expect((await raw({ 'Accept-Encoding': 'gzip' })).headers['content-encoding']).toBeUndefined();
  });

  test('a registry push notification (bearer) emits its repository', async () => {
    const r = await send(port, 'POST', '/webhooks/registry', registryPush, { ...bearer, 'Content-Type': 'application/vnd.docker.distribution.events.v1+json' });
    expect(r.status).toBe(202);
    expect(events).toEqual([{ source: 'webhook:registry', repositories: ['models/recsys'] }]);
  });

  test('a registry pull notification is accepted but emits nothing', async () => {
    const pull = JSON.stringify({ events: [{ action: 'pull', target: { repository: 'models/recsys', tag: '1.0.0' } }] });
    const r = await send(port, 'POST', '/webhooks/registry', pull, bearer);
    expect(r.status).toBe(200);
    expect(events).toEqual([]);
  });

  test('the generic model event signed with HMAC emits the model', async () => {
    const body = JSON.stringify({ event: 'model.updated', model_name: 'recsys', version: '1.1.0' });
    const r = await send(port, 'POST', '/webhooks/model', body, sign(body));
    expect(r.status).toBe(202);
    expect(events).toEqual([{ source: 'webhook:model', models: ['recsys'] }]);
  });

  test('an MLflow (OSS) model_version.created with MLflow\'s own v1 signature emits the model', async () => {
    const body = JSON.stringify({ entity: 'model_version', action: 'created', timestamp: '2026-11-25T09:00:00Z', data: { name: 'fraud', version: '7' } });
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = createHmac('sha256', SECRET).update(`d-1.${ts}.${body}`).digest('base64');
    const r = await send(port, 'POST', '/webhooks/mlflow', body, { 'X-MLflow-Signature': `v1,${sig}`, 'X-MLflow-Delivery-Id': 'd-1', 'X-MLflow-Timestamp': ts });
    expect(r.status).toBe(202);
    expect(events).toEqual([{ source: 'webhook:mlflow', models: ['fraud'], mlflow: { registeredModel: 'fraud', version: '7' } }]);
  });

  test('an MLflow signature older than 5 minutes is refused as a replay', async () => {
    const body = JSON.stringify({ entity: 'model_version', action: 'created', data: { name: 'fraud', version: '7' } });
    const ts = String(Math.floor(Date.now() / 1000) - 3600);
    const sig = createHmac('sha256', SECRET).update(`d-1.${ts}.${body}`).digest('base64');
    const r = await send(port, 'POST', '/webhooks/mlflow', body, { 'X-MLflow-Signature': `v1,${sig}`, 'X-MLflow-Delivery-Id': 'd-1', 'X-MLflow-Timestamp': ts });
    expect(r.status).toBe(401);
    expect(r.body).toContain('possible replay');
    expect(events).toEqual([]);
  });

  test('a firing Alertmanager alert marked rollback emits a rollback of that model version', async () => {
    const body = amBody([
      alert('firing', { alertname: 'ModelErrorRateHigh', model: 'recsys', version: '1.2.0', modelpilot_action: 'rollback' }),
      alert('firing', { alertname: 'Unrelated', model: 'recsys', version: '1.2.0' }),
      alert('resolved', { alertname: 'ModelP99High', model: 'fraud', version: '3.0.0', modelpilot_action: 'rollback' }),
    ]);
    const r = await send(port, 'POST', '/webhooks/alertmanager', body, bearer);
    expect(r.status).toBe(202);
    expect(events).toEqual([{
      source: 'webhook:alertmanager', models: ['recsys'],
      rollback: { model: 'recsys', version: '1.2.0', reason: 'ModelErrorRateHigh firing: error ratio 0.2 > 0.05' },
    }]);
  });

  test('POST /v1/update (Watchtower) with the bearer token checks everything, or only ?image=', async () => {
    expect((await send(port, 'POST', '/v1/update', undefined, bearer)).status).toBe(202);
    expect((await send(port, 'POST', '/v1/update?image=models/recsys,127.0.0.1:5000/models/fraud:1.0.0', undefined, bearer)).status).toBe(202);
    expect(events).toEqual([
      { source: 'webhook:v1-update' },
      { source: 'webhook:v1-update', repositories: ['models/recsys', 'models/fraud'] },
    ]);
  });

  test.each([
    ['no credentials', '/webhooks/registry', registryPush, {}],
    ['a wrong bearer token', '/webhooks/registry', registryPush, { Authorization: 'Bearer not-the-token' }],
    ['an HMAC with the wrong secret', '/webhooks/model', '{"event":"model.updated","model_name":"m"}', sign('{"event":"model.updated","model_name":"m"}', 'wrong-secret-xxxxxxxx')],
    ['an HMAC of another body', '/webhooks/model', '{"event":"model.updated","model_name":"m"}', sign('{"event":"model.updated","model_name":"x"}')],
    ['a malformed signature header', '/webhooks/model', '{}', { 'X-Modelpilot-Signature': 'md5=abc' }],
    ['/v1/update with an HMAC instead of the bearer token', '/v1/update', '', sign('')],
  ])('refuses %s with 401 and emits nothing', async (_name, path, body, headers) => {
    const r = await send(port, 'POST', path, body, headers as Record<string, string>);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer');
    expect(events).toEqual([]);
  });

  test.each([
    ['malformed JSON', '/webhooks/registry', '{"events": [', 'body is not valid JSON'],
    ['an empty body', '/webhooks/model', '', 'empty body'],
    ['a model event without model_name', '/webhooks/model', '{"event":"model.updated"}', "field 'model_name' is undefined"],
    ['an unknown model event', '/webhooks/model', '{"event":"model.deleted","model_name":"m"}', "field 'event' is 'model.deleted'"],
    ['a registry body without events', '/webhooks/registry', '{"foo":1}', 'expected a notification envelope'],
    ['a rollback alert without labels', '/webhooks/alertmanager', amBody([alert('firing', { modelpilot_action: 'rollback' })]), "lacks the labels 'model' and 'version'"],
    ['a non-MLflow body', '/webhooks/mlflow', '{"hello":"world"}', 'not an MLflow webhook'],
  ])('refuses %s with 400 and emits nothing', async (_name, path, body, message) => {
    const r = await send(port, 'POST', path, body, bearer);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toContain(message);
    expect(events).toEqual([]);
  });

  test('refuses a declared body over the limit with 413 before reading it', async () => {
    const big = 'x'.repeat(1024 * 1024 + 1);
    const r = await send(port, 'POST', '/webhooks/registry', big, bearer);
    expect(r.status).toBe(413);
    expect(events).toEqual([]);
  });

  test('refuses a chunked body that grows over the limit with 413', async () => {
    const big = JSON.stringify({ events: [], pad: 'y'.repeat(2 * 1024 * 1024) });
    const r = await send(port, 'POST', '/webhooks/registry', big, bearer, true).catch((e: Error) => ({ status: -1, body: e.message, headers: {} }));
    // The server answers 413 and closes; depending on timing the client sees the 413 or a reset while still writing.
    expect([413, -1]).toContain(r.status);
    expect(events).toEqual([]);
    // and the server still serves afterwards
    expect((await send(port, 'GET', '/healthz')).status).toBe(200);
  });

  test('answers 405 with Allow for a wrong method and 404 for an unknown path', async () => {
    const r = await send(port, 'GET', '/webhooks/registry', undefined, bearer);
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST');
    expect((await send(port, 'POST', '/healthz')).status).toBe(405);
    expect((await send(port, 'POST', '/webhooks/nope', '{}', bearer)).status).toBe(404);
    expect(events).toEqual([]);
  });
});

/** Headers, then part of the body, then nothing: `answer` resolves with what the server said without the rest. */
function sendPartial(
  port: number, path: string, headers: Record<string, string>, declared: number, sent: number,
): { req: http.ClientRequest; answer: Promise<Sent> } {
  let req!: http.ClientRequest;
  const answer = new Promise<Sent>((resolve, reject) => {
    req = http.request({ host: '127.0.0.1', port, method: 'POST', path, headers: { ...headers, 'Content-Length': String(declared) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.write(Buffer.alloc(sent, 0x7b));
    req.flushHeaders();
  });
  return { req, answer };
}

describe('AgentHttpServer against hostile or careless senders', () => {
  const servers: AgentHttpServer[] = [];
  const abort = new AbortController();
  const start = async (extra: Partial<ConstructorParameters<typeof AgentHttpServer>[0]> = {}): Promise<{ port: number; events: TriggerEvent[] }> => {
    const events: TriggerEvent[] = [];
    const server = new AgentHttpServer({ port: 0, host: '127.0.0.1', auth: { bearerToken: TOKEN, hmacSecret: SECRET }, requestsPerSecond: 10_000, ...extra });
    servers.push(server);
    const port = await server.listen();
    await server.trigger().start((e) => events.push(e), abort.signal);
    return { port, events };
  };
  afterAll(async () => {
    abort.abort();
    await Promise.all(servers.map((s) => s.close()));
  });

  test('an unauthenticated sender is refused from its headers: 401 before its body is read', async () => {
    const { port, events } = await start();
    // 900 kB declared, 10 bytes sent, never the rest: the answer comes anyway, and the connection is closed
    const r = await sendPartial(port, '/webhooks/model', {}, 900_000, 10).answer;
    expect(r.status).toBe(401);
    expect(r.headers.connection).toBe('close');
    expect(JSON.parse(r.body).error).toBe("missing or wrong credentials: send 'Authorization: Bearer <token>' or 'X-Modelpilot-Signature: sha256=<hex>' with 'X-Modelpilot-Timestamp'");
    const wrongToken = await sendPartial(port, '/webhooks/registry', { Authorization: 'Bearer not-the-token-000000' }, 900_000, 10).answer;
    expect(wrongToken.status).toBe(401);
    expect(events).toEqual([]);
  });

  test.each<[string, (body: string) => Record<string, string>, string]>([
    ['no timestamp', (b) => ({ 'X-Modelpilot-Signature': sign(b)['X-Modelpilot-Signature'] }),
      "X-Modelpilot-Timestamp is missing; sign '<timestamp>.<raw body>' and send the timestamp (unix seconds) as X-Modelpilot-Timestamp"],
    ['a timestamp that is not unix seconds', (b) => ({ ...sign(b), 'X-Modelpilot-Timestamp': '2026-12-02T10:00:00Z' }),
      "X-Modelpilot-Timestamp is '2026-12-02T10:00:00Z', not unix seconds; sign '<timestamp>.<raw body>' and send the timestamp (unix seconds) as X-Modelpilot-Timestamp"],
    ['a timestamp an hour old, signed correctly', (b) => sign(b, SECRET, Math.floor(Date.now() / 1000) - 3600), 'is more than 300s from now; refusing a possible replay'],
    ['a timestamp an hour ahead', (b) => sign(b, SECRET, Math.floor(Date.now() / 1000) + 3600), 'is more than 300s from now'],
    ['the old scheme (HMAC of the body alone)', (b) => ({ ...sign(b), 'X-Modelpilot-Signature': `sha256=${createHmac('sha256', SECRET).update(b).digest('hex')}` }),
      "X-Modelpilot-Signature does not match; sign '<X-Modelpilot-Timestamp>.<exact raw body>' with HMAC-SHA256 as 'sha256=<hex>'"],
    ['a signature that is not hex', (b) => ({ ...sign(b), 'X-Modelpilot-Signature': 'sha256=zz' }), "X-Modelpilot-Signature is not 'sha256=<64 hex digits>'"],
  ])('a signed webhook with %s is refused (401) and changes nothing', async (_name, headers, message) => {
    const { port, events } = await start();
    const body = JSON.stringify({ event: 'model.updated', model_name: 'recsys' });
    const r = await send(port, 'POST', '/webhooks/model', body, headers(body));
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body).error).toContain(message);
    expect(events).toEqual([]);
  });

  test('a replayed signed delivery is refused (409): the first one acts, its copies do not', async () => {
    const { port, events } = await start();
    const body = amBody([alert('firing', { alertname: 'ModelErrorRateHigh', model: 'recsys', version: '1.1.0', modelpilot_action: 'rollback' })]);
    const headers = sign(body);
    const first = await send(port, 'POST', '/webhooks/alertmanager', body, headers);
    const again = await send(port, 'POST', '/webhooks/alertmanager', body, headers);
    const third = await send(port, 'POST', '/webhooks/alertmanager', body, headers);
    expect([first.status, again.status, third.status]).toEqual([202, 409, 409]);
    expect(JSON.parse(again.body).error).toBe('this signed delivery was already accepted; a replay changes nothing (sign a new delivery with the current time)');
    expect(events).toHaveLength(1);
    // the same MLflow delivery id twice: once
    const ml = JSON.stringify({ entity: 'model_version', action: 'created', data: { name: 'fraud', version: '7' } });
    const ts = String(Math.floor(Date.now() / 1000));
    const mlHeaders = { 'X-MLflow-Signature': `v1,${createHmac('sha256', SECRET).update(`d-9.${ts}.${ml}`).digest('base64')}`, 'X-MLflow-Delivery-Id': 'd-9', 'X-MLflow-Timestamp': ts };
    expect((await send(port, 'POST', '/webhooks/mlflow', ml, mlHeaders)).status).toBe(202);
    expect((await send(port, 'POST', '/webhooks/mlflow', ml, mlHeaders)).status).toBe(409);
    expect(events).toHaveLength(2);
  });

  test('a refused signed delivery (bad payload) is not remembered: the corrected one with a new signature is accepted', async () => {
    const { port, events } = await start();
    const bad = '{"event": "model.updated"';
    expect((await send(port, 'POST', '/webhooks/model', bad, sign(bad))).status).toBe(400);
    const good = JSON.stringify({ event: 'model.updated', model_name: 'recsys' });
    expect((await send(port, 'POST', '/webhooks/model', good, sign(good))).status).toBe(202);
    expect(events).toEqual([{ source: 'webhook:model', models: ['recsys'] }]);
  });

  test('a sender over its rate gets 429 with Retry-After; others are not affected', async () => {
    const { port, events } = await start({ requestsPerSecond: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await send(port, 'POST', '/webhooks/registry', registryPush, bearer)).status);
    // burst of 4 (twice the rate), then refused until tokens come back
    expect(statuses.slice(0, 4)).toEqual([202, 202, 202, 202]);
    expect(statuses.slice(4).filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    const r = await send(port, 'POST', '/webhooks/registry', registryPush, bearer);
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('1');
    expect(events.length).toBe(statuses.filter((s) => s === 202).length);
    // /healthz and /metrics are not rate-limited (Prometheus and the kubelet probe them)
    expect((await send(port, 'GET', '/healthz')).status).toBe(200);
  });

  test('bodies in flight share a budget: past it, a request gets 503 and is not read further', async () => {
    const { port, events } = await start({ maxBodyBytes: 600, maxBufferedBytes: 600 });
    const body = JSON.stringify({ event: 'model.updated', model_name: 'recsys', pad: 'x'.repeat(480) }); // ~540 bytes, under the 600 limit
    // one slow signed sender holds 400 bytes of the budget
    const slow = sendPartial(port, '/webhooks/model', sign(body), body.length, 400);
    await new Promise((r) => setTimeout(r, 100));
    const second = await sendPartial(port, '/webhooks/model', sign(`${body} `), body.length + 1, 400).answer;
    expect(second.status).toBe(503);
    expect(JSON.parse(second.body).error).toBe('too many webhook bodies in flight; retry shortly');
    slow.req.destroy();
    slow.answer.catch(() => undefined);
    expect(events).toEqual([]);
  });

  test('a webhook for a model no workload runs gets 404 and changes nothing; a known model is accepted', async () => {
    const known = new Set(['recsys']);
    const { port, events } = await start({ knownModel: (m) => known.has(m) });
    const unknown = JSON.stringify({ event: 'model.updated', model_name: 'recsy' });
    const r = await send(port, 'POST', '/webhooks/model', unknown, bearer);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error).toBe("no workload this agent manages runs model 'recsy'; check the model name (nothing was changed)");
    const am = amBody([alert('firing', { alertname: 'ModelErrorRateHigh', model: 'fraud', version: '2.0.0', modelpilot_action: 'rollback' })]);
    expect((await send(port, 'POST', '/webhooks/alertmanager', am, bearer)).status).toBe(404);
    expect(events).toEqual([]);
    const ok = JSON.stringify({ event: 'model.updated', model_name: 'recsys' });
    expect((await send(port, 'POST', '/webhooks/model', ok, bearer)).status).toBe(202);
    // a registry push names repositories, not models: a push the agent does not watch is still a 2xx (registries retry on errors)
    expect((await send(port, 'POST', '/webhooks/registry', registryPush.replace('models/recsys', 'models/other'), bearer)).status).toBe(202);
    expect(events).toHaveLength(2);
  });

  test('refuses a body limit above 16MiB, naming the key', () => {
    expect(() => new AgentHttpServer({ auth: { bearerToken: TOKEN }, maxBodyBytes: 10_000_000_000 }))
      .toThrow("'webhooks.bodyLimit' value 10000000000 is out of range; give 1 byte to 16MiB (webhook payloads are a few KiB)");
  });
});

describe('AgentHttpServer before the trigger is started', () => {
  test('answers 503 and emits nothing', async () => {
    const server = new AgentHttpServer({ port: 0, host: '127.0.0.1', auth: { bearerToken: TOKEN } });
    const port = await server.listen();
    try {
      const r = await send(port, 'POST', '/v1/update', undefined, bearer);
      expect(r.status).toBe(503);
    } finally {
      await server.close();
    }
  });
});

describe('AgentHttpServer with webhooks off (the one status server)', () => {
  test('serves /healthz (GET and HEAD) and /metrics; every webhook path is 404 and names why', async () => {
    const server = new AgentHttpServer({
      port: 0, host: '127.0.0.1', healthz: () => ({ healthy: true, detail: { lastBeat: 1 } }),
      metrics: async () => ({ contentType: 'text/plain', body: 'up 1\n' }),
    });
    const port = await server.listen();
    try {
      expect((await send(port, 'GET', '/healthz')).status).toBe(200);
      expect((await send(port, 'HEAD', '/healthz')).status).toBe(200);
      expect((await send(port, 'GET', '/metrics')).status).toBe(200);
      const r = await send(port, 'POST', '/webhooks/registry', '{}', bearer);
      expect([r.status, JSON.parse(r.body)]).toEqual([404, { error: 'no route POST /webhooks/registry; webhooks are disabled' }]);
    } finally {
      await server.close();
    }
  });

  test('throws if the port is taken, naming the config key', async () => {
    const first = new AgentHttpServer({ port: 0, host: '127.0.0.1' });
    const port = await first.listen();
    try {
      await expect(new AgentHttpServer({ port, host: '127.0.0.1' }).listen()).rejects.toThrow(/choose a free 'webhooks.listen'$/);
    } finally {
      await first.close();
    }
  });
});

describe('webhook parsers', () => {
  test('throws if no webhook authentication is configured', () => {
    expect(() => validateWebhookAuth({})).toThrow("webhooks have no authentication: set 'webhooks.bearerTokenFile' and/or 'webhooks.hmacSecretFile'");
    expect(() => validateWebhookAuth({ bearerToken: 'short' })).toThrow("the secret in 'webhooks.bearerTokenFile' is 5 characters long; use at least 16 random characters");
  });

  test('a registry envelope with several tagged pushes emits each repository once; untagged pushes are ignored', () => {
    const r = parseRegistryNotification({
      events: [
        { action: 'push', target: { repository: 'a', tag: '1.0.0' } },
        { action: 'push', target: { repository: 'a', tag: '1.0.1' } },
        { action: 'push', target: { repository: 'b', digest: 'sha256:x' } },
        { action: 'push', target: { repository: 'c', tag: '2.0.0' } },
      ],
    });
    expect(r.events).toEqual([{ source: 'webhook:registry', repositories: ['a', 'c'] }]);
  });

  test.each([
    [{ event: 'MODEL_VERSION_CREATED', model_name: 'churn', version: '3' }, ['churn']],
    [{ event: 'MODEL_VERSION_TAG_SET', model_name: 'churn', version: '3', tags: [{ key: 'k', value: 'v' }] }, ['churn']],
    [{ entity: 'model_version_alias', action: 'created', data: { name: 'churn', alias: 'champion', version: '3' } }, ['churn']],
    [{ entity: 'model_version_tag', action: 'set', data: { name: 'churn', version: '3', key: 'k', value: 'v' } }, ['churn']],
    [{ entity: 'registered_model', action: 'created', data: { name: 'churn' } }, []],
    [{ event: 'COMMENT_CREATED', model_name: 'churn' }, []],
  ])('MLflow %j emits models %j', (body, models) => {
    const r = parseMlflowEvent(body);
    expect(r.events.flatMap((e) => e.models ?? [])).toEqual(models);
  });

  test.each<[unknown, unknown]>([
    [{ event: 'MODEL_VERSION_CREATED', model_name: 'churn', version: 3 }, { registeredModel: 'churn', version: '3' }],
    [{ entity: 'model_version_alias', action: 'created', data: { name: 'churn', alias: 'champion', version: '4' } },
      { registeredModel: 'churn', version: '4', alias: 'champion' }],
    [{ entity: 'model_version', action: 'created', data: { name: 'churn' } }, { registeredModel: 'churn' }],
  ])('MLflow %j names the version (and alias) it is about', (body, mlflow) => {
    expect(parseMlflowEvent(body).events).toEqual([expect.objectContaining({ mlflow })]);
  });

  test.each<[unknown, string]>([
    [{ entity: 'model_version', action: 'created', data: { name: 'churn', version: 'v3' } }, "field 'version' is \"v3\"; MLflow model versions are whole numbers such as '3'"],
    [{ entity: 'model_version_alias', action: 'created', data: { name: 'churn', version: '3' } }, "'alias'"],
  ])('throws if an MLflow event is malformed: %j', (body, message) => {
    expect(() => parseMlflowEvent(body)).toThrow(message);
  });

  test('throws if the Alertmanager webhook version is not 4', () => {
    expect(() => parseAlertmanager({ version: '3', alerts: [] })).toThrow("field 'version' is \"3\"; only Alertmanager webhook version '4' is understood");
  });
});
