import { ACTION_LABEL, ROLLBACK_ACTION } from '../core/contract/names';
import { toPromDuration } from '../core/duration';
import { ModelServerProps, scrapedLabels } from '../core/model-server';
import { LlmObjective } from '../core/slo';
import { AlertName, LLM_ALERT_NAMES, ModelAlerts } from './model-alerts';

/** One input series of a promtool unit test. */
export interface PromtoolSeries {
  readonly series: string;
  readonly values: string;
}

/** One expected alert. */
export interface PromtoolExpectedAlert {
  readonly exp_labels: Record<string, string>;
  readonly exp_annotations: Record<string, string>;
}

/** One `tests[]` entry of a promtool rule test file. */
export interface PromtoolTestCase {
  readonly name: string;
  readonly interval: string;
  readonly input_series: PromtoolSeries[];
  readonly alert_rule_test: Array<{ eval_time: string; alertname: string; exp_alerts: PromtoolExpectedAlert[] }>;
}

/** A promtool rule test file (`promtool test rules <file>`). */
export interface PromtoolTestFile {
  readonly rule_files: string[];
  readonly evaluation_interval: string;
  readonly tests: PromtoolTestCase[];
}

/** A generated test: which alert, whether it must fire, and the promtool test case. */
export interface GeneratedRuleTest {
  readonly alert: AlertName;
  readonly expectFiring: boolean;
  readonly testCase: PromtoolTestCase;
}

/** Versions the generated series use: the one under test, and an older one still serving. */
const BAD = '2.0.0';
const OLD = '1.0.0';

/**
 * For each alert of `alerts`, a series that must make it fire and one just on the safe side of the threshold
 * that must not: 1.2 × and 0.8 × the error-ratio ceiling (6 % / 4 % by default), every request at 1.2 × / 0.8 ×
 * the p99 ceiling, `maxFailedScrapes` / one fewer failed scrapes, `maxRestarts` / one fewer restarts, a rollout
 * stuck past / finishing within `rolloutTimeout`, two versions serving past / one draining within
 * `versionSkewLimit`, and `updaterFailures` / one fewer updater failures. Two alerts have more cases:
 * `ModelTargetDown` also fires when every target is gone from service discovery for `maxFailedScrapes` scrape
 * intervals, and stays quiet when they are gone one interval less or the Deployment is scaled to 0;
 * `ModelRolloutStuck` also fires when no pod of the new version is created past the timeout or the Deployment
 * reports `Progressing=False`, and stays quiet when the pod comes within the timeout or the Deployment is
 * paused. The expected alerts name every label and annotation exactly, so a change to a rule's labels or
 * templates is caught too.
 */
export function generateRuleTests(alerts: ModelAlerts): GeneratedRuleTest[] {
  const g = new Generator(alerts);
  return [
    g.errorRate(true), g.errorRate(false),
    g.latency(true), g.latency(false),
    ...alerts.slo.llmObjectives.flatMap((o) => [g.llm(o, true), g.llm(o, false)]),
    g.targetDown(true), g.targetDown(false),
    g.targetsGone(true), ...(alerts.slo.maxFailedScrapes > 1 ? [g.targetsGone(false)] : []), g.targetsScaledToZero(),
    g.crashLooping(true), g.crashLooping(false),
    g.rolloutStuck(true), g.rolloutStuck(false),
    g.rolloutNoNewPod(true), g.rolloutNoNewPod(false), g.rolloutProgressDeadline(), g.rolloutPaused(),
    g.versionSkew(true), g.versionSkew(false),
    g.updaterFailing(true), g.updaterFailing(false),
    g.updaterRolledBack(true), g.updaterRolledBack(false),
    g.versionQuarantined(true), g.versionQuarantined(false),
    g.updaterDegraded(true), g.updaterDegraded(false),
    g.updaterStalled(true), g.updaterStalled(false),
  ];
}

/** A promtool test file holding the given tests against `ruleFile`. */
export function ruleTestFile(alerts: ModelAlerts, ruleFile: string, tests: readonly GeneratedRuleTest[]): PromtoolTestFile {
  return {
    rule_files: [ruleFile],
    evaluation_interval: toPromDuration(alerts.evaluationInterval ?? alerts.scrapeInterval),
    tests: tests.map((t) => t.testCase),
  };
}

