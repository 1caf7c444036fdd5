import { Duration, Testing } from 'cdk8s';
import {
  ACTION_LABEL, ALERT_NAMES, AlertingRule, ModelAlerts, ModelDeployment, ModelMonitoring, ScrapeTarget, Slo, validateManifests,
} from '../../lib';
import { fmtG, humanizeDuration, renderTemplate } from '../../lib/monitoring/rule-tests';
import { generateRuleTests } from '../../lib/monitoring/rule-tests';

function setup(props: Partial<ConstructorParameters<typeof ModelMonitoring>[2]> = {}) {
  const chart = Testing.chart();
  const model = new ModelDeployment(chart, 'Model', { name: 'recommender', namespace: 'ml', image: 'registry.example:5000/recommender:1.2.0' });
  const monitoring = new ModelMonitoring(chart, 'Monitoring', { model, ...props });
  const objects = Testing.synth(chart);
  const find = (kind: string) => objects.find((o) => o.kind === kind);
  return { chart, model, monitoring, objects, find };
}

function rule(alerts: ModelAlerts, name: typeof ALERT_NAMES[number]): AlertingRule {
  return alerts.rule(name);
}

describe('ModelMonitoring', () => {
  test('creates a ServiceMonitor on the model Service metrics port, labelling targets with model and version', () => {
    // GIVEN / WHEN
    const { find, model } = setup();
    // THEN
    const sm = find('ServiceMonitor');
    expect(sm.metadata).toMatchObject({ name: 'recommender', namespace: 'ml' });
    expect(sm.metadata.labels['app.kubernetes.io/version']).toBeUndefined();
    expect(sm.spec.selector.matchLabels).toEqual(model.selectorLabels);
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['ml'] });
    const ep = sm.spec.endpoints[0];
    expect(ep).toMatchObject({ port: 'http', path: '/metrics', interval: '30s', honorLabels: true });
    expect(ep.relabelings).toEqual([
      { action: 'replace', targetLabel: 'model', replacement: 'recommender' },
      { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_version'], targetLabel: 'version' },
    ]);
    expect(find('PodMonitor')).toBeUndefined();
  });

  test('creates a PodMonitor instead when target is POD', () => {
    const { find } = setup({ target: ScrapeTarget.POD, scrapeInterval: Duration.seconds(15) });
    const pm = find('PodMonitor');
    expect(pm.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'http', interval: '15s' });
    expect(find('ServiceMonitor')).toBeUndefined();
  });

  test('adds the Prometheus selector labels to the scrape object and the PrometheusRule', () => {
    const { find } = setup({ prometheusSelectorLabels: { release: 'kps' } });
    expect(find('ServiceMonitor').metadata.labels.release).toBe('kps');
    expect(find('PrometheusRule').metadata.labels.release).toBe('kps');
  });

  test('alerts: false creates no PrometheusRule', () => {
    const { find, monitoring } = setup({ alerts: false });
    expect(find('PrometheusRule')).toBeUndefined();
    expect(monitoring.alerts).toBeUndefined();
  });

  test('every synthesized object passes schema validation', () => {
    const { objects } = setup({ target: ScrapeTarget.POD });
    expect(validateManifests(objects).issues).toEqual([]);
    const svc = setup();
    expect(validateManifests(svc.objects).issues).toEqual([]);
  });

  test('matches the snapshot', () => {
    const { objects } = setup();
    expect(objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com'))).toMatchSnapshot();
  });

  test('throws if the scrape timeout is longer than the interval', () => {
    expect(() => setup({ scrapeInterval: Duration.seconds(10), scrapeTimeout: Duration.seconds(20) }))
      .toThrow('\'scrapeTimeout\' value \'20s\' is longer than \'scrapeInterval\' \'10s\'; Prometheus rejects that, shorten the timeout');
  });
});

