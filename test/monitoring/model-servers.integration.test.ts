/**
 * Each ModelServer profile against its server's exposition, through a real Prometheus and promtool.
 *
 * A local HTTP server serves each recorded exposition text (test/fixtures/exposition, one per profile) with its
 * values multiplied by the scrape count, so counters grow as a running server's do; Debian's Prometheus scrapes it
 * every second with the scrape settings the stack renders (the `model`/`version`/`namespace` target labels, and
 * `honor_labels` as the profile says). Then, per profile:
 * - every query the Slo renders (served, windowed and rate-based request counts, error ratio, latency, the LLM
 *   objectives, the KEDA rate) answers what the text says — computed here from the samples with plain predicates and
 *   histogram_quantile's interpolation, not with the rendered PromQL;
 * - the rate-based alerts fire with ceilings under the text's values and stay quiet with ceilings over them;
 * - the agent's Prometheus gate gives Healthy, and Unhealthy for each ceiling crossed, naming the objective;
 * - promtool runs the generated rule tests of the profile's alerts (series in the profile's own shape).
 *
 * Overrides (gaps): the exposition texts are written from each server's metric definitions, not captured from a
 * running vLLM/TGI/Triton (none can run here: no GPU, no PyPI, no container registry — see the fixtures' README);
 * the target labels are static_configs labels where ModelMonitoring relabels them from pod labels.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { systemClock } from '../../agent/clock';
import { PrometheusSloCheck } from '../../agent/health/prometheus';
import { Duration, ModelDeployment, ModelMonitoring } from '../../lib';
import { LLM_OBJECTIVES, ModelServer, renderSelector } from '../../lib/core/model-server';
import { Slo, SloProps } from '../../lib/core/slo';
import { LLM_ALERT_NAMES, ModelAlerts } from '../../lib/monitoring/model-alerts';
import { generateRuleTests, ruleTestFile } from '../../lib/monitoring/rule-tests';
import { quantile, readExposition, Sample, scaleExposition, total } from '../support/exposition';
import { startPrometheus, TestPrometheus } from '../support/prometheus';
import { requireTool, waitFor } from '../support/tools';

type Field = keyof typeof LLM_OBJECTIVES;

interface Case {
  readonly name: string;
  readonly server: ModelServer;
  /** Requests and failures the text counts, restated from the server's docs as predicates. */
  readonly requests: (s: Sample[]) => number;
  readonly errors: (s: Sample[]) => number;
  /** Latency in seconds: the p99, or the mean for a server without a histogram. */
  readonly latency: (s: Sample[]) => number;
  readonly llm: Partial<Record<Field, (s: Sample[]) => number>>;
  /** Generated tokens the text counts, for servers with a token counter. */
  readonly tokens?: (s: Sample[]) => number;
}

const v1Post = (l: Record<string, string>) => l.method === 'POST' && l.handler.startsWith('/v1/');
const tokensPerSecond = (h: string) => (s: Sample[]) => total(s, `${h}_count`) / total(s, `${h}_sum`);