class Generator {
  private readonly i: number;
  private readonly m: ModelAlerts;
  private readonly ns: string;
  private readonly model: string;

  constructor(alerts: ModelAlerts) {
    this.m = alerts;
    this.i = alerts.scrapeInterval.toMilliseconds() / 1000;
    this.ns = alerts.model.namespace;
    this.model = alerts.model.modelName;
  }

  /** Requests per interval: at least twice the SLO's minimum request rate, and a multiple of 1000. */
  private get perInterval(): number {
    return 1000 * Math.max(1, Math.ceil((2 * this.m.slo.minRequestRate * this.i) / 1000));
  }

  private modelLabels(version: string): Record<string, string> {
    return { model: this.model, version, namespace: this.ns, job: this.model, instance: 'pod-a:8080' };
  }

  /** kube-state-metrics' labels of the model's Deployment. */
  private get deployment(): Record<string, string> {
    return { namespace: this.ns, deployment: this.m.model.deploymentName };
  }

  private samples(evalSeconds: number): number {
    return Math.ceil(evalSeconds / this.i) + 2;
  }

  public errorRate(fire: boolean): GeneratedRuleTest {
    const slo = this.m.slo;
    const total = this.perInterval;
    const errors = Number((total * slo.maxErrorRatio * (fire ? 1.2 : 0.8)).toFixed(6));
    const evalS = slo.window.toSeconds() + this.m.sustainFor.toSeconds() + 3 * this.i;
    const n = this.samples(evalS);
    const l = this.modelLabels(BAD);
    const pct = `${fmtG(errors / total * 100)} %`;
    return this.test('ModelHighErrorRate', fire, `${pct} errors over ${slo.promWindow}`, evalS,
      this.traffic(l, Number((total - errors).toFixed(6)), errors, n), [{ model: this.model, version: BAD }], errors / total);
  }

  public latency(fire: boolean): GeneratedRuleTest {
    const slo = this.m.slo;
    const q = slo.maxP99Seconds;
    const observed = q * (fire ? 1.2 : 0.8);
    const total = this.perInterval;
    const evalS = slo.window.toSeconds() + this.m.sustainFor.toSeconds() + 3 * this.i;
    const n = this.samples(evalS);
    const l = this.modelLabels(BAD);
    const shape = slo.server.latency;
    if (shape.kind === 'mean') {
      // Total time and count: every request takes `observed`, so the mean is `observed` itself.
      const sum = this.example.latency ?? { metric: typeof shape.sum.metric === 'string' ? shape.sum.metric : shape.sum.metric[0] };
      const input = [...this.traffic(l, total, 0, n),
        { series: series(sum.metric, this.scraped(l, sum.labels)), values: `0+${Number((total * observed / (shape.unitSeconds ?? 1)).toFixed(6))}x${n}` }];
      return this.test('ModelHighLatencyP99', fire, `every request takes ${fmtG(observed)}s (mean ${fmtG(observed)}s)`, evalS, input,
        [{ model: this.model, version: BAD }], observed);
    }
    const h = this.example.latency ?? { metric: shape.metric };
    const { buckets, p99 } = this.histogramAt(h.metric, this.scraped(l, h.labels), q, observed, total, n, shape.unitSeconds);
    const input = [...this.traffic(l, total, 0, n), ...buckets];
    return this.test('ModelHighLatencyP99', fire, `every request takes ${fmtG(observed)}s (p99 ${fmtG(p99)}s)`, evalS, input,
      [{ model: this.model, version: BAD }], p99);
  }

