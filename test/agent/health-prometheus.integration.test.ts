/**
 * The SLO check against a REAL Prometheus (Debian's `prometheus`) scraping an in-test exporter on 127.0.0.1 that
 * exports the model-server metric contract for: 1.1.0 healthy, 1.2.0 with 50 % errors, 1.3.0 idle, the borderline
 * 1.4.0 (3 % errors) and 1.5.0 (7 % errors) against a 5 % ceiling, and 1.6.0 served by two workloads (`env` label)
 * of which only one is broken — the gate must judge the workload it is asked about.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { Counter, Histogram, Registry } from 'prom-client';
import { systemClock } from '../../agent/clock';
import { PrometheusSloCheck } from '../../agent/health/prometheus';
import { UpdatePlan } from '../../agent/types';
import { Duration } from '../../lib/core/duration';
import { Slo } from '../../lib/core/slo';
import { UpdatePolicy } from '../../lib/core/update-policy';
import { startPrometheus, TestPrometheus } from '../support/prometheus';
import { waitFor } from '../support/tools';

jest.setTimeout(120_000);

const slo = new Slo({ window: Duration.minutes(1), maxErrorRatio: 0.05, maxP99Latency: Duration.millis(500), minRequestRate: 1 });
const planFor = (version: string, metricScope?: string[]): UpdatePlan => new UpdatePlan(
  { id: 'docker/recsys', name: 'recsys', model: 'recsys', image: 'r/m:1.0.0', policy: UpdatePolicy.semver('minor'), ...(metricScope ? { metricScope } : {}) },
  'r/m:1.0.0', `r/m:${version}`, '1.0.0', version, 'poll',
);

let prom: TestPrometheus;
let exporter: http.Server;
let traffic: NodeJS.Timeout;

beforeAll(async () => {
  const registry = new Registry();
  const requests = new Counter({ name: 'model_request_total', help: 'requests', labelNames: ['model', 'version', 'code', 'env'], registers: [registry] });
  const latency = new Histogram({ name: 'model_inference_seconds', help: 'latency', labelNames: ['model', 'version', 'env'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] });
  const serve = (version: string, error: boolean, env = 'prod'): void => {
    requests.inc({ model: 'recsys', version, code: error ? '500' : '200', env });
    latency.observe({ model: 'recsys', version, env }, 0.02);
  };
  // Generated in-process, bounded (stopped in afterAll): 20 req/s for 1.1.0/1.2.0/1.6.0, 200 req/s for the
  // borderline versions, whose errors are exactly 3 or 7 in every 100 requests.
  let tick = 0;
  traffic = setInterval(() => {
    for (let i = 0; i < 2; i++) {
      serve('1.1.0', false);
      serve('1.2.0', i === 0);
      serve('1.6.0', false, 'prod');
      serve('1.6.0', i === 0, 'staging');
    }
    for (let i = 0; i < 20; i++, tick++) {
      serve('1.4.0', tick % 100 < 3);
      serve('1.5.0', tick % 100 < 7);
    }
  }, 100);
  requests.inc({ model: 'recsys', version: '1.3.0', code: '200', env: 'prod' }, 0);
  exporter = http.createServer((_req, res) => {
    registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body), () => res.writeHead(500).end());
  });
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
  const port = (exporter.address() as AddressInfo).port;
  prom = await startPrometheus({ scrapeInterval: '1s', scrapeConfigs: [{ job_name: 'model', static_configs: [{ targets: [`127.0.0.1:${port}`] }] }] });
  // rate() needs two samples of the new series
  await waitFor(async () => (await prom.query(slo.metricRequestRate({ model: 'recsys', version: '1.1.0' }))).length > 0, { timeoutMs: 60_000, what: 'prometheus to have two scrapes' });
  // enough evidence for the borderline versions: at least 2000 requests of each scraped
  await waitFor(async () => Number((await prom.query(slo.metricServedRequests({ model: 'recsys', version: '1.5.0' })))[0]?.value[1] ?? 0) >= 2000,
    { timeoutMs: 60_000, what: 'prometheus to hold 2000 requests of 1.5.0' });
});

afterAll(async () => {
  clearInterval(traffic);
  await prom?.stop();
  await new Promise<void>((r) => (exporter ? exporter.close(() => r()) : r()));
});

const check = (): PrometheusSloCheck => new PrometheusSloCheck({
  url: prom.url, sloFor: () => slo, bakeWindowMs: 2000, queryIntervalMs: 1000, clock: systemClock,
});

test('a healthy version is Healthy, with its evidence', async () => {
  const r = await check().check(planFor('1.1.0'));
  expect(r.status).toBe('Healthy');
  expect(r.reason).toMatch(/^0 error\(s\) in \d+ request\(s\) \(ratio 0, 95% Wilson \[0, 0\.0\d+\]\) <= 0\.05, p99 0\.0\d+s <= 0\.5s/);
  expect(r.evidence).toMatchObject({ errors: 0, lower: 0, ceiling: 0.05 });
});

test('a version answering 50 % errors is Unhealthy', async () => {
  const r = await check().check(planFor('1.2.0'));
  expect(r.status).toBe('Unhealthy');
  expect(r.reason).toMatch(/^error ratio above 0\.05: \d+ error\(s\) in \d+ request\(s\) \(ratio 0\.[45]\d*/);
});

