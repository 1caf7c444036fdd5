/**
 * The AnalysisTemplate's PromQL with the real promtool: `promtool check rules` parses every query (the canary-hash
 * argument filled in), and `promtool test rules` evaluates them on series of a healthy, a failing and an idle
 * canary, checking the values the template's conditions then judge (the conditions themselves are evaluated by the
 * real Argo Rollouts controller in test/cluster/delivery.cluster.test.ts).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { Delivery, Duration, SelfHealingModelStack, Slo, warningsOf } from '../../lib';
import { requireTool } from '../support/tools';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are untyped JSON

let promtool: string;
let dir: string;
beforeAll(() => {
  promtool = requireTool('promtool', 'prometheus');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-analysis-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function template(slo: Slo): Obj {
  const app = Testing.app();
  new SelfHealingModelStack(app, 'recsys', {
    namespace: 'ml', model: { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0', slo },
    delivery: Delivery.canary({ analysis: { interval: Duration.seconds(30), measurements: 4 } }), monitoring: {},
  });
  return (app.charts[0].toJson() as Obj[]).find((o) => o.kind === 'AnalysisTemplate')!;
}

/** The template's queries for one canary hash, as recording rules `analysis:<metric>`. */
function rulesFor(t: Obj, hash: string): Obj {
  return {
    groups: [{
      name: `analysis-${hash}`,
      rules: (t.spec.metrics as Obj[]).map((m) => ({
        record: `analysis:${m.name.replace(/-/g, '_')}`, expr: m.provider.prometheus.query.split('{{args.canary-hash}}').join(hash),
      })),
    }],
  };
}

const series = (hash: string, code: string, values: string): Obj =>
  ({ series: `model_request_total{model="recsys",rollouts_pod_template_hash="${hash}",code="${code}"}`, values });
const buckets = (hash: string, le: string, values: string): Obj =>
  ({ series: `model_inference_seconds_bucket{model="recsys",rollouts_pod_template_hash="${hash}",le="${le}"}`, values });

test('every query of the template parses (promtool check rules)', () => {
  const t = template(new Slo({ minSamples: 40, maxErrorRatio: 0.02, maxP99Latency: Duration.millis(250) }));
  fs.writeFileSync(path.join(dir, 'check.rules.yml'), stringify(rulesFor(t, 'abc123'), { lineWidth: 0 }));
  const r = spawnSync(promtool, ['check', 'rules', 'check.rules.yml'], { cwd: dir, encoding: 'utf8' });
  expect([r.status, r.stdout + r.stderr]).toEqual([0, expect.stringContaining('SUCCESS: 3 rules found')]);
});