  /**
   * An LLM objective's alert: every observation of its histogram at 1.2 × / 0.8 × the ceiling (time per output
   * token, for the tokens-per-second floor: 1 / (0.8 × …) and 1 / (1.2 × …) tokens/s), beside steady traffic.
   */
  public llm(o: LlmObjective, fire: boolean): GeneratedRuleTest {
    const slo = this.m.slo;
    const metric = slo.server.llmMetric(o.field);
    const total = this.perInterval;
    const evalS = slo.window.toSeconds() + this.m.sustainFor.toSeconds() + 3 * this.i;
    const n = this.samples(evalS);
    const l = this.modelLabels(BAD);
    const extra = this.example.llmLabels ?? {};
    const alert = LLM_ALERT_NAMES[o.field];
    if (o.direction === 'min') {
      // each token takes 1 / (speed) seconds; fire: 0.8 × the floor
      const perToken = 1 / (o.bound * (fire ? 0.8 : 1.2));
      const tokens = 10 * total;
      return this.test(alert, fire, `${fmtG(1 / perToken)} tokens/s per stream`, evalS, [
        ...this.traffic(l, total, 0, n),
        { series: series(`${metric}_count`, this.scraped(l, extra)), values: `0+${tokens}x${n}` },
        { series: series(`${metric}_sum`, this.scraped(l, extra)), values: `0+${Number((tokens * perToken).toFixed(9))}x${n}` },
      ], [{ model: this.model, version: BAD }], 1 / perToken);
    }
    const observed = o.bound * (fire ? 1.2 : 0.8);
    const { buckets, p99 } = this.histogramAt(metric, this.scraped(l, extra), o.bound, observed, total, n);
    return this.test(alert, fire, `every observation ${fmtG(observed)}s`, evalS, [...this.traffic(l, total, 0, n), ...buckets],
      [{ model: this.model, version: BAD }], p99);
  }

  /**
   * A histogram `metric` (in `unit` seconds) with `total` observations per interval, every one at `observed`
   * seconds, in buckets at 0.5, 0.8, 1, 1.2 and 2.5 × the ceiling `q`; and the p99 histogram_quantile gives
   * (it interpolates linearly inside the bucket that holds every observation).
   */
  private histogramAt(metric: string, labels: Record<string, string>, q: number, observed: number, total: number, n: number,
    unit = 1): { buckets: PromtoolSeries[]; p99: number } {
    const bounds = [q * 0.5, q * 0.8, q, q * 1.2, q * 2.5];
    const buckets = [...bounds.map((b) => String(Number((b / unit).toPrecision(12)))), '+Inf'].map((le, k) => ({
      series: series(`${metric}_bucket`, { ...labels, le }),
      values: k === bounds.length || bounds[k] >= observed ? `0+${total}x${n}` : `0x${n}`,
    }));
    const upper = bounds.find((b) => b >= observed)!;
    const lower = bounds[bounds.indexOf(upper) - 1] ?? 0;
    return { buckets, p99: lower + (upper - lower) * 0.99 };
  }

  /** The profile's description of one success and one failure, or an error saying how to give one. */
  private get example(): NonNullable<ModelServerProps['example']> & { llmLabels?: Record<string, string> } {
    const ex = this.m.slo.server.example;
    if (!ex) {
      throw new Error(`server '${this.m.slo.server.name}' has no 'example' (how it writes one success and one failure); `
        + 'give one in ModelServer.custom({ example: { success: [...], failure: [...] } }) to generate rule tests');
    }
    return { ...ex, llmLabels: ex.latency?.labels };
  }

  /** Labels of a server's series after the scrape: the target's win; the server's own clashing ones become `exported_*`. */
  private scraped(target: Record<string, string>, own: Record<string, string> = {}): Record<string, string> {
    return scrapedLabels(this.m.slo.server, target, own);
  }

  /**
   * The server's request series for `ok` successes and `err` failures per interval, in its own shape (one series
   * may count both: TGI's `tgi_request_count`). `okValues` replaces the values of series that count successes only.
   */
  private traffic(l: Record<string, string>, ok: number, err: number, n: number, okValues?: string): PromtoolSeries[] {
    const ex = this.example;
    const seen = new Map<string, { ok: number; err: number }>();
    for (const [list, kind] of [[ex.success, 'ok'], [ex.failure, 'err']] as const) {
      for (const e of list) {
        const key = series(e.metric, this.scraped(l, e.labels));
        const c = seen.get(key) ?? { ok: 0, err: 0 };
        c[kind] += 1;
        seen.set(key, c);
      }
    }
    return [...seen].map(([key, c]) => ({ key, inc: Number((c.ok * ok + c.err * err).toFixed(6)), onlyOk: c.err === 0 || err === 0 }))
      .filter((x) => x.inc > 0)
      .map((x) => ({ series: x.key, values: okValues && x.onlyOk ? okValues : `0+${x.inc}x${n}` }));
  }