describe('ModelAlerts', () => {
  test('renders all seven alerts into one group named after the model', () => {
    const { monitoring, find } = setup();
    const alerts = monitoring.alerts!;
    expect(alerts.group.name).toBe('modelpilot-recommender');
    expect(alerts.group.rules.map((r) => r.alert)).toEqual([...ALERT_NAMES]);
    expect(find('PrometheusRule').spec.groups).toEqual([alerts.group]);
    expect(find('PrometheusRule').metadata.name).toBe('recommender-alerts');
  });

  test('every alert has model and severity labels and summary, description and runbook_url annotations', () => {
    const alerts = setup().monitoring.alerts!;
    for (const r of alerts.group.rules) {
      expect(r.labels).toMatchObject({ model: 'recommender', namespace: 'ml' });
      expect(['critical', 'warning']).toContain(r.labels.severity);
      expect(Object.keys(r.annotations).sort()).toEqual(['description', 'runbook_url', 'summary']);
      expect(r.annotations.runbook_url).toMatch(new RegExp(`#${r.alert.toLowerCase()}$`));
    }
  });

  test('marks error, latency, target-down, crash-loop and stuck-rollout alerts as rollback-worthy, and only those', () => {
    const alerts = setup().monitoring.alerts!;
    expect(alerts.definitions.filter((d) => d.rollback).map((d) => d.name))
      .toEqual(['ModelHighErrorRate', 'ModelHighLatencyP99', 'ModelTargetDown', 'ModelCrashLooping', 'ModelRolloutStuck']);
    // Always named by a version: a static label.
    const always = alerts.group.rules.filter((r) => r.labels[ACTION_LABEL] === 'rollback').map((r) => r.alert);
    expect(always).toEqual(['ModelHighErrorRate', 'ModelHighLatencyP99', 'ModelCrashLooping']);
    // Sometimes without a version (no target left, no new pod): the expression sets it on the versioned series only.
    for (const name of ['ModelTargetDown', 'ModelRolloutStuck'] as const) {
      expect(alerts.definitions.find((d) => d.name === name)!.rollbackNeedsVersion).toBe(true);
      expect(rule(alerts, name).labels[ACTION_LABEL]).toBeUndefined();
      expect(rule(alerts, name).expr).toMatch(/^label_replace\(.*, "modelpilot_action", "rollback", "version", "\.\+"\)$/);
    }
  });

  test('takes the error and latency thresholds from the Slo, and renders the same PromQL as Slo.metricX()', () => {
    const slo = new Slo({ maxErrorRatio: 0.02, maxP99Latency: Duration.millis(250), window: Duration.minutes(10) });
    const alerts = setup({ alerts: { slo } }).monitoring.alerts!;
    const sel = { model: 'recommender', extraLabels: { namespace: 'ml' } };
    expect(rule(alerts, 'ModelHighErrorRate').expr).toBe(`(${slo.metricErrorRatio(sel)}) > 0.02 and (${slo.metricRequestRate(sel)}) >= 0.1`);
    expect(rule(alerts, 'ModelHighLatencyP99').expr).toContain(`(${slo.metricP99Latency(sel)}) > 0.25 and`);
    expect(rule(alerts, 'ModelHighErrorRate').expr).toContain('[10m]');
    expect(rule(alerts, 'ModelHighErrorRate').annotations.summary).toContain('more than 2% of requests');
  });

  test('uses the model\'s own Slo when none is given', () => {
    const chart = Testing.chart();
    const slo = new Slo({ maxErrorRatio: 0.1 });
    const model = new ModelDeployment(chart, 'Model', { name: 'm', image: 'r.example/m:1.0.0', slo });
    const alerts = new ModelAlerts(chart, 'Alerts', { model });
    expect(alerts.slo).toBe(slo);
    expect(rule(alerts, 'ModelHighErrorRate').expr).toContain('> 0.1 and');
  });

  test.each([
    [Duration.seconds(30), 3, '1m'],
    [Duration.seconds(15), 4, '45s'],
    [Duration.seconds(10), 1, undefined],
  ])('ModelTargetDown waits scrapeInterval %s x (maxFailedScrapes %d - 1) = %s', (interval, failed, expected) => {
    const alerts = setup({ scrapeInterval: interval, alerts: { slo: new Slo({ maxFailedScrapes: failed }) } }).monitoring.alerts!;
    expect(rule(alerts, 'ModelTargetDown').for).toBe(expected);
  });

  test('ModelTargetDown fires on a failed scrape, and on no target at all unless the Deployment is scaled to 0', () => {
    const td = rule(setup().monitoring.alerts!, 'ModelTargetDown');
    expect(td.expr).toBe('label_replace(up{model="recommender",namespace="ml"} == 0'
      + ' or (absent(up{model="recommender",namespace="ml"}) unless on () (kube_deployment_spec_replicas{namespace="ml",deployment="recommender"} == 0)),'
      + ' "modelpilot_action", "rollback", "version", ".+")');
    // absent() keeps only model and namespace: the templates then speak of the model, not a target.
    expect(renderTemplate(td.annotations.summary, { model: 'recommender', namespace: 'ml' })).toBe('recommender has no scrape target');
    expect(renderTemplate(td.annotations.summary, { version: '1.2.0', instance: 'pod-a:8080' })).toBe('recommender 1.2.0 target pod-a:8080 is down');
    expect(renderTemplate(td.annotations.description, {})).toBe('Prometheus has found no target of recommender in ml for 1m (3 scrape intervals of 30s) '
      + 'although Deployment recommender is not scaled to 0: no pod is running, or the Service or ServiceMonitor no longer selects them.');
  });

  test('kube-state-metrics alerts match the Deployment, its pods and the model container, and take the version from the image tag', () => {
    const alerts = setup().monitoring.alerts!;
    const crash = rule(alerts, 'ModelCrashLooping');
    expect(crash.expr).toContain('kube_pod_container_status_restarts_total{namespace="ml",pod=~"recommender-[a-z0-9]+-[a-z0-9]+",container="model"}[10m]) >= 3');
    expect(crash.expr).toMatch(/^label_replace\(.*, "version", "\$1", "image", "\[\^@\]\*:\(\[\^:\/@\]\+\)\(@\.\*\)\?"\)$/);
    const stuck = rule(alerts, 'ModelRolloutStuck');
    expect(stuck.expr).toContain('kube_deployment_spec_replicas{namespace="ml",deployment="recommender"} > kube_deployment_status_replicas_updated');
    expect(stuck.expr).toContain('kube_deployment_status_condition{namespace="ml",deployment="recommender",condition="Progressing",status="false"} == 1');
    expect(stuck.expr).toContain('unless on (namespace, deployment) (kube_deployment_spec_paused{namespace="ml",deployment="recommender"} == 1)');
    // The case with no pod of the new version: per Deployment, only while no pod of it is not ready (else the versioned case speaks).
    expect(stuck.expr).toContain(' or (max by (namespace, deployment) (');
    expect(stuck.expr).toContain('unless on (namespace) (kube_pod_container_status_ready{namespace="ml",pod=~"recommender-[a-z0-9]+-[a-z0-9]+",container="model"} == 0))');
    expect(stuck.for).toBe('10m');
    expect(renderTemplate(stuck.annotations.summary, { namespace: 'ml', deployment: 'recommender' })).toBe('recommender rollout of Deployment recommender is stuck');
    expect(renderTemplate(stuck.annotations.description, { image: 'r.example/recommender:2.0.0', version: '2.0.0' }))
      .toBe('Deployment ml/recommender has not finished rolling out r.example/recommender:2.0.0 for 10m: pods of that version are not ready.');
  });

  test('ModelVersionSkew and ModelUpdaterFailing use their limits', () => {
    const alerts = setup({ alerts: { versionSkewLimit: Duration.minutes(45), updaterFailures: 5, updaterSelector: { job: 'updater' } } }).monitoring.alerts!;
    expect(rule(alerts, 'ModelVersionSkew').for).toBe('45m');
    expect(rule(alerts, 'ModelVersionSkew').expr).toContain('count by (model)');
    expect(rule(alerts, 'ModelUpdaterFailing').expr).toBe('sum(increase(modelpilot_updater_failures_total{job="updater"}[15m])) >= 5');
  });

  test("the updater's own decisions have alerts: rollback, quarantine, degraded, stalled — none asks for a rollback", () => {
    const alerts = setup({ alerts: { updaterSelector: { job: 'updater' }, updaterStalledAfter: Duration.minutes(20) } }).monitoring.alerts!;
    expect(rule(alerts, 'ModelUpdaterRolledBack').expr).toBe('sum(increase(modelpilot_updater_rollbacks_total{job="updater"}[15m])) > 0');
    expect(rule(alerts, 'ModelVersionQuarantined').expr).toBe('max(delta(modelpilot_updater_quarantined_versions{job="updater"}[15m])) > 0');
    expect(rule(alerts, 'ModelUpdaterDegraded').expr).toBe('max(modelpilot_updater_degraded{job="updater"}) == 1');
    expect(rule(alerts, 'ModelUpdaterStalled').expr).toBe('time() - max(modelpilot_updater_last_success_timestamp_seconds{job="updater"}) > 1200');
    for (const name of ['ModelUpdaterRolledBack', 'ModelVersionQuarantined', 'ModelUpdaterDegraded', 'ModelUpdaterStalled'] as const) {
      expect(rule(alerts, name).labels.modelpilot_action).toBeUndefined();
      expect(rule(alerts, name).labels.model).toBeDefined();
    }
    expect(rule(alerts, 'ModelUpdaterDegraded').labels.severity).toBe('critical');
  });

  test('extraLabels are added to every alert', () => {
    const alerts = setup({ alerts: { extraLabels: { team: 'ml-platform' } } }).monitoring.alerts!;
    expect(alerts.group.rules.every((r) => r.labels.team === 'ml-platform')).toBe(true);
  });

  test('throws if maxRestarts is not a whole number of at least 1', () => {
    expect(() => setup({ alerts: { maxRestarts: 0 } })).toThrow('\'maxRestarts\' value 0 must be a whole number of at least 1');
  });

  test('throws if restartWindow is shorter than 1m', () => {
    expect(() => setup({ alerts: { restartWindow: Duration.seconds(30) } }))
      .toThrow('\'restartWindow\' value \'30s\' is shorter than 1m; increase() over shorter windows misses events, use at least Duration.minutes(1)');
  });

  test('throws if an extra label name is not a Prometheus label name', () => {
    expect(() => setup({ alerts: { extraLabels: { 'team-name': 'x' } } }))
      .toThrow('label name \'team-name\' (value \'x\') is not a Prometheus label name; use letters, digits and \'_\'');
  });
});