const CASES: Case[] = [
  {
    name: 'modelpilot', server: ModelServer.modelpilot(),
    requests: (s) => total(s, 'model_request_total'),
    errors: (s) => total(s, 'model_request_total', (l) => l.code.startsWith('5')),
    latency: (s) => quantile(s, 'model_inference_seconds', 0.99),
    llm: {},
  },
  {
    name: 'vllm', server: ModelServer.vllm(),
    requests: (s) => total(s, 'http_requests_total', v1Post),
    errors: (s) => total(s, 'http_requests_total', (l) => v1Post(l) && l.status === '5xx'),
    latency: (s) => quantile(s, 'vllm:e2e_request_latency_seconds', 0.99),
    llm: {
      maxP99TimeToFirstToken: (s) => quantile(s, 'vllm:time_to_first_token_seconds', 0.99),
      maxP99TimePerOutputToken: (s) => quantile(s, 'vllm:time_per_output_token_seconds', 0.99),
      maxP99QueueTime: (s) => quantile(s, 'vllm:request_queue_time_seconds', 0.99),
      minTokensPerSecond: tokensPerSecond('vllm:time_per_output_token_seconds'),
    },
    tokens: (s) => total(s, 'vllm:generation_tokens_total'),
  },
  {
    name: 'tgi', server: ModelServer.tgi(),
    requests: (s) => total(s, 'tgi_request_count'),
    errors: (s) => total(s, 'tgi_request_failure', (l) => l.err !== 'validation'),
    latency: (s) => quantile(s, 'tgi_request_duration', 0.99),
    llm: {
      maxP99TimePerOutputToken: (s) => quantile(s, 'tgi_request_mean_time_per_token_duration', 0.99),
      maxP99QueueTime: (s) => quantile(s, 'tgi_request_queue_duration', 0.99),
      minTokensPerSecond: tokensPerSecond('tgi_request_mean_time_per_token_duration'),
    },
    tokens: (s) => total(s, 'tgi_request_generated_tokens_sum'),
  },
  {
    name: 'triton', server: ModelServer.triton(),
    requests: (s) => total(s, 'nv_inference_request_success') + total(s, 'nv_inference_request_failure'),
    errors: (s) => total(s, 'nv_inference_request_failure'),
    latency: (s) => total(s, 'nv_inference_request_duration_us') / total(s, 'nv_inference_request_success') / 1e6,
    llm: {},
  },
  {
    name: 'openai-compatible', server: ModelServer.openAiCompatible(),
    requests: (s) => total(s, 'http_requests_total', v1Post),
    errors: (s) => total(s, 'http_requests_total', (l) => v1Post(l) && l.status === '5xx'),
    latency: (s) => quantile(s.filter((x) => !x.name.startsWith('http_request_duration_seconds') || v1Post(x.labels)), 'http_request_duration_seconds', 0.99),
    llm: {},
  },
];

const VERSION = '1.4.0';
const NAMESPACE = 'ml';
const model = (c: Case) => `m-${c.name}`;
const texts = new Map(CASES.map((c) => [c.name, readExposition(`${c.name}.prom`)]));
const scrapes = new Map<string, number>();

let server: http.Server;
let prom: TestPrometheus;

