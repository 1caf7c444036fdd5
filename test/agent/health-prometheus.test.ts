/**
 * The SLO check's queries and verdicts, against a tiny in-test HTTP server that answers like Prometheus's HTTP API
 * (`GET /api/v1/query`). The same check against a real Prometheus is in health-prometheus.integration.test.ts.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { PrometheusSloCheck, versionLabel } from '../../agent/health/prometheus';
import { UpdatePlan } from '../../agent/types';
import { Duration } from '../../lib/core/duration';
import { Slo } from '../../lib/core/slo';
import { UpdatePolicy } from '../../lib/core/update-policy';
import { FakeClock } from './fakes';

interface Answer {
  rate?: number | null;
  errors?: number | null;
  p99?: number | null;
  status?: number;
}

/** Answers each query by its shape: request rate, error ratio or p99. `null` = empty vector; a number may be NaN. */
async function fakePrometheus(answers: () => Answer): Promise<{ url: string; queries: string[]; close(): Promise<void> }> {
  const queries: string[] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const q = u.searchParams.get('query') ?? '';
    queries.push(q);
    const a = answers();
    if (u.pathname !== '/api/v1/query') {
      res.writeHead(404).end('not found');
      return;
    }
    if (a.status && a.status !== 200) {
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'error', errorType: 'execution', error: 'query timed out' }));
      return;
    }
    const v = q.startsWith('histogram_quantile') ? a.p99 : q.startsWith('(') ? a.errors : a.rate;
    const result = v === null || v === undefined ? [] : [{ metric: { model: 'recsys', version: '1.1.0' }, value: [1700000000, String(v)] }];
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    queries,
    close: () => new Promise((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

const plan = new UpdatePlan(
  { id: 'docker/recsys', name: 'recsys', model: 'recsys', image: 'r/m:1.0.0', policy: UpdatePolicy.semver('minor') },
  'r/m:1.0.0', 'r/m:1.1.0@sha256:' + 'a'.repeat(64), '1.0.0', '1.1.0', 'poll',
);
const slo = new Slo({ window: Duration.minutes(1), maxErrorRatio: 0.05, maxP99Latency: Duration.millis(500), minRequestRate: 1 });

function check(url: string, clock: FakeClock, bakeWindowMs = 0): PrometheusSloCheck {
  return new PrometheusSloCheck({ url, sloFor: () => slo, bakeWindowMs, queryIntervalMs: 1000, clock, timeoutMs: 2000 });
}

describe('PrometheusSloCheck', () => {
  let prom: Awaited<ReturnType<typeof fakePrometheus>> | undefined;
  afterEach(async () => {
    await prom?.close();
    prom = undefined;
  });

  test('asks for the new version with the PromQL the Slo renders', async () => {
    prom = await fakePrometheus(() => ({ rate: 5, errors: 0, p99: 0.1 }));
    await check(prom.url, new FakeClock()).check(plan);
    expect(prom.queries.sort()).toEqual([
      slo.metricErrorRatio({ model: 'recsys', version: '1.1.0' }),
      slo.metricRequestRate({ model: 'recsys', version: '1.1.0' }),
      slo.metricP99Latency({ model: 'recsys', version: '1.1.0' }),
    ].sort());
    expect(prom.queries.every((q) => q.includes('model="recsys",version="1.1.0"'))).toBe(true);
  });

  test.each<[string, string, Answer, string]>([
    ['meets the SLO', 'Healthy', { rate: 5, errors: 0.01, p99: 0.2 }, 'error ratio 0.01 <= 0.05, p99 0.2s <= 0.5s at 5 req/s over 1m'],
    ['errors above the ceiling', 'Unhealthy', { rate: 5, errors: 0.5, p99: 0.2 }, 'error ratio 0.5 > 0.05 over 1m'],
    ['p99 above the ceiling', 'Unhealthy', { rate: 5, errors: 0, p99: 0.9 }, 'p99 latency 0.9s > 0.5s over 1m'],
    ['too little traffic', 'Inconclusive', { rate: 0.2, errors: 0, p99: 0.1 }, 'no traffic to judge: request rate 0.2/s < 1/s over 1m for recsys 1.1.0'],
    ['no series at all', 'Inconclusive', { rate: null, errors: null, p99: null }, 'no traffic to judge: request rate NaN/s < 1/s over 1m for recsys 1.1.0'],
    ['traffic without latency data', 'Inconclusive', { rate: 5, errors: 0, p99: NaN }, 'no latency data over 1m for recsys 1.1.0'],
    ['Prometheus answering an error', 'Inconclusive', { status: 503 }, 'prometheus unreachable: HTTP 503: query timed out'],
  ])('%s → %s', async (_name, status, answer, reason) => {
    prom = await fakePrometheus(() => answer);
    expect(await check(prom.url, new FakeClock()).check(plan)).toEqual({ status, reason });
  });

  test('Prometheus unreachable is Inconclusive, not a crash', async () => {
    const r = await check('http://127.0.0.1:1', new FakeClock()).check(plan);
    expect(r.status).toBe('Inconclusive');
    expect(r.reason).toMatch(/^prometheus unreachable: /);
  });

  test('samples through the whole bake window and judges on the last sample', async () => {
    let n = 0;
    prom = await fakePrometheus(() => (++n <= 3 * 2 ? { rate: 0, errors: null, p99: null } : { rate: 5, errors: 0, p99: 0.1 }));
    const clock = new FakeClock();
    const r = await check(prom.url, clock, 3000).check(plan);
    expect(r.status).toBe('Healthy');
    expect(clock.sleeps).toEqual([1000, 1000, 1000]);
    expect(prom.queries).toHaveLength(4 * 3);
  });

  test('stops at the first sample that breaks the SLO', async () => {
    prom = await fakePrometheus(() => ({ rate: 5, errors: 0.3, p99: 0.1 }));
    const clock = new FakeClock();
    expect((await check(prom.url, clock, 60_000).check(plan)).status).toBe('Unhealthy');
    expect(clock.sleeps).toEqual([]);
  });

  test('an abort during the bake window is Inconclusive', async () => {
    prom = await fakePrometheus(() => ({ rate: 5, errors: 0, p99: 0.1 }));
    const ctl = new AbortController();
    const clock = new FakeClock();
    const sleep = clock.sleep.bind(clock);
    clock.sleep = async (ms, signal) => {
      ctl.abort();
      return sleep(ms, signal);
    };
    expect(await check(prom.url, clock, 60_000).check(plan, ctl.signal)).toEqual({ status: 'Inconclusive', reason: 'bake window interrupted after 1 sample(s)' });
  });

  test('the version label drops a digest suffix (digest policy)', () => {
    expect(versionLabel('1.0.0@sha256:abc')).toBe('1.0.0');
  });
});