describe('generated rule tests', () => {
  test('give each alert at least one series that must fire and one that must not', () => {
    const tests = generateRuleTests(setup().monitoring.alerts!);
    for (const name of ALERT_NAMES) {
      const mine = tests.filter((t) => t.alert === name);
      expect(mine.slice(0, 2).map((t) => t.expectFiring)).toEqual([true, false]);
      // A firing case expects alerts at its last evaluation; a quiet one expects none at any evaluation.
      expect(mine.filter((t) => t.expectFiring).every((t) => t.testCase.alert_rule_test.slice(-1)[0].exp_alerts.length > 0)).toBe(true);
      expect(mine.filter((t) => !t.expectFiring).every((t) => t.testCase.alert_rule_test.every((x) => x.exp_alerts.length === 0))).toBe(true);
    }
    expect(tests.map((t) => t.testCase.name)).toHaveLength(new Set(tests.map((t) => t.testCase.name)).size);
  });

  test('cover every target gone and a rollout with no new pod, with versionless alerts that carry no rollback action', () => {
    const tests = generateRuleTests(setup().monitoring.alerts!);
    const byName = (n: string) => tests.find((t) => t.testCase.name === n)!;
    expect(tests.filter((t) => t.alert === 'ModelTargetDown').map((t) => t.testCase.name)).toEqual([
      'ModelTargetDown fires: 3 consecutive failed scrapes',
      'ModelTargetDown stays quiet: 2 consecutive failed scrapes',
      'ModelTargetDown fires: no target for 3 scrape intervals',
      'ModelTargetDown stays quiet: no target for 2 scrape intervals',
      'ModelTargetDown stays quiet: no target with the Deployment scaled to 0',
    ]);
    expect(tests.filter((t) => t.alert === 'ModelRolloutStuck').map((t) => t.testCase.name)).toEqual([
      'ModelRolloutStuck fires: rollout unfinished for 10m',
      'ModelRolloutStuck stays quiet: rollout finishing within the timeout',
      'ModelRolloutStuck fires: no pod of the new version for 10m',
      'ModelRolloutStuck stays quiet: the new pod created within the timeout',
      'ModelRolloutStuck fires: Progressing=False with the new pod unscheduled',
      'ModelRolloutStuck stays quiet: the Deployment is paused',
    ]);
    const gone = byName('ModelTargetDown fires: no target for 3 scrape intervals').testCase;
    // The target's up series goes stale at the third sample; the alert fires at the third missed scrape.
    expect(gone.input_series[0]).toEqual({ series: expect.stringMatching(/^up\{/), values: '1 1 stale _ _' });
    expect(gone.alert_rule_test).toEqual([expect.objectContaining({ eval_time: '120s' })]);
    expect(gone.alert_rule_test[0].exp_alerts[0].exp_labels).toEqual({ model: 'recommender', namespace: 'ml', severity: 'critical' });
    const noPod = byName('ModelRolloutStuck fires: no pod of the new version for 10m').testCase;
    // Only the old pod has a container (ready); the Deployment has 1 of 2 replicas updated.
    expect(noPod.input_series.filter((x) => x.series.startsWith('kube_pod_')).map((x) => x.series))
      .toEqual([expect.stringContaining('pod="recommender-7d4b9c-old01"'), expect.stringContaining('pod="recommender-7d4b9c-old01"')]);
    expect(noPod.alert_rule_test[0].exp_alerts[0].exp_labels).toEqual({ namespace: 'ml', deployment: 'recommender', model: 'recommender', severity: 'warning' });
    // The versioned cases still name the version and ask for a rollback.
    expect(byName('ModelTargetDown fires: 3 consecutive failed scrapes').testCase.alert_rule_test[0].exp_alerts[0].exp_labels)
      .toMatchObject({ version: '2.0.0', modelpilot_action: 'rollback' });
    expect(byName('ModelRolloutStuck fires: rollout unfinished for 10m').testCase.alert_rule_test[0].exp_alerts[0].exp_labels)
      .toMatchObject({ version: '2.0.0', modelpilot_action: 'rollback' });
  });

  test('skip the "no target for one interval less" case when one failed scrape fires', () => {
    const tests = generateRuleTests(setup({ alerts: { slo: new Slo({ maxFailedScrapes: 1 }) } }).monitoring.alerts!);
    expect(tests.filter((t) => t.alert === 'ModelTargetDown').map((t) => t.testCase.name)).toEqual([
      'ModelTargetDown fires: 1 consecutive failed scrapes',
      'ModelTargetDown stays quiet: 0 consecutive failed scrapes',
      'ModelTargetDown fires: no target for 1 scrape intervals',
      'ModelTargetDown stays quiet: no target with the Deployment scaled to 0',
    ]);
  });

  test('drive errors at 6 % and 4 % and latency at 1.2 s and 0.8 s for the default Slo', () => {
    const tests = generateRuleTests(setup().monitoring.alerts!);
    const names = tests.map((t) => t.testCase.name);
    expect(names).toContain('ModelHighErrorRate fires: 6 % errors over 5m');
    expect(names).toContain('ModelHighErrorRate stays quiet: 4 % errors over 5m');
    expect(names).toContain('ModelHighLatencyP99 fires: every request takes 1.2s (p99 1.198s)');
    expect(names).toContain('ModelHighLatencyP99 stays quiet: every request takes 0.8s (p99 0.797s)');
    expect(names).toContain('ModelTargetDown fires: 3 consecutive failed scrapes');
    expect(names).toContain('ModelTargetDown stays quiet: 2 consecutive failed scrapes');
  });

  test('the firing error-rate case expects the rule labels and rendered annotations exactly', () => {
    const alerts = setup().monitoring.alerts!;
    const fire = generateRuleTests(alerts)[0].testCase.alert_rule_test.slice(-1)[0].exp_alerts[0];
    expect(fire.exp_labels).toEqual({ model: 'recommender', version: '2.0.0', namespace: 'ml', severity: 'critical', modelpilot_action: 'rollback' });
    expect(fire.exp_annotations.description).toBe('recommender 2.0.0 in ml answered 6% of requests with 5xx over the last 5m (ceiling 5%, at least 0.1 req/s).');
  });
});

describe('template rendering', () => {
  test.each([
    [0.06, '6%'], [0.123456, '12.35%'], [1, '100%'],
  ])('humanizePercentage(%p) = %s', (v, s) => {
    expect(renderTemplate('{{ $value | humanizePercentage }}', {}, v)).toBe(s);
  });

  test.each([
    [1.198, '1.198s'], [0.797, '797ms'], [0.0025, '2.5ms'], [0, '0s'],
  ])('humanizeDuration(%p) = %s', (v, s) => {
    expect(humanizeDuration(v)).toBe(s);
  });

  test('fmtG keeps four significant digits like Go', () => {
    expect(fmtG(6.000000000000001)).toBe('6');
    expect(fmtG(2.3456)).toBe('2.346');
  });

  test.each<[Record<string, string>, string, string]>([
    [{ x: 'a' }, 'yes a', '[a]'], [{ x: '' }, 'no', '[]'], [{}, 'no', '[]'],
  ])('{{ if $labels.x }} with labels %p renders %s', (labels, withElse, withoutElse) => {
    expect(renderTemplate('{{ if $labels.x }}yes {{ $labels.x }}{{ else }}no{{ end }}', labels)).toBe(withElse);
    expect(renderTemplate('[{{ if $labels.x }}{{ $labels.x }}{{ end }}]', labels)).toBe(withoutElse);
  });

  test('throws if a template uses a form the generator does not know', () => {
    expect(() => renderTemplate('{{ $value | humanize }}', {}, 1)).toThrow('template \'{{ $value | humanize }}\' is not supported by the generated rule tests');
  });
});