  public targetDown(fire: boolean): GeneratedRuleTest {
    const max = this.m.slo.maxFailedScrapes;
    const failed = fire ? max : max - 1;
    const values = ['1', '1', ...Array(failed).fill('0'), ...(fire ? ['0', '0'] : ['1', '1', '1'])].join(' ');
    const l = this.modelLabels(BAD);
    // The Nth failed scrape lands at sample index 1 + N.
    const evalS = (1 + max) * this.i;
    // Quiet: also at the last failed scrape, where a too-short `for` would already fire.
    return this.test('ModelTargetDown', fire, `${failed} consecutive failed scrapes`, evalS, [{ series: series('up', l), values }],
      [{ ...l, ...ROLLBACK }], undefined, fire ? [] : [Math.max(1, max) * this.i]);
  }

  /**
   * Every target leaves service discovery (its `up` series goes stale) at sample 2 while the Deployment still
   * wants 2 replicas: fires at the `maxFailedScrapes`-th missed scrape; quiet when one comes back one interval
   * earlier (needs `maxFailedScrapes` ≥ 2). The alert names no version, so it carries no rollback action.
   */
  public targetsGone(fire: boolean): GeneratedRuleTest {
    const max = this.m.slo.maxFailedScrapes;
    const missed = fire ? max : max - 1;
    const evalS = (1 + max) * this.i;
    const n = this.samples(evalS);
    const values = ['1', '1', 'stale', ...Array(Math.max(0, missed - 1)).fill('_'), ...(fire ? [] : ['1', '1', '1'])].join(' ');
    return this.test('ModelTargetDown', fire, `no target for ${missed} scrape intervals`, evalS, [
      { series: series('up', this.modelLabels(BAD)), values },
      { series: series('kube_deployment_spec_replicas', this.deployment), values: `2x${n}` },
    ], [{ model: this.model, namespace: this.ns }], undefined, fire ? [] : [max * this.i]);
  }

  /** Every target gone because the Deployment was scaled to 0: no alert. */
  public targetsScaledToZero(): GeneratedRuleTest {
    const evalS = (1 + this.m.slo.maxFailedScrapes) * this.i;
    const n = this.samples(evalS);
    return this.test('ModelTargetDown', false, 'no target with the Deployment scaled to 0', evalS, [
      { series: series('up', this.modelLabels(BAD)), values: '1 1 stale' },
      { series: series('kube_deployment_spec_replicas', this.deployment), values: `2 0x${n}` },
    ], []);
  }

  public crashLooping(fire: boolean): GeneratedRuleTest {
    const restarts = fire ? this.m.maxRestarts : this.m.maxRestarts - 1;
    const pod = `${this.m.model.deploymentName}-7d4b9c-x2x4q`;
    const container = this.m.model.containerName;
    const image = `registry.example:5000/${this.model}:${BAD}`;
    const l = { namespace: this.ns, pod, container };
    return this.test('ModelCrashLooping', fire, `${restarts} restarts in ${toPromDuration(this.m.restartWindow)}`, 3 * this.i, [
      { series: series('kube_pod_container_status_restarts_total', l), values: `0 0 ${restarts} ${restarts} ${restarts}` },
      { series: series('kube_pod_container_info', { ...l, image }), values: '1x5' },
    ], [{ ...l, image, version: BAD }]);
  }

