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
import { Delivery, Duration, SelfHealingModelStack, Slo } from '../../lib';
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
