/**
 * The operator API on the agent's HTTP server: holds, pins and quarantines over HTTP, bearer token only, written to
 * the same stores the loop re-reads each cycle (test/agent/overrides.test.ts) and to the audit log.
 */
import { createHmac } from 'node:crypto';
import * as path from 'node:path';
import { systemClock } from '../../agent/clock';
import { AgentHttpServer } from '../../agent/http';
import { OperatorApi } from '../../agent/operator-api';
import { AuditLog } from '../../agent/state/audit';
import { OverrideStore } from '../../agent/state/overrides';
import { QuarantineStore } from '../../agent/state/quarantine';
import { tmpDir } from './fakes';

const TOKEN = 'operator-token-0123456789abcdef';
const SECRET = 'operator-hmac-0123456789abcdef';
let server: AgentHttpServer;
let base: string;
let dir: string;

beforeAll(async () => {
  dir = tmpDir();
  const api = new OperatorApi(new OverrideStore(dir), new QuarantineStore(dir), new AuditLog(path.join(dir, 'audit.jsonl')), systemClock);
  server = new AgentHttpServer({
    port: 0, host: '127.0.0.1', auth: { bearerToken: TOKEN, hmacSecret: SECRET }, requestsPerSecond: 1000,
    operator: (m, p, q, b) => api.handle(m, p, q, b),
  });
  base = `http://127.0.0.1:${await server.listen()}`;
});
afterAll(async () => server.close());

const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }) => {
  const r = await fetch(`${base}${p}`, { method, headers: { 'Content-Type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json() as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers
};

test('hold, pin and quarantine over HTTP land in the stores the loop reads, and in the audit log; DELETE releases', async () => {
  expect(await call('POST', '/v1/hold', { model: 'recsys', until: '2099-01-01T00:00:00Z', reason: 'incident' })).toMatchObject({ status: 201, body: { hold: { model: 'recsys', until: '2099-01-01T00:00:00.000Z', source: 'api' } } });
  expect(await call('POST', '/v1/pin', { model: 'fraud', version: '2.1.0' })).toMatchObject({ status: 201 });
  expect(await call('POST', '/v1/quarantine', { model: 'recsys', version: '1.4.0', reason: 'CVE' })).toMatchObject({ status: 201 });
  expect(await call('POST', '/v1/quarantine', { model: 'recsys', version: '1.4.0', reason: 'CVE' })).toMatchObject({ status: 409 });
  expect(new OverrideStore(dir).holdOf('recsys', new Date())?.reason).toBe('incident');
  expect(new OverrideStore(dir).pinOf('fraud')?.version).toBe('2.1.0');
  expect(new QuarantineStore(dir).isQuarantined('recsys', '1.4.0')).toBe(true);
  const listed = await call('GET', '/v1/overrides');
  expect(listed.body.holds).toHaveLength(1);
  expect(listed.body.pins).toHaveLength(1);
  expect(listed.body.quarantined).toHaveLength(1);
  expect(await call('DELETE', '/v1/hold?model=recsys')).toMatchObject({ status: 200 });
  expect(await call('DELETE', '/v1/pin?model=fraud')).toMatchObject({ status: 200 });
  expect(await call('DELETE', '/v1/quarantine?model=recsys&version=1.4.0')).toMatchObject({ status: 200 });
  expect(await call('DELETE', '/v1/hold?model=recsys')).toMatchObject({ status: 404 });
  expect(new AuditLog(path.join(dir, 'audit.jsonl')).read().map((e) => `${e.event} ${e.model} ${e.result}`)).toEqual([
    'hold recsys api', 'pinned fraud api', 'quarantined recsys api', 'released recsys ok', 'released fraud ok', 'released recsys ok',
  ]);
});

test('bearer token only: none, a wrong one, or an HMAC signature get 401 and change nothing', async () => {
  const body = JSON.stringify({ model: 'churn' });
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`;
  const attempts: Array<Record<string, string>> = [{}, { Authorization: 'Bearer nope' }, { 'X-Modelpilot-Timestamp': ts, 'X-Modelpilot-Signature': sig }];
  for (const headers of attempts) {
    const r = await call('POST', '/v1/hold', { model: 'churn' }, headers);
    expect(r.status).toBe(401);
    expect(r.body.error).toContain('the operator API takes the bearer token only');
  }
  expect(new OverrideStore(dir).holdOf('churn', new Date())).toBeUndefined();
});

test.each([
  ['a bad model', '/v1/hold', { model: 'Rec Sys' }, "field 'model' value \"Rec Sys\" is not a model name"],
  ['an until in the past', '/v1/hold', { model: 'recsys', until: '2020-01-01T00:00:00Z' }, "field 'until' value '2020-01-01T00:00:00Z' is in the past"],
  ['an until that is no time', '/v1/hold', { model: 'recsys', until: 'tomorrow' }, "field 'until' value \"tomorrow\" is not an ISO time"],
  ['a pin to latest', '/v1/pin', { model: 'recsys', version: 'latest' }, "field 'version' value 'latest' is not a version the agent applies"],
  ['a pin to a digest key', '/v1/pin', { model: 'recsys', version: `latest@sha256:${'a'.repeat(64)}` }, 'is not a semantic version tag; a pin names one'],
  ['a quarantine of a partial version', '/v1/quarantine', { model: 'recsys', version: '1.3', reason: 'bad' },
    "field 'version' value '1.3' is a partial version; the agent reads only full semantic versions: give '1.3.0'"],
  ['a quarantine with a trailing space', '/v1/quarantine', { model: 'recsys', version: '1.3.0 ', reason: 'bad' }, 'has leading or trailing spaces'],
  ['a quarantine without reason', '/v1/quarantine', { model: 'recsys', version: '1.0.0' }, "field 'reason' is missing"],
])('400 for %s', async (_n, p, body, message) => {
  const r = await call('POST', p, body);
  expect(r.status).toBe(400);
  expect(r.body.error).toContain(message);
});
