/**
 * The SLO check's queries and verdicts, against a tiny in-test HTTP server that answers like Prometheus's HTTP API
 * (`GET /api/v1/query`). The same check against a real Prometheus is in health-prometheus.integration.test.ts.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { PrometheusSloCheck, PrometheusSloCheckOptions, versionLabel } from '../../agent/health/prometheus';
import { UpdatePlan } from '../../agent/types';
import { Duration } from '../../lib/core/duration';
import { Slo } from '../../lib/core/slo';
import { UpdatePolicy } from '../../lib/core/update-policy';
import { FakeClock } from './fakes';

interface Answer {
  /** Requests served (the counter's value). */
  n?: number | null;
  /** 5xx among them. */
  k?: number | null;
  p99?: number | null;
  /** Unix seconds of the newest scrape (`max(timestamp(...))`). */
  scrapedAt?: number | null;
  status?: number;
}

/** Answers each query by its shape: p99, served errors or served requests. `null` = empty vector; a number may be NaN. */
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
    const v = q.startsWith('max(timestamp(') ? a.scrapedAt : q.startsWith('histogram_quantile') ? a.p99 : q.includes('code=~"5.."') ? a.k : a.n;
    const result = v === null || v === undefined ? [] : [{ metric: {}, value: [1700000000, String(v)] }];
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
  { id: 'docker/recsys', name: 'recsys', model: 'recsys', image: 'r/m:1.0.0', policy: UpdatePolicy.semver('minor'), metricScope: ['instance=~".+:8080"'] },
  'r/m:1.0.0', 'r/m:1.1.0@sha256:' + 'a'.repeat(64), '1.0.0', '1.1.0', 'poll',
);
const slo = new Slo({ window: Duration.minutes(1), maxErrorRatio: 0.05, maxP99Latency: Duration.millis(500), minRequestRate: 1 });

function check(url: string, clock: FakeClock, bakeWindowMs = 0, more: Partial<PrometheusSloCheckOptions> = {}): PrometheusSloCheck {
  return new PrometheusSloCheck({ url, sloFor: () => slo, bakeWindowMs, queryIntervalMs: 1000, clock, timeoutMs: 2000, ...more });
}