/** Runs promtool test rules for one hash's rules with the expected values (none: no sample); returns its outcome. */
function evaluate(t: Obj, hash: string, input: Obj[], expected: Record<string, number | undefined>): { ok: boolean; output: string } {
  fs.writeFileSync(path.join(dir, `${hash}.rules.yml`), stringify(rulesFor(t, hash), { lineWidth: 0 }));
  fs.writeFileSync(path.join(dir, `${hash}.test.yml`), stringify({
    rule_files: [`${hash}.rules.yml`], evaluation_interval: '1m',
    tests: [{
      interval: '1m', input_series: input,
      promql_expr_test: Object.entries(expected).map(([expr, value]) => ({
        expr, eval_time: '6m', exp_samples: value === undefined ? [] : [{ labels: `{__name__="${expr}"}`, value }],
      })),
    }],
  }, { lineWidth: 0 }));
  const r = spawnSync(promtool, ['test', 'rules', `${hash}.test.yml`], { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

test('healthy, failing and idle canaries give the values the conditions judge (promtool test rules)', () => {
  const t = template(new Slo());
  // healthy: 60 requests, no errors, all under 0.1 s; failing: 60 requests, 24 of them 5xx, all under 2.5 s; idle:
  // nothing; the stable version's series (another hash, all errors) must not leak into any canary's numbers.
  const input = [
    series('healthy', '200', '0+10x6'), buckets('healthy', '0.1', '0+10x6'), buckets('healthy', '+Inf', '0+10x6'),
    series('failing', '200', '0+6x6'), series('failing', '500', '0+4x6'), buckets('failing', '2.5', '0+10x6'), buckets('failing', '+Inf', '0+10x6'),
    series('stable', '500', '0+100x6'), buckets('stable', '+Inf', '0+100x6'),
  ];
  // healthy: 60 served ≥ minSamples 30, ratio 0 ≤ 0.05, p99 0.099 s ≤ 1 s → every condition holds
  const healthy = { 'analysis:served_requests': 60, 'analysis:error_ratio': 0, 'analysis:p99_latency': 0.099 };
  expect(evaluate(t, 'healthy', input, healthy)).toEqual({ ok: true, output: expect.stringContaining('SUCCESS') });
  // failing: ratio 0.4 > 0.05 and p99 2.475 s > 1 s → error-ratio and p99-latency fail
  const failing = { 'analysis:served_requests': 60, 'analysis:error_ratio': 0.4, 'analysis:p99_latency': 2.475 };
  expect(evaluate(t, 'failing', input, failing)).toEqual({ ok: true, output: expect.stringContaining('SUCCESS') });
  // idle: no sample at all → served-requests fails (len(result) == 0); the ceilings have nothing to judge
  const idle = { 'analysis:served_requests': undefined, 'analysis:error_ratio': undefined, 'analysis:p99_latency': undefined };
  expect(evaluate(t, 'idle', input, idle)).toEqual({ ok: true, output: expect.stringContaining('SUCCESS') });
  // the check can fail: the failing canary's ratio is not the healthy one's
  expect(evaluate(t, 'failing', input, { ...failing, 'analysis:error_ratio': 0 }).ok).toBe(false);
});

describe('the relative gate in a canary analysis: the canary against the stable pods, same window, same traffic', () => {
  const slo = new Slo({ relative: { maxErrorRatioFactor: 1.5, maxP99Factor: 2 } });
  /** Agresti–Caffo lower bound of p_new − f·p_old at the gate's 95 % (z = 1.96, as the agent's), computed here from the counts. */
  const bound = (n: number, k: number, no: number, ko: number, f: number) => {
    const pn = (k + 1) / (n + 2);
    const po = (ko + 1) / (no + 2);
    return pn - f * po - 1.959963984540054 * Math.sqrt(pn * (1 - pn) / (n + 2) + f * f * po * (1 - po) / (no + 2));
  };
  /** One canary/stable pair's series: per minute 1000 requests, `errors` of them 5xx, every one at `seconds`. */
  const pod = (hash: string, errors: number, le: string) => [
    series(hash, '200', `0+${1000 - errors}x6`), series(hash, '500', `0+${errors}x6`),
    buckets(hash, le, '0+1000x6'), ...(le === '0.1' ? [buckets(hash, '0.5', '0+1000x6')] : [buckets(hash, '0.1', '0x6')]), buckets(hash, '+Inf', '0+1000x6'),
  ];

  test('a canary template has the two relative metrics and the stable hash; a blue-green one warns instead', () => {
    const t = template(slo);
    expect((t.spec.args as Obj[]).map((a) => a.name)).toEqual(['canary-hash', 'stable-hash']);
    expect((t.spec.metrics as Obj[]).map((m) => [m.name, m.successCondition])).toEqual(expect.arrayContaining([
      ['relative-error-ratio', 'len(result) == 0 || isNaN(result[0]) || result[0] <= 0'],
      ['relative-p99-latency', 'len(result) == 0 || isNaN(result[0]) || result[0] <= 2'],
    ]));
    const app = Testing.app();
    const bg = new SelfHealingModelStack(app, 'bg', {
      namespace: 'ml', model: { name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0', slo },
      delivery: Delivery.blueGreen(), monitoring: {},
    });
    const spec = (app.charts[0].toJson() as Obj[]).find((o) => o.kind === 'AnalysisTemplate')!.spec;
    expect((spec.metrics as Obj[]).map((m) => m.name)).not.toContain('relative-error-ratio');
    expect(warningsOf(bg).map((w) => w.message)).toEqual(expect.arrayContaining([expect.stringContaining("'slo.relative' is not judged by a blue-green analysis")]));
  });

  test.each<[string, number, string, boolean]>([
    ['3 % errors and 5× the p99 against 1 %: both relative metrics fail', 30, '0.5', true],
    ['the same errors and latency as the stable pods: both pass', 10, '0.1', false],
  ])('%s (promtool test rules)', (_name, canaryErrors, canaryLe, worse) => {
    const t = template(slo);
    const rules = {
      groups: [{
        name: 'relative',
        rules: (t.spec.metrics as Obj[]).filter((m) => m.name.startsWith('relative-')).map((m) => ({
          record: `analysis:${m.name.replace(/-/g, '_')}`,
          expr: m.provider.prometheus.query.split('{{args.canary-hash}}').join('canary').split('{{args.stable-hash}}').join('stable'),
        })),
      }],
    };
    // over the 5m window at 6m: 5 minutes of each side's traffic (a linear counter: increase() is exact)
    const [n, k, no, ko] = [5000, 5 * canaryErrors, 5000, 50];
    const expectedBound = bound(n, k, no, ko, 1.5);
    const canaryP99 = canaryLe === '0.1' ? 0.099 : 0.1 + 0.4 * 0.99;
    expect(expectedBound > 0).toBe(worse);
    expect(canaryP99 / 0.099 > 2).toBe(worse);
    fs.writeFileSync(path.join(dir, 'relative.rules.yml'), stringify(rules, { lineWidth: 0 }));
    fs.writeFileSync(path.join(dir, 'relative.test.yml'), stringify({
      rule_files: ['relative.rules.yml'], evaluation_interval: '1m',
      tests: [{
        interval: '1m', input_series: [...pod('canary', canaryErrors, canaryLe), ...pod('stable', 10, '0.1')],
        // within 1e-6 of the values computed here (promtool compares samples exactly; the float order and z's last digits differ)
        promql_expr_test: [
          { expr: `abs(analysis:relative_error_ratio - ${expectedBound}) < bool 1e-6`, eval_time: '6m', exp_samples: [{ labels: '{}', value: 1 }] },
          { expr: `abs(analysis:relative_p99_latency - ${canaryP99 / 0.099}) < bool 1e-6`, eval_time: '6m', exp_samples: [{ labels: '{}', value: 1 }] },
        ],
      }],
    }, { lineWidth: 0 }));
    const r = spawnSync(promtool, ['test', 'rules', 'relative.test.yml'], { cwd: dir, encoding: 'utf8' });
    expect([r.status, r.stdout + r.stderr]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });
});