test('a version without traffic is Inconclusive', async () => {
  const r = await check().check(planFor('1.3.0'));
  expect(r.status).toBe('Inconclusive');
  expect(r.reason).toMatch(/^no traffic to judge: 0 request\(s\) in [\d.]+s served/);
});

test.each([
  ['1.4.0', '3 %', 'Healthy'],
  ['1.5.0', '7 %', 'Unhealthy'],
])('borderline %s (%s errors against a 5 percent ceiling) is decided on the side its confidence bound lies', async (version, _pct, status) => {
  const r = await check().check(planFor(version));
  expect(r.status).toBe(status);
  const e = r.evidence as Record<string, number>;
  expect(e.requests).toBeGreaterThanOrEqual(2000);
  expect(status === 'Healthy' ? e.upper < 0.05 : e.lower > 0.05).toBe(true);
});

test('the gate judges the workload it is asked about, not another one with the same model and version', async () => {
  // 1.6.0 runs in prod (no errors) and in staging (50 % errors), sharing this Prometheus
  expect((await check().check(planFor('1.6.0', ['env="prod"']))).status).toBe('Healthy');
  expect((await check().check(planFor('1.6.0', ['env="staging"']))).status).toBe('Unhealthy');
  // unscoped (the old behaviour), staging's errors decide prod's verdict
  expect((await check().check(planFor('1.6.0'))).status).toBe('Unhealthy');
});

describe('the relative gate: the new version against the one it replaces, over the same last seconds', () => {
  // both under an absolute ceiling of 10 %: only the comparison can tell 7 % from 3 %
  const relative = new Slo({ window: Duration.minutes(1), maxErrorRatio: 0.1, maxP99Latency: Duration.millis(500), minRequestRate: 1,
    relative: { maxErrorRatioFactor: 1.5, maxP99Factor: 2 } });
  const absoluteOnly = new Slo({ window: Duration.minutes(1), maxErrorRatio: 0.1, maxP99Latency: Duration.millis(500), minRequestRate: 1 });
  const plan = (from: string, to: string): UpdatePlan => new UpdatePlan(
    { id: 'docker/recsys', name: 'recsys', model: 'recsys', image: `r/m:${from}`, policy: UpdatePolicy.semver('minor') },
    `r/m:${from}`, `r/m:${to}`, from, to, 'poll',
  );
  const gate = (s: Slo): PrometheusSloCheck => new PrometheusSloCheck({
    url: prom.url, sloFor: () => s, bakeWindowMs: 10_000, queryIntervalMs: 1000, clock: systemClock,
  });

  test('7 % errors replacing 3 % is rejected under the 10 % ceiling; the absolute gate alone promotes it', async () => {
    const r = await gate(relative).check(plan('1.4.0', '1.5.0'));
    expect(r.status).toBe('Unhealthy');
    expect(r.reason).toMatch(/^worse than 1\.4\.0: error ratio 0\.07\d* \(\d+\/\d+\) vs 0\.03\d* \(\d+\/\d+\): above 1\.5× the previous one's/);
    expect(r.evidence).toMatchObject({ previousErrorRatio: expect.closeTo(0.03, 2), relativeLower: expect.any(Number) });
    expect((await gate(absoluteOnly).check(plan('1.4.0', '1.5.0'))).status).toBe('Healthy');
  });

  test('3 % replacing 7 % passes and says what it compared; a previous version with no traffic is no baseline', async () => {
    const r = await gate(relative).check(plan('1.5.0', '1.4.0'));
    expect(r.status).toBe('Healthy');
    expect(r.reason).toMatch(/; against 1\.5\.0: error ratio 0\.03\d* .* within 1\.5×, p99 [\d.]+s within 2× [\d.]+s$/);
    const idle = await gate(relative).check(plan('1.3.0', '1.4.0'));
    expect(idle.status).toBe('Healthy');
    expect(idle.reason).toMatch(/against 1\.3\.0: no baseline \(1\.3\.0 served nothing counted in the last [\d.]+s\)$/);
  });
});