describe('PrometheusSloCheck', () => {
  let prom: Awaited<ReturnType<typeof fakePrometheus>> | undefined;
  afterEach(async () => {
    await prom?.close();
    prom = undefined;
  });

  test('asks what the new version served, scoped to the workload, with the PromQL the Slo renders', async () => {
    prom = await fakePrometheus(() => ({ n: 500, k: 0, p99: 0.1 }));
    await check(prom.url, new FakeClock()).check(plan);
    const sel = { model: 'recsys', version: '1.1.0', matchers: ['instance=~".+:8080"'] };
    expect(prom.queries.sort()).toEqual([slo.metricServedRequests(sel), slo.metricServedErrors(sel), slo.metricServedP99(sel)].sort());
    expect(prom.queries.every((q) => q.includes('model="recsys",version="1.1.0",instance=~".+:8080"'))).toBe(true);
    // counters' own values: no range window that could reach back before the version served
    expect(prom.queries.some((q) => /\[\d+[smh]\]/.test(q))).toBe(false);
  });

  test('without scopeToWorkload the queries match model and version only', async () => {
    prom = await fakePrometheus(() => ({ n: 500, k: 0, p99: 0.1 }));
    await check(prom.url, new FakeClock(), 0, { scopeToWorkload: false }).check(plan);
    expect(prom.queries.some((q) => q.includes('instance'))).toBe(false);
  });

  test.each<[string, string, Answer, RegExp]>([
    ['meets the SLO', 'Healthy', { n: 1000, k: 10, p99: 0.2 }, /^10 error\(s\) in 1000 request\(s\) \(ratio 0\.01, 95% Wilson \[0\.00\d+, 0\.01\d+\]\) <= 0\.05, p99 0\.2s <= 0\.5s/],
    ['errors far above the ceiling', 'Unhealthy', { n: 100, k: 50, p99: 0.2 }, /^error ratio above 0\.05: 50 error\(s\) in 100 request\(s\)/],
    ['p99 above the ceiling', 'Unhealthy', { n: 100, k: 0, p99: 0.9 }, /^p99 latency 0\.9s > 0\.5s over 100 request\(s\)/],
    ['no requests', 'Inconclusive', { n: 0, k: 0, p99: NaN }, /^no traffic to judge: 0 request\(s\) in 1s served/],
    ['no series at all', 'Inconclusive', { n: null, k: null, p99: null }, /^no traffic to judge: 0 request\(s\)/],
    ['traffic without latency data', 'Inconclusive', { n: 500, k: 0, p99: NaN }, /^no latency data for recsys 1\.1\.0 \{instance=~".\+:8080"\}/],
    ['Prometheus answering an error', 'Inconclusive', { status: 503 }, /^prometheus unreachable: HTTP 503: query timed out$/],
  ])('%s → %s', async (_name, status, answer, reason) => {
    prom = await fakePrometheus(() => answer);
    const r = await check(prom.url, new FakeClock()).check(plan);
    expect(r.status).toBe(status);
    expect(r.reason).toMatch(reason);
  });

  // Borderline versions against a 5 % ceiling: decided only when the confidence bound lies on one side of it.
  test.each<[string, string, number, number]>([
    ['3 % errors, 100 requests: the bound straddles 5 %', 'Inconclusive', 100, 3],
    ['3 % errors, 1000 requests: upper bound below 5 %', 'Healthy', 1000, 30],
    ['7 % errors, 100 requests: lower bound below 5 %, not called broken', 'Inconclusive', 100, 7],
    ['7 % errors, 1000 requests: lower bound above 5 %', 'Unhealthy', 1000, 70],
    ['0 errors in 40 requests: too few to call healthy', 'Inconclusive', 40, 0],
    ['0 errors in 100 requests', 'Healthy', 100, 0],
  ])('%s → %s', async (_name, status, n, k) => {
    prom = await fakePrometheus(() => ({ n, k, p99: 0.1 }));
    const r = await check(prom.url, new FakeClock()).check(plan);
    expect(r.status).toBe(status);
    const { lower, upper, ceiling } = r.evidence as Record<string, number>;
    expect(r.evidence).toMatchObject({ requests: n, errors: k, ceiling: 0.05 });
    expect(lower).toBeLessThanOrEqual(k / n);
    expect(upper).toBeGreaterThanOrEqual(k / n);
    // the verdict is the side of the ceiling the whole interval lies on
    const side = upper <= ceiling ? 'Healthy' : lower > ceiling ? 'Unhealthy' : 'Inconclusive';
    expect(side).toBe(status);
  });

  test('a higher confidence needs more evidence', async () => {
    prom = await fakePrometheus(() => ({ n: 1000, k: 30, p99: 0.1 }));
    expect((await check(prom.url, new FakeClock(), 0, { confidence: 0.999 }).check(plan)).status).toBe('Inconclusive');
  });

  test('the traffic floor reads the rate over the time served, not a window reaching back before it', async () => {
    // 30 req/s from the moment the version served, a 25 s bake: n grows 30 per second of the fake clock
    const clock = new FakeClock();
    const t0 = clock.now().getTime();
    prom = await fakePrometheus(() => ({ n: Math.round(((clock.now().getTime() - t0) / 1000) * 30), k: 0, p99: 0.1 }));
    const floor = new Slo({ window: Duration.minutes(1), maxErrorRatio: 0.05, maxP99Latency: Duration.millis(500), minRequestRate: 15 });
    const r = await check(prom.url, clock, 25_000, { sloFor: () => floor }).check(plan);
    expect(r.status).toBe('Healthy');
    expect(r.evidence?.requestRate).toBeCloseTo(30, 0);
    expect(r.reason).toMatch(/at 30 req\/s over 25s served/);
  });

  test('samples through the whole bake window; Healthy only at its end', async () => {
    prom = await fakePrometheus(() => ({ n: 1000, k: 0, p99: 0.1 }));
    const clock = new FakeClock();
    const r = await check(prom.url, clock, 3000).check(plan);
    expect(r.status).toBe('Healthy');
    expect(clock.sleeps).toEqual([1000, 1000, 1000]);
    expect(prom.queries).toHaveLength(4 * 3);
  });

  test('stops at the first sample that proves the SLO broken', async () => {
    prom = await fakePrometheus(() => ({ n: 200, k: 60, p99: 0.1 }));
    const clock = new FakeClock();
    expect((await check(prom.url, clock, 60_000).check(plan)).status).toBe('Unhealthy');
    expect(clock.sleeps).toEqual([]);
  });

  test('an abort during the bake window is Inconclusive', async () => {
    prom = await fakePrometheus(() => ({ n: 1000, k: 0, p99: 0.1 }));
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

describe('stop-then-start: the version is judged by what it served once ready', () => {
  let prom: Awaited<ReturnType<typeof fakePrometheus>> | undefined;
  afterEach(async () => {
    await prom?.close();
    prom = undefined;
  });
  const stopThenStart = new UpdatePlan({ ...plan.workload, servesBeforeReady: true }, plan.from, plan.to, plan.fromVersion, plan.toVersion,
    plan.trigger);

  /** Answers as Prometheus would: no scrape since readiness for the first query, then the baseline, then later samples. */
  async function sequence(clock: FakeClock, answers: Answer[]): Promise<void> {
    let i = 0;
    prom = await fakePrometheus(() => answers[Math.min(i, answers.length - 1)]);
    const ready = clock.now().getTime() / 1000;
    const orig = clock.sleep.bind(clock);
    clock.sleep = async (ms, signal) => {
      i++;
      await orig(ms, signal);
    };
    answers.forEach((a, j) => { if (a.scrapedAt === undefined) a.scrapedAt = ready - 1 + j; });
  }

  test.each<[string, Answer[], string, RegExp]>([
    ['a healthy 3 s-load model: its 503s while loading are the outage, not its errors', [
      { n: 300, k: 300, p99: 0.01 }, // scraped before readiness: not a baseline
      { n: 500, k: 500, p99: 0.01 }, // the first scrape after readiness: 500 loading 503s
      { n: 1500, k: 503, p99: 0.01 },
      { n: 2500, k: 505, p99: 0.01 },
    ], 'Healthy', /^5 error\(s\) in 2000 request\(s\).*judged after readiness: 500 error\(s\) in 500 request\(s\) answered while it loaded are the switch's outage$/],
    ['a 10 %-errors version is still rolled back', [
      { n: 300, k: 300, p99: 0.01 },
      { n: 500, k: 500, p99: 0.01 },
      { n: 1500, k: 600, p99: 0.01 },
      { n: 2500, k: 700, p99: 0.01 },
    ], 'Unhealthy', /^error ratio above 0\.05: 100 error\(s\) in 1000 request\(s\)/],
  ])('%s', async (_name, answers, status, reason) => {
    const clock = new FakeClock();
    await sequence(clock, answers);
    const outage: Array<{ requests: number; errors: number }> = [];
    const r = await check(prom!.url, clock, 3000, { onOutage: (o) => outage.push(o) }).check(stopThenStart);
    expect({ status: r.status, reason: r.reason }).toEqual({ status, reason: expect.stringMatching(reason) });
    expect(outage).toEqual([{ requests: 500, errors: 500 }]);
    expect(r.evidence).toMatchObject({ outageRequests: 500, outageErrors: 500 });
  });

  test('without the flag (blue/green, Kubernetes) no baseline is taken and everything counts', async () => {
    const clock = new FakeClock();
    await sequence(clock, [{ n: 500, k: 500, p99: 0.01 }]);
    const r = await check(prom!.url, clock).check(plan);
    expect(r.status).toBe('Unhealthy');
    expect(prom!.queries.some((q) => q.startsWith('max(timestamp('))).toBe(false);
  });
});
