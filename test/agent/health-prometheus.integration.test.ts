/**
 * The SLO check against a REAL Prometheus (Debian's `prometheus`) scraping an in-test exporter on 127.0.0.1 that
 * exports the model-server metric contract for three versions: 1.1.0 healthy, 1.2.0 with 50 % errors, 1.3.0 idle.
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
const planFor = (version: string): UpdatePlan => new UpdatePlan(
  { id: 'docker/recsys', name: 'recsys', model: 'recsys', image: 'r/m:1.0.0', policy: UpdatePolicy.semver('minor') },
  'r/m:1.0.0', `r/m:${version}`, '1.0.0', version, 'poll',
);

let prom: TestPrometheus;
let exporter: http.Server;
let traffic: NodeJS.Timeout;

beforeAll(async () => {
  const registry = new Registry();
  const requests = new Counter({ name: 'model_request_total', help: 'requests', labelNames: ['model', 'version', 'code'], registers: [registry] });
  const latency = new Histogram({ name: 'model_inference_seconds', help: 'latency', labelNames: ['model', 'version'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] });
  // 20 requests per second per version, generated in-process (bounded: stopped in afterAll).
  traffic = setInterval(() => {
    for (let i = 0; i < 2; i++) {
      requests.inc({ model: 'recsys', version: '1.1.0', code: '200' });
      latency.observe({ model: 'recsys', version: '1.1.0' }, 0.02);
      requests.inc({ model: 'recsys', version: '1.2.0', code: i === 0 ? '500' : '200' });
      latency.observe({ model: 'recsys', version: '1.2.0' }, 0.02);
    }
  }, 100);
  requests.inc({ model: 'recsys', version: '1.3.0', code: '200' }, 0);
  exporter = http.createServer((_req, res) => {
    registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body), () => res.writeHead(500).end());
  });
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
  const port = (exporter.address() as AddressInfo).port;
  prom = await startPrometheus({ scrapeInterval: '1s', scrapeConfigs: [{ job_name: 'model', static_configs: [{ targets: [`127.0.0.1:${port}`] }] }] });
  // rate() needs two samples of the new series
  await waitFor(async () => (await prom.query(slo.metricRequestRate({ model: 'recsys', version: '1.1.0' }))).length > 0, { timeoutMs: 60_000, what: 'prometheus to have two scrapes' });
});

afterAll(async () => {
  clearInterval(traffic);
  await prom?.stop();
  await new Promise<void>((r) => (exporter ? exporter.close(() => r()) : r()));
});

const check = (): PrometheusSloCheck => new PrometheusSloCheck({
  url: prom.url, sloFor: () => slo, bakeWindowMs: 2000, queryIntervalMs: 1000, clock: systemClock,
});

test('a healthy version is Healthy', async () => {
  const r = await check().check(planFor('1.1.0'));
  expect(r.status).toBe('Healthy');
  expect(r.reason).toMatch(/^error ratio 0 <= 0\.05, p99 0\.0\d+s <= 0\.5s at \d+(\.\d+)? req\/s over 1m$/);
});

test('a version answering 50 % errors is Unhealthy', async () => {
  const r = await check().check(planFor('1.2.0'));
  expect(r.status).toBe('Unhealthy');
  expect(r.reason).toMatch(/^error ratio 0\.[45]\d* > 0\.05 over 1m$/);
});

test('a version without traffic is Inconclusive', async () => {
  const r = await check().check(planFor('1.3.0'));
  expect(r).toEqual({ status: 'Inconclusive', reason: 'no traffic to judge: request rate 0/s < 1/s over 1m for recsys 1.3.0' });
});