beforeAll(async () => {
  // each GET of /<profile>/metrics is one more scrape interval's worth of traffic
  server = http.createServer((req, res) => {
    const name = /^\/([a-z-]+)\/metrics$/.exec(req.url ?? '')?.[1];
    const t = name ? texts.get(name) : undefined;
    if (!name || !t) {
      res.writeHead(404).end();
      return;
    }
    const k = (scrapes.get(name) ?? 0) + 1;
    scrapes.set(name, k);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(scaleExposition(t.text, k));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  prom = await startPrometheus({
    scrapeInterval: '1s',
    scrapeConfigs: CASES.map((c) => ({
      job_name: c.name,
      metrics_path: `/${c.name}/metrics`,
      honor_labels: c.server.ownsModelLabels,
      static_configs: [{ targets: [`127.0.0.1:${port}`], labels: { model: model(c), version: VERSION, namespace: NAMESPACE } }],
    })),
  });
  // enough served requests for every verdict below: eight scrapes of each text
  for (const c of CASES) {
    const served = new Slo({ server: c.server }).metricServedRequests({ model: model(c), version: VERSION });
    await waitFor(async () => (await value(served)) >= 8 * c.requests(texts.get(c.name)!.samples), {
      what: `8 scrapes of the ${c.name} exposition`, timeoutMs: 120_000, intervalMs: 500, diagnostics: () => prom.log(),
    });
  }
}, 180_000);

afterAll(async () => {
  await prom?.stop();
  await new Promise((r) => server?.close(r));
});

/** The query's one value — waited for: a scrape that failed (a loaded machine) leaves the series stale for a moment. */
async function value(promql: string): Promise<number> {
  let out = NaN;
  await waitFor(async () => {
    const r = await prom.query(promql);
    if (r.length !== 1) throw new Error(`${promql} returned ${r.length} series`);
    out = Number(r[0].value[1]);
    return true;
  }, { what: `one series from ${promql}`, timeoutMs: 30_000, intervalMs: 250 });
  return out;
}

/** An Slo in the profile's shape whose ceilings sit `factor` × the text's values (floors at 1/factor). */
function sloAt(c: Case, factor: number, only?: 'errors' | 'latency' | Field): Slo {
  const s = texts.get(c.name)!.samples;
  const generous = 4;
  const f = (k: 'errors' | 'latency' | Field) => (only === undefined || only === k ? factor : generous);
  const props: SloProps = {
    server: c.server,
    maxErrorRatio: Math.min(0.99, (c.errors(s) / c.requests(s)) * f('errors')),
    maxP99Latency: Duration.millis(Math.max(1, Math.round(c.latency(s) * 1000 * f('latency')))),
    minRequestRate: 0.1,
    ...Object.fromEntries(Object.entries(c.llm).map(([k, fn]) => [k, k === 'minTokensPerSecond'
      ? fn(s) / f(k as Field)
      : Duration.millis(Math.max(1, Math.round(fn(s) * 1000 * f(k as Field))))])),
  };
  return new Slo(props);
}

describe.each(CASES)('the $name profile against its exposition', (c) => {
  const sel = () => ({ model: model(c), version: VERSION });
  const samples = () => texts.get(c.name)!.samples;

  test('every rendered query answers what the text says', async () => {
    const slo = sloAt(c, 4);
    const s = samples();
    const served = await value(slo.metricServedRequests(sel()));
    const k = served / c.requests(s);
    expect(Number.isInteger(Math.round(k * 1e6) / 1e6)).toBe(true);
    expect(k).toBeGreaterThanOrEqual(8);
    expect(await value(slo.metricServedErrorRatio(sel()))).toBeCloseTo(c.errors(s) / c.requests(s), 9);
    expect(await value(slo.metricErrorRatio(sel()))).toBeCloseTo(c.errors(s) / c.requests(s), 9);
    expect(await value(slo.metricServedP99(sel()))).toBeCloseTo(c.latency(s), 9);
    expect(await value(slo.metricP99Latency(sel()))).toBeCloseTo(c.latency(s), 9);
    expect(await value(slo.metricWindowP99(sel(), 5))).toBeCloseTo(c.latency(s), 6);
    expect(await value(slo.metricRequestRate(sel()))).toBeGreaterThan(0);
    expect(await value(slo.metricModelRequestRate(model(c), '2m'))).toBeGreaterThan(0);
    // windowed counts: the errors' share of the requests over the same seconds
    expect(await value(slo.metricWindowRequests(sel(), 5))).toBeGreaterThan(0);
    expect(await value(`(${slo.metricWindowErrors(sel(), 5)}) / (${slo.metricWindowRequests(sel(), 5)})`)).toBeCloseTo(c.errors(s) / c.requests(s), 6);
    for (const [field, expected] of Object.entries(c.llm) as Array<[Field, (x: Sample[]) => number]>) {
      expect([field, await value(slo.metricServedLlm(field, sel()))]).toEqual([field, expect.closeTo(expected(s), 9)]);
      expect([field, await value(slo.metricLlm(field, sel()))]).toEqual([field, expect.closeTo(expected(s), 9)]);
    }
    // a model the text does not hold: nothing
    expect(await prom.query(slo.metricServedRequests({ model: 'another', version: VERSION }))).toEqual([]);
  });

  test('its rate-based alerts fire under the text\'s values and stay quiet over them', async () => {
    const rules = (factor: number) => {
      const chart = Testing.chart();
      const m = new ModelDeployment(chart, 'M', { name: model(c), namespace: NAMESPACE, image: `registry.example:5000/${model(c)}:${VERSION}`, slo: sloAt(c, factor) });
      return new ModelMonitoring(chart, 'Mon', { model: m }).alerts!;
    };
    const names = ['ModelHighErrorRate', 'ModelHighLatencyP99', ...Object.keys(c.llm).map((f) => LLM_ALERT_NAMES[f as Field])] as const;
    const [tight, loose] = [rules(0.5), rules(2)];
    for (const name of names) {
      const fired = await prom.query(tight.rule(name).expr);
      expect([name, fired.map((r) => r.metric.version)]).toEqual([name, [VERSION]]);
      expect([name, await prom.query(loose.rule(name).expr)]).toEqual([name, []]);
    }
  });

  test('the agent\'s gate: Healthy inside every ceiling, Unhealthy naming each one crossed', async () => {
    const gate = (slo: Slo) => new PrometheusSloCheck({ url: prom.url, sloFor: () => slo, bakeWindowMs: 0, queryIntervalMs: 100, clock: systemClock })
      .sample(model(c), VERSION, undefined, { servedMs: 1000, final: true });
    const healthy = await gate(sloAt(c, 4));
    expect([healthy.status, healthy.reason]).toEqual(['Healthy', expect.stringContaining(c.server.latency.kind === 'mean' ? 'mean' : 'p99')]);
    const errors = await gate(sloAt(c, 1 / 3, 'errors'));
    expect([errors.status, errors.reason]).toEqual(['Unhealthy', expect.stringContaining('error ratio above')]);
    const latency = await gate(sloAt(c, 0.5, 'latency'));
    expect([latency.status, latency.reason]).toEqual(['Unhealthy', expect.stringMatching(/^(p99|mean) latency /)]);
    for (const field of Object.keys(c.llm) as Field[]) {
      const r = await gate(sloAt(c, field === 'minTokensPerSecond' ? 0.5 : 0.5, field));
      expect([field, r.status, r.reason]).toEqual([field, 'Unhealthy', expect.stringContaining(field)]);
    }
  });

  // promtool runs asynchronously: this process serves the expositions, and a blocked event loop would fail scrapes
  test('promtool runs its generated rule tests (series in its own shape)', async () => {
    const promtool = requireTool('promtool', 'prometheus');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `modelpilot-${c.name}-rules-`));
    const run = async () => promisify(execFile)(promtool, ['test', 'rules', 'test.yml'], { cwd: dir, encoding: 'utf8' })
      .then((r) => ({ ok: true, output: r.stdout + r.stderr }), (e: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${e.stdout}${e.stderr}` }));
    try {
      const chart = Testing.chart();
      const m = new ModelDeployment(chart, 'M', { name: 'recsys', namespace: NAMESPACE, image: 'registry.example:5000/recsys:1.4.0', slo: sloAt(c, 1) });
      const alerts: ModelAlerts = new ModelMonitoring(chart, 'Mon', { model: m }).alerts!;
      const tests = generateRuleTests(alerts);
      expect(tests.map((t) => t.alert)).toEqual(expect.arrayContaining(Object.keys(c.llm).map((f) => LLM_ALERT_NAMES[f as Field])));
      fs.writeFileSync(path.join(dir, 'rules.yml'), stringify({ groups: [alerts.group] }, { lineWidth: 0 }));
      fs.writeFileSync(path.join(dir, 'test.yml'), stringify(ruleTestFile(alerts, 'rules.yml', tests), { lineWidth: 0 }));
      const good = await run();
      expect(good.output).toContain('SUCCESS');
      expect(good.ok).toBe(true);
      // and the tests can fail: failures read with the requests' selector (a shape mismatch) make every request an error
      const at = ['model="recsys"', `namespace="${NAMESPACE}"`];
      const [errors, requests] = [renderSelector(c.server.errors, at), renderSelector(c.server.requests, at)];
      const wrong = { ...alerts.group, rules: alerts.group.rules.map((x) => (x.alert === 'ModelHighErrorRate'
        ? { ...x, expr: x.expr.split(errors).join(requests) } : x)) };
      expect(wrong.rules.find((x) => x.alert === 'ModelHighErrorRate')!.expr).not.toContain(errors);
      fs.writeFileSync(path.join(dir, 'rules.yml'), stringify({ groups: [wrong] }, { lineWidth: 0 }));
      const bad = await run();
      expect(bad.ok).toBe(false);
      expect(bad.output).toContain('ModelHighErrorRate stays quiet');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

test.each(CASES.filter((c) => c.tokens))('$name: generated tokens per request, over the same scrapes', async (c) => {
  const slo = sloAt(c, 4);
  const s = texts.get(c.name)!.samples;
  const sel = { model: model(c), version: VERSION };
  // one query, one evaluation time: exact, whatever rate() extrapolates
  expect(await value(`(${slo.metricGeneratedTokenRate(sel)}) / (${slo.metricRequestRate(sel)})`)).toBeCloseTo(c.tokens!(s) / c.requests(s), 6);
});

test.each(CASES.filter((c) => !c.tokens))('$name: no token counter, and the token rate says so', (c) => {
  expect(() => sloAt(c, 4).metricGeneratedTokenRate({ model: model(c) })).toThrow(`the '${c.server.name}' server exports no generated-tokens counter`);
});