  public rolloutStuck(fire: boolean): GeneratedRuleTest {
    const dep = this.m.model.deploymentName;
    const container = this.m.model.containerName;
    const timeoutS = this.m.rolloutTimeout.toSeconds();
    const evalS = timeoutS + 3 * this.i;
    const n = this.samples(evalS);
    const half = Math.max(1, Math.floor(timeoutS / 2 / this.i));
    const newPod = { namespace: this.ns, pod: `${dep}-5f6d8b-new01`, container };
    const oldPod = { namespace: this.ns, pod: `${dep}-7d4b9c-old01`, container };
    const newImage = `registry.example:5000/${this.model}:${BAD}`;
    const d = { namespace: this.ns, deployment: dep };
    const stepAt = (before: number, after: number) => `${before}x${half} ${after}x${n - half}`;
    return this.test('ModelRolloutStuck', fire,
      fire ? `rollout unfinished for ${toPromDuration(this.m.rolloutTimeout)}` : 'rollout finishing within the timeout', evalS, [
        { series: series('kube_deployment_spec_replicas', d), values: `2x${n}` },
        { series: series('kube_deployment_status_replicas_updated', d), values: fire ? `1x${n}` : stepAt(1, 2) },
        { series: series('kube_pod_container_info', { ...newPod, image: newImage }), values: `1x${n}` },
        { series: series('kube_pod_container_info', { ...oldPod, image: `registry.example:5000/${this.model}:${OLD}` }), values: `1x${n}` },
        { series: series('kube_pod_container_status_ready', newPod), values: fire ? `0x${n}` : stepAt(0, 1) },
        { series: series('kube_pod_container_status_ready', oldPod), values: `1x${n}` },
      ], [{ namespace: this.ns, image: newImage, version: BAD, ...ROLLBACK }], undefined, fire ? [] : [half * this.i]);
  }

  /** Series of a rollout with no container of the new version: the Deployment's, and an old pod that stays ready. */
  private rolloutWithoutNewPod(ksm: Array<[metric: string, values: string, labels?: Record<string, string>]>, n: number): PromtoolSeries[] {
    const oldPod = { namespace: this.ns, pod: `${this.m.model.deploymentName}-7d4b9c-old01`, container: this.m.model.containerName };
    return [
      ...ksm.map(([metric, values, labels]) => ({ series: series(metric, { ...this.deployment, ...labels }), values })),
      { series: series('kube_pod_container_info', { ...oldPod, image: `registry.example:5000/${this.model}:${OLD}` }), values: `1x${n}` },
      { series: series('kube_pod_container_status_ready', oldPod), values: `1x${n}` },
    ];
  }

  /**
   * No pod of the new version is created (a quota): 1 of 2 replicas updated past the timeout fires, naming the
   * Deployment and no version; the pod coming within half the timeout stays quiet.
   */
  public rolloutNoNewPod(fire: boolean): GeneratedRuleTest {
    const timeoutS = this.m.rolloutTimeout.toSeconds();
    const evalS = timeoutS + 3 * this.i;
    const n = this.samples(evalS);
    const half = Math.max(1, Math.floor(timeoutS / 2 / this.i));
    return this.test('ModelRolloutStuck', fire,
      fire ? `no pod of the new version for ${toPromDuration(this.m.rolloutTimeout)}` : 'the new pod created within the timeout', evalS,
      this.rolloutWithoutNewPod([
        ['kube_deployment_spec_replicas', `2x${n}`],
        ['kube_deployment_status_replicas_updated', fire ? `1x${n}` : `1x${half} 2x${n - half}`],
      ], n), [this.deployment], undefined, fire ? [] : [half * this.i]);
  }

  /** Every new pod is created but none scheduled (1 replica, 1 updated) and the Deployment reports Progressing=False. */
  public rolloutProgressDeadline(): GeneratedRuleTest {
    const evalS = this.m.rolloutTimeout.toSeconds() + 3 * this.i;
    const n = this.samples(evalS);
    return this.test('ModelRolloutStuck', true, 'Progressing=False with the new pod unscheduled', evalS, this.rolloutWithoutNewPod([
      ['kube_deployment_spec_replicas', `1x${n}`],
      ['kube_deployment_status_replicas_updated', `1x${n}`],
      ['kube_deployment_status_condition', `1x${n}`, { condition: 'Progressing', status: 'false' }],
    ], n), [this.deployment]);
  }

  /** A paused Deployment (1 of 2 replicas updated) is not a stuck rollout. */
  public rolloutPaused(): GeneratedRuleTest {
    const evalS = this.m.rolloutTimeout.toSeconds() + 3 * this.i;
    const n = this.samples(evalS);
    return this.test('ModelRolloutStuck', false, 'the Deployment is paused', evalS, this.rolloutWithoutNewPod([
      ['kube_deployment_spec_replicas', `2x${n}`],
      ['kube_deployment_status_replicas_updated', `1x${n}`],
      ['kube_deployment_spec_paused', `1x${n}`],
    ], n), []);
  }

