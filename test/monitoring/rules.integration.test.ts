import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration, Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { formatTable, run, testRules } from '../../bin/commands/test-rules';
import { ModelDeployment } from '../../lib';
import { AlertingRule, ALERT_NAMES, ModelAlerts, ModelAlertsOptions, ModelMonitoring } from '../../lib';
import { Slo } from '../../lib/core/slo';
import { generateRuleTests, ruleTestFile } from '../../lib/monitoring/rule-tests';
import { requireTool } from '../support/tools';

// promtool check rules + promtool test rules on every generated rule group, with the generated "fires" and
// "stays quiet" series; mutated rules show that the generated tests do fail when a threshold moves.

let promtool: string;
let dir: string;

beforeAll(() => {
  promtool = requireTool('promtool', 'prometheus');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-rules-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function makeAlerts(options: ModelAlertsOptions = {}, scrapeInterval?: Duration): ModelAlerts {
  const chart = Testing.chart();
  const model = new ModelDeployment(chart, 'Model', { name: 'recsys', namespace: 'ml', image: 'registry.example:5000/recsys:1.4.0' });
  return new ModelMonitoring(chart, 'Monitoring', { model, scrapeInterval, alerts: options }).alerts!;
}

let counter = 0;
/** Writes the group (optionally with one rule mutated) and the given tests; returns promtool's outcome per test. */
function promtoolTest(alerts: ModelAlerts, mutate?: (r: AlertingRule) => AlertingRule): { ok: boolean; output: string } {
  const id = counter++;
  const rules = `g${id}.rules.yml`;
  const group = { ...alerts.group, rules: alerts.group.rules.map((r) => (mutate ? mutate(r) : r)) };
  fs.writeFileSync(path.join(dir, rules), stringify({ groups: [group] }, { lineWidth: 0 }));
  const check = spawnSync(promtool, ['check', 'rules', rules], { cwd: dir, encoding: 'utf8' });
  if (check.status !== 0) return { ok: false, output: check.stdout + check.stderr };
  const tests = `g${id}.test.yml`;
  fs.writeFileSync(path.join(dir, tests), stringify(ruleTestFile(alerts, rules, generateRuleTests(alerts)), { lineWidth: 0 }));
  const r = spawnSync(promtool, ['test', 'rules', tests], { cwd: dir, encoding: 'utf8' });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

describe('generated rule groups pass promtool check and their generated tests', () => {
  test.each<[string, ModelAlertsOptions, Duration | undefined]>([
    ['the default Slo (5 % over 5m, p99 1s, 3 failed scrapes, 30s scrapes)', {}, undefined],
    ['a strict Slo (2 % over 10m, p99 250ms, 4 failed scrapes, 15s scrapes)',
      { slo: new Slo({ maxErrorRatio: 0.02, window: Duration.minutes(10), maxP99Latency: Duration.millis(250), maxFailedScrapes: 4 }) },
      Duration.seconds(15)],
    ['custom limits (5 restarts, 5m rollout, 45m skew, 1 updater failure, 2m sustain, 1 failed scrape)',
      { maxRestarts: 5, rolloutTimeout: Duration.minutes(5), versionSkewLimit: Duration.minutes(45), updaterFailures: 1,
        sustainFor: Duration.minutes(2), slo: new Slo({ maxFailedScrapes: 1, minRequestRate: 20 }), updaterSelector: { job: 'updater' } }, Duration.seconds(10)],
    ['rules evaluated every 1m with 30s scrapes', { evaluationInterval: Duration.minutes(1) }, undefined],
  ])('%s', (_name, options, interval) => {
    const result = promtoolTest(makeAlerts(options, interval));
    expect(result.output).toContain('SUCCESS');
    expect(result.ok).toBe(true);
  });
});

describe('the generated tests fail when a threshold moves (each case can fail)', () => {
  const alerts = () => makeAlerts();
  const swap = (alert: string, from: string, to: string) => (r: AlertingRule): AlertingRule => {
    if (r.alert !== alert) return r;
    if (!r.expr.includes(from) && r.for !== from) throw new Error(`'${from}' not in ${alert}`);
    return r.for === from ? { ...r, for: to } : { ...r, expr: r.expr.split(from).join(to) };
  };
  /** Names of the failed tests in promtool's output (`name: <test name>,` under FAILED). */
  const failedNames = (output: string) => [...output.matchAll(/^\s+name: (.+),$/gm)].map((m) => m[1]).sort();
  const up = 'up{model="recsys",namespace="ml"}';
  const deploy = '{namespace="ml",deployment="recsys"}';
  const ready = 'kube_pod_container_status_ready{namespace="ml",pod=~"recsys-[a-z0-9]+-[a-z0-9]+",container="model"}';

  test.each<[string, string, string, string, string[]]>([
    ['6 % errors no longer fire when the ceiling is 7 %', 'ModelHighErrorRate', '> 0.05 and', '> 0.07 and', ['ModelHighErrorRate fires: 6 % errors over 5m']],
    ['4 % errors fire when the ceiling is 3 %', 'ModelHighErrorRate', '> 0.05 and', '> 0.03 and', ['ModelHighErrorRate stays quiet: 4 % errors over 5m']],
    ['p99 1.2s no longer fires when the ceiling is 1.3s', 'ModelHighLatencyP99', '> 1 and', '> 1.3 and',
      ['ModelHighLatencyP99 fires: every request takes 1.2s (p99 1.198s)']],
    ['p99 0.8s fires when the ceiling is 0.7s', 'ModelHighLatencyP99', '> 1 and', '> 0.7 and', ['ModelHighLatencyP99 stays quiet: every request takes 0.8s (p99 0.797s)']],
    ['3 failed scrapes (and 3 intervals without a target) no longer fire when for is 90s', 'ModelTargetDown', '1m', '90s',
      ['ModelTargetDown fires: 3 consecutive failed scrapes', 'ModelTargetDown fires: no target for 3 scrape intervals']],
    ['2 failed scrapes (and 2 intervals without a target) fire when for is 30s', 'ModelTargetDown', '1m', '30s',
      ['ModelTargetDown stays quiet: 2 consecutive failed scrapes', 'ModelTargetDown stays quiet: no target for 2 scrape intervals']],
    ['no target no longer fires without the absent() case', 'ModelTargetDown', `absent(${up})`, 'absent(vector(1))',
      ['ModelTargetDown fires: no target for 3 scrape intervals']],
    ['a Deployment scaled to 0 fires when the scale is not checked', 'ModelTargetDown', `kube_deployment_spec_replicas${deploy} == 0`,
      `kube_deployment_spec_replicas${deploy} == -1`, ['ModelTargetDown stays quiet: no target with the Deployment scaled to 0']],
    ['3 restarts no longer fire at >= 4', 'ModelCrashLooping', '>= 3', '>= 4', ['ModelCrashLooping fires: 3 restarts in 10m']],
    ['2 restarts fire at >= 2', 'ModelCrashLooping', '>= 3', '>= 2', ['ModelCrashLooping stays quiet: 2 restarts in 10m']],
    ['stuck rollouts no longer fire with a 20m timeout', 'ModelRolloutStuck', '10m', '20m', [
      'ModelRolloutStuck fires: Progressing=False with the new pod unscheduled',
      'ModelRolloutStuck fires: no pod of the new version for 10m',
      'ModelRolloutStuck fires: rollout unfinished for 10m',
    ]],
    ['finishing rollouts fire with a 1m timeout', 'ModelRolloutStuck', '10m', '1m',
      ['ModelRolloutStuck stays quiet: rollout finishing within the timeout', 'ModelRolloutStuck stays quiet: the new pod created within the timeout']],
    ['a not-ready new pod also gives a versionless alert when the no-new-pod case does not step aside', 'ModelRolloutStuck',
      ` unless on (namespace) (${ready} == 0)`, '', ['ModelRolloutStuck fires: rollout unfinished for 10m']],
    ['no new pod no longer fires when any ready pod hides it', 'ModelRolloutStuck', `unless on (namespace) (${ready} == 0)`, `unless on (namespace) (${ready} >= 0)`,
      ['ModelRolloutStuck fires: Progressing=False with the new pod unscheduled', 'ModelRolloutStuck fires: no pod of the new version for 10m']],
    ['Progressing=False no longer fires when the condition is not read', 'ModelRolloutStuck', 'status="false"} == 1', 'status="false"} == 2',
      ['ModelRolloutStuck fires: Progressing=False with the new pod unscheduled']],
    ['a paused Deployment fires when pausing is not checked', 'ModelRolloutStuck', `kube_deployment_spec_paused${deploy} == 1`,
      `kube_deployment_spec_paused${deploy} == 2`, ['ModelRolloutStuck stays quiet: the Deployment is paused']],
    ['two versions no longer fire with a 60m limit', 'ModelVersionSkew', '30m', '60m', ['ModelVersionSkew fires: 1.0.0 and 2.0.0 serving past the limit']],
    ['a drained version fires with a 1m limit', 'ModelVersionSkew', '30m', '1m', ['ModelVersionSkew stays quiet: 1.0.0 drained within the limit']],
    ['3 updater failures no longer fire at >= 4', 'ModelUpdaterFailing', '>= 3', '>= 4', ['ModelUpdaterFailing fires: 3 updater failures in 15m']],
    ['2 updater failures fire at >= 2', 'ModelUpdaterFailing', '>= 3', '>= 2', ['ModelUpdaterFailing stays quiet: 2 updater failures in 15m']],
    ['a rollback no longer fires at > 1', 'ModelUpdaterRolledBack', ') > 0', ') > 1', ['ModelUpdaterRolledBack fires: a rollback counted']],
    ['no rollback fires at >= 0', 'ModelUpdaterRolledBack', ') > 0', ') >= 0', ['ModelUpdaterRolledBack stays quiet: no rollback counted']],
    ['a growing quarantine no longer fires at > 5', 'ModelVersionQuarantined', ') > 0', ') > 5', ['ModelVersionQuarantined fires: the quarantine grew']],
    ['a standing quarantine fires when the gauge itself is read', 'ModelVersionQuarantined', 'max(delta(modelpilot_updater_quarantined_versions', 'max(max_over_time(modelpilot_updater_quarantined_versions',
      ['ModelVersionQuarantined stays quiet: a standing quarantine, unchanged']],
    ['degraded no longer fires at == 2', 'ModelUpdaterDegraded', '== 1', '== 2', ['ModelUpdaterDegraded fires: degraded']],
    ['not degraded fires at >= 0', 'ModelUpdaterDegraded', '== 1', '>= 0', ['ModelUpdaterDegraded stays quiet: not degraded']],
    ['a stall no longer fires with a doubled limit', 'ModelUpdaterStalled', '> 900', '> 1800', ['ModelUpdaterStalled fires: no completed cycle for 960s']],
    ['completing cycles fire at > -1', 'ModelUpdaterStalled', '> 900', '> -1', ['ModelUpdaterStalled stays quiet: a cycle completes every scrape']],
  ])('%s', (_name, alert, from, to, failing) => {
    const result = promtoolTest(alerts(), swap(alert, from, to));
    expect(result.ok).toBe(false);
    // Exactly those cases fail: the mutation is caught, and by the case meant to catch it.
    expect(failedNames(result.output)).toEqual([...failing].sort());
  });
});

describe('modelpilot test-rules', () => {
  let appFile: string;
  beforeAll(() => {
    appFile = path.join(dir, 'app.ts');
    const lib = path.join(__dirname, '..', '..', 'lib');
    fs.writeFileSync(appFile, [
      'import { App } from \'cdk8s\';',
      `import { SelfHealingModelStack } from ${JSON.stringify(lib)};`,
      'export default function build(app: App): void {',
      '  new SelfHealingModelStack(app, \'rec\', { namespace: \'ml\', model: { name: \'recsys\', image: \'r.example:5000/recsys:1.4.0\' }, monitoring: {} });',
      '  new SelfHealingModelStack(app, \'llm\', { namespace: \'ml\', model: { name: \'llm\', image: \'r.example:5000/llm:2.0.0\' }, monitoring: {} });',
      '}',
    ].join('\n'));
  });

  test('checks every rule group and runs both generated cases of every alert', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'work-'));
    const rows = await testRules(appFile, [], work, promtool);
    expect(rows.filter((r) => r.kind === 'check').map((r) => r.group)).toEqual(['modelpilot-recsys', 'modelpilot-llm']);
    const perGroup = generateRuleTests(makeAlerts()).length;
    expect(perGroup).toBeGreaterThan(2 * ALERT_NAMES.length);
    expect(rows.filter((r) => r.kind === 'test')).toHaveLength(2 * perGroup);
    expect(rows.filter((r) => !r.ok)).toEqual([]);
    expect(formatTable(rows)).toContain(`${rows.length} passed, 0 failed`);
  });

  test('runs user test files against the extracted rule files and exits 1 when one fails', async () => {
    const bad = path.join(dir, 'bad_test.yml');
    const userTest = (expectQuiet: boolean) => stringify({
      rule_files: ['modelpilot-recsys.rules.yml'],
      evaluation_interval: '30s',
      tests: [{
        interval: '30s',
        input_series: [{ series: 'up{model="recsys",namespace="ml",version="1.4.0",instance="a",job="recsys"}', values: '0x10' }],
        alert_rule_test: [{ eval_time: '2m', alertname: 'ModelTargetDown', exp_alerts: expectQuiet ? [] : [{ exp_labels: { model: 'recsys' } }] }],
      }],
    });
    fs.writeFileSync(bad, userTest(true));
    const out: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => { out.push(s); return true; }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await run([appFile, '--tests', bad]);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(1);
    const table = out.join('');
    expect(table).toMatch(/FAIL\s+\(yours\)\s+.*bad_test\.yml/);
    // It ran against the extracted rules (the alert fired where the user expected silence), not a missing file.
    expect(table).toContain('alertname: ModelTargetDown, time: 2m');
    expect(table).toContain(`${2 + 2 * generateRuleTests(makeAlerts()).length} passed, 1 failed`);
  });

  test('checks the PrometheusRules of a manifests file', async () => {
    const manifests = path.join(dir, 'manifests.yaml');
    const chart = Testing.chart();
    const model = new ModelDeployment(chart, 'Model', { name: 'recsys', namespace: 'ml', image: 'r.example:5000/recsys:1.4.0' });
    new ModelMonitoring(chart, 'Monitoring', { model });
    fs.writeFileSync(manifests, Testing.synth(chart).map((o) => stringify(o)).join('---\n'));
    const rows = await testRules(manifests, [], fs.mkdtempSync(path.join(dir, 'work-')), promtool);
    expect(rows).toEqual([expect.objectContaining({ kind: 'check', group: 'ml/recsys-alerts', ok: true })]);
  });
});