  public versionSkew(fire: boolean): GeneratedRuleTest {
    const slo = this.m.slo;
    const limitS = this.m.versionSkewLimit.toSeconds();
    const evalS = Math.max(limitS, slo.window.toSeconds() + 2 * this.i) + 3 * this.i;
    const n = this.samples(evalS);
    const total = this.perInterval;
    // The old version drains after two intervals in the quiet case.
    const oldValues = fire ? `0+${total}x${n}` : `0+${total}x2 ${2 * total}x${n - 2}`;
    return this.test('ModelVersionSkew', fire, fire ? `${OLD} and ${BAD} serving past the limit` : `${OLD} drained within the limit`, evalS, [
      ...this.traffic(this.modelLabels(OLD), total, 0, n, oldValues),
      ...this.traffic(this.modelLabels(BAD), total, 0, n),
    ], [{ model: this.model, version: OLD }, { model: this.model, version: BAD }], undefined,
    // Quiet: also while the old version's rate still shows over the window (its last moment of traffic).
    fire ? [] : [slo.window.toSeconds() - this.i]);
  }

  /**
   * The series of this stack's updater, and — when its alerts are scoped to it (`updaterSelector`) — of another
   * updater in the same Prometheus doing the opposite: a case then fails if the rule reads the other one.
   */
  private updaterSeries(metric: string, mine: string, other: string): PromtoolSeries[] {
    const own = { job: 'modelpilot-updater', instance: 'updater:8080', ...this.m.updaterSelector };
    const out: PromtoolSeries[] = [{ series: series(metric, own), values: mine }];
    if (Object.keys(this.m.updaterSelector).length > 0) {
      out.push({ series: series(metric, { job: 'other-team/modelpilot-updater', namespace: 'other-team', instance: 'other:8080' }), values: other });
    }
    return out;
  }

  public updaterFailing(fire: boolean): GeneratedRuleTest {
    const failures = fire ? this.m.updaterFailures : this.m.updaterFailures - 1;
    const many = 3 * this.m.updaterFailures;
    return this.test('ModelUpdaterFailing', fire, `${failures} updater failures in ${toPromDuration(this.m.updaterWindow)}`, 3 * this.i,
      this.updaterSeries('modelpilot_updater_failures_total', `0 0 ${failures} ${failures} ${failures}`, fire ? '0 0 0 0 0' : `0 0 ${many} ${many} ${many}`), [{}]);
  }

  public updaterRolledBack(fire: boolean): GeneratedRuleTest {
    return this.test('ModelUpdaterRolledBack', fire, fire ? 'a rollback counted' : 'no rollback counted', 3 * this.i,
      this.updaterSeries('modelpilot_updater_rollbacks_total', fire ? '0 0 1 1 1' : '0 0 0 0 0', fire ? '0 0 0 0 0' : '0 0 1 1 1'), [{}]);
  }

  public versionQuarantined(fire: boolean): GeneratedRuleTest {
    return this.test('ModelVersionQuarantined', fire, fire ? 'the quarantine grew' : 'a standing quarantine, unchanged', 3 * this.i,
      this.updaterSeries('modelpilot_updater_quarantined_versions', fire ? '0 0 1 1 1' : '1 1 1 1 1', fire ? '1 1 1 1 1' : '0 0 1 1 1'), [{}]);
  }

  public updaterDegraded(fire: boolean): GeneratedRuleTest {
    return this.test('ModelUpdaterDegraded', fire, fire ? 'degraded' : 'not degraded', 3 * this.i,
      this.updaterSeries('modelpilot_updater_degraded', fire ? '0 0 1 1 1' : '0 0 0 0 0', fire ? '0 0 0 0 0' : '0 0 1 1 1'), [{}], fire ? 1 : undefined);
  }

  public updaterStalled(fire: boolean): GeneratedRuleTest {
    const limit = this.m.updaterStalledAfter.toMilliseconds() / 1000;
    const evalS = Math.ceil((limit + 2 * this.i) / this.i) * this.i;
    const n = evalS / this.i;
    // quiet: every sample is the time it was taken (a cycle completes each scrape); fire: stuck at the start —
    // while another updater completes its cycles (an unscoped max() would hide the stalled one)
    return this.test('ModelUpdaterStalled', fire, fire ? `no completed cycle for ${evalS}s` : 'a cycle completes every scrape', evalS,
      this.updaterSeries('modelpilot_updater_last_success_timestamp_seconds', fire ? `0x${n}` : `0+${this.i}x${n}`, fire ? `0+${this.i}x${n}` : `0x${n}`), [{}]);
  }

  /**
   * Builds the case. `outputs` are the label sets of the expression's result series (what `$labels` holds in the
   * templates); the expected alert labels add the rule's static labels on top.
   */
  private test(alert: AlertName, fire: boolean, condition: string, evalS: number, input: PromtoolSeries[],
    outputs: Array<Record<string, string>>, value?: number, alsoQuietAt: number[] = []): GeneratedRuleTest {
    const rule = this.m.rule(alert);
    const expected = fire ? outputs.map((out) => ({
      exp_labels: { ...out, ...rule.labels },
      exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, t]) => [k, renderTemplate(t, out, value)])),
    })) : [];
    return {
      alert,
      expectFiring: fire,
      testCase: {
        name: `${alert} ${fire ? 'fires' : 'stays quiet'}: ${condition}`,
        interval: toPromDuration(this.m.scrapeInterval),
        input_series: input,
        alert_rule_test: [
          ...[...new Set(alsoQuietAt)].filter((t) => t > 0 && t < evalS).sort((a, b) => a - b)
            .map((t) => ({ eval_time: `${t}s`, alertname: alert, exp_alerts: [] })),
          { eval_time: `${evalS}s`, alertname: alert, exp_alerts: expected },
        ],
      },
    };
  }
}

/** The `modelpilot_action` label the rules set on the series that name a version. */
const ROLLBACK = { [ACTION_LABEL]: ROLLBACK_ACTION };

function series(name: string, labels: Record<string, string>): string {
  const body = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',');
  return `${name}{${body}}`;
}

/**
 * Renders the few template forms ModelAlerts uses, as Prometheus would: `{{ $labels.x }}`,
 * `{{ $value | humanizePercentage }}`, `{{ $value | humanizeDuration }}` and (not nested)
 * `{{ if $labels.x }}…{{ else }}…{{ end }}` (a missing or empty label is false).
 */
export function renderTemplate(template: string, labels: Record<string, string>, value?: number): string {
  const chosen = template.replace(/\{\{\s*if\s+\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}(.*?)(?:\{\{\s*else\s*\}\}(.*?))?\{\{\s*end\s*\}\}/gs,
    (_all, label: string, then: string, otherwise?: string) => (labels[label] ? then : (otherwise ?? '')));
  return chosen.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_all, inner: string) => {
    const label = /^\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)$/.exec(inner);
    if (label) return labels[label[1]] ?? '';
    if (value !== undefined && inner === '$value | humanizePercentage') return `${fmtG(value * 100)}%`;
    if (value !== undefined && inner === '$value | humanizeDuration') return humanizeDuration(value);
    if (value !== undefined && inner === '$value | printf "%.4g"') return fmtG(value);
    throw new Error(`template '{{ ${inner} }}' is not supported by the generated rule tests`);
  });
}

/** Go's `%.4g` for the magnitudes alert values take (1e-4 ≤ |v| < 1e4). */
export function fmtG(v: number): string {
  return String(Number(v.toPrecision(4)));
}

/** Prometheus' `humanizeDuration` for values below one minute. */
export function humanizeDuration(v: number): string {
  if (v === 0) return '0s';
  if (Math.abs(v) >= 1) {
    if (Math.abs(v) >= 60) throw new Error(`humanizeDuration of ${v}s (a minute or more) is not supported by the generated rule tests`);
    return `${fmtG(v)}s`;
  }
  let prefix = '';
  for (const p of ['m', 'u', 'n', 'p']) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return `${fmtG(v)}${prefix}s`;
}
