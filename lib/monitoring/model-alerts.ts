import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { checkProps } from '../core/checks';
import { ACTION_LABEL, ROLLBACK_ACTION } from '../core/contract/names';
import { Duration, toPromDuration } from '../core/duration';
import { Slo } from '../core/slo';
import { promMatchers } from '../core/slo';
import { addWarning } from '../validation/warnings';
import { MonitoredModel, objectLabels } from './monitored-model';

/** Alert severities; routes match on them. */
export enum Severity {
  /** Someone must act now (paged). */
  CRITICAL = 'critical',
  /** Someone should look soon (chat). */
  WARNING = 'warning',
  /** For dashboards and the record only. */
  INFO = 'info',
}


/** How alerts name each LLM objective. */
const LLM_WORDS: Record<keyof typeof LLM_ALERT_NAMES, string> = {
  maxP99TimeToFirstToken: 'p99 time to first token',
  maxP99TimePerOutputToken: 'p99 time per output token',
  maxP99QueueTime: 'p99 queue time',
  minTokensPerSecond: 'generation speed',
};

/** Names of the alerts every model gets (the public contract: routes, inhibitions and runbooks use them). */
export const ALERT_NAMES = [
  'ModelHighErrorRate',
  'ModelHighLatencyP99',
  'ModelTargetDown',
  'ModelCrashLooping',
  'ModelRolloutStuck',
  'ModelVersionSkew',
  'ModelUpdaterFailing',
  'ModelUpdaterRolledBack',
  'ModelVersionQuarantined',
  'ModelUpdaterDegraded',
  'ModelUpdaterStalled',
] as const;

/** Alerts of the LLM objectives, each present when its `Slo` field is set (`maxP99TimeToFirstToken`, …). */
export const LLM_ALERT_NAMES = {
  maxP99TimeToFirstToken: 'ModelHighTimeToFirstToken',
  maxP99TimePerOutputToken: 'ModelHighTimePerOutputToken',
  maxP99QueueTime: 'ModelHighQueueTime',
  minTokensPerSecond: 'ModelLowTokensPerSecond',
} as const;
export type AlertName = typeof ALERT_NAMES[number] | typeof LLM_ALERT_NAMES[keyof typeof LLM_ALERT_NAMES];

/** One Prometheus alerting rule, as a rule file (and a PrometheusRule's `spec.groups[].rules`) writes it. */
export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** One rule group. */
export interface RuleGroup {
  readonly name: string;
  readonly interval?: string;
  readonly rules: AlertingRule[];
}

/** Options of {@link ModelAlerts} (everything but the model). */
export interface ModelAlertsOptions {
  /**
   * Thresholds: error-ratio ceiling, p99 ceiling, rate window, failed scrapes, minimum request rate.
   * @default - the model's `slo`, else `Slo.DEFAULT` (5 % over 5m, p99 1s, 3 failed scrapes, 0.1 req/s)
   */
  readonly slo?: Slo;
  /**
   * The scrape interval of the model's targets; `ModelTargetDown` fires at the `slo.maxFailedScrapes`-th
   * consecutive failed scrape, i.e. after `for: scrapeInterval × (maxFailedScrapes − 1)`.
   * @default Duration.seconds(30)
   */
  readonly scrapeInterval?: Duration;
  /**
   * Evaluation interval of the rule group.
   * @default - Prometheus' global `evaluation_interval`
   */
  readonly evaluationInterval?: Duration;
  /**
   * How long the error ratio or p99 must stay above its ceiling (already averaged over `slo.window`) before
   * `ModelHighErrorRate` / `ModelHighLatencyP99` fire.
   * @default Duration.minutes(1)
   */
  readonly sustainFor?: Duration;
  /**
   * Container restarts within `restartWindow` that make `ModelCrashLooping` fire.
   * @default 3
   */
  readonly maxRestarts?: number;
  /**
   * Window over which restarts are counted.
   * @default Duration.minutes(10)
   */
  readonly restartWindow?: Duration;
  /**
   * How long a Deployment that is not paused may have fewer updated replicas than desired, or report
   * `Progressing=False`, before `ModelRolloutStuck` fires (naming the version when a pod of it is not ready).
   * @default Duration.minutes(10)
   */
  readonly rolloutTimeout?: Duration;
  /**
   * How long more than one version may serve traffic before `ModelVersionSkew` fires.
   * @default Duration.minutes(30)
   */
  readonly versionSkewLimit?: Duration;
  /**
   * Updater failures (`modelpilot_updater_failures_total`) within `updaterWindow` that make `ModelUpdaterFailing` fire.
   * @default 3
   */
  readonly updaterFailures?: number;
  /**
   * Window over which updater failures are counted.
   * @default Duration.minutes(15)
   */
  readonly updaterWindow?: Duration;
  /**
   * How long the updater may go without a cycle that finished without failures before `ModelUpdaterStalled` fires.
   * @default Duration.minutes(15)
   */
  readonly updaterStalledAfter?: Duration;
  /**
   * Label matchers that pick the updater agent's series, e.g. `{ job: 'modelpilot-updater' }`.
   * @default {} (every series of the updater metrics)
   */
  readonly updaterSelector?: Record<string, string>;
  /**
   * Prefix of every `runbook_url`; the lower-cased alert name is appended.
   * @default 'https://github.com/modelpilot/modelpilot/blob/main/docs/monitoring.md#'
   */
  readonly runbookBaseUrl?: string;
  /**
   * Labels added to every alert (e.g. `{ team: 'ml-platform' }`), for routing.
   * @default {}
   */
  readonly extraLabels?: Record<string, string>;
  /**
   * Labels on the PrometheusRule that your Prometheus' `ruleSelector` matches.
   * @default {}
   */
  readonly prometheusSelectorLabels?: Record<string, string>;
}

/** Properties of {@link ModelAlerts}. */
export interface ModelAlertsProps extends ModelAlertsOptions {
  /** The model: a `ModelDeployment` or any {@link MonitoredModel}. */
  readonly model: MonitoredModel;
}

/** One alert with what it was built from: the rule plus the facts the generated promtool tests need. */
export interface ModelAlertDefinition {
  readonly name: AlertName;
  readonly severity: Severity;
  /** True when the updater may answer it with a rollback (`modelpilot_action: rollback`). */
  readonly rollback: boolean;
  /**
   * True when only the alerts that name a `version` are rollback-worthy: the expression sets
   * `modelpilot_action: rollback` on those series, and the rule's static labels do not carry it. The others
   * (`ModelTargetDown` with no target left, `ModelRolloutStuck` with no pod of the new version) go to people only.
   */
  readonly rollbackNeedsVersion: boolean;
  readonly rule: AlertingRule;
}

const IS_MODEL_ALERTS = Symbol.for('modelpilot.ModelAlerts');

/** Regex (RE2, fully anchored by PromQL) that takes the tag out of an image reference such as `reg:5000/m:1.2.0@sha256:…`. */
export const IMAGE_TAG_REGEX = '[^@]*:([^:/@]+)(@.*)?';

/**
 * The alert rules of one model, rendered from its {@link Slo} into a PrometheusRule with one group
 * (`modelpilot-<model>`). Every alert carries `model`, `severity` and (where the metrics tell it) `version`;
 * rollback-worthy ones carry `modelpilot_action: rollback` (for `ModelTargetDown` and `ModelRolloutStuck` only the
 * alerts that name a version: the updater cannot roll back an unnamed one). Annotations: summary, description,
 * runbook_url.
 */
export class ModelAlerts extends Construct {
  /** True for any ModelAlerts, even one loaded through another copy of this module (used by `test-rules`). */
  public static isModelAlerts(x: unknown): x is ModelAlerts {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[IS_MODEL_ALERTS] === true;
  }

  /** The PrometheusRule. */
  public readonly resource: ApiObject;
  /** The model. */
  public readonly model: MonitoredModel;
  /** The SLO the thresholds come from. */
  public readonly slo: Slo;
  public readonly scrapeInterval: Duration;
  public readonly evaluationInterval?: Duration;
  public readonly sustainFor: Duration;
  public readonly maxRestarts: number;
  public readonly restartWindow: Duration;
  public readonly rolloutTimeout: Duration;
  public readonly versionSkewLimit: Duration;
  public readonly updaterFailures: number;
  public readonly updaterWindow: Duration;
  public readonly updaterStalledAfter: Duration;
  public readonly updaterSelector: Readonly<Record<string, string>>;
  public readonly runbookBaseUrl: string;
  /** Static labels on every alert: `model`, `namespace` and `extraLabels`. */
  public readonly commonLabels: Readonly<Record<string, string>>;
  /** The alerts, in rule order. */
  public readonly definitions: readonly ModelAlertDefinition[];
  /** The rule group (also the PrometheusRule's only group). */
  public readonly group: RuleGroup;

  constructor(scope: Construct, id: string, props: ModelAlertsProps) {
    super(scope, id);
    checkProps('ModelAlerts', props, '{ model } (a ModelDeployment)');
    Object.defineProperty(this, IS_MODEL_ALERTS, { value: true });
    const model = props.model;
    this.model = model;
    this.slo = props.slo ?? model.slo ?? Slo.DEFAULT;
    this.scrapeInterval = props.scrapeInterval ?? Duration.seconds(30);
    if (this.scrapeInterval.toMilliseconds() * 2 > this.slo.window.toMilliseconds()) {
      // rate() over the window needs two samples in it: with fewer, the error-ratio and latency alerts never fire
      addWarning(this, `'scrapeInterval' '${toPromDuration(this.scrapeInterval)}' leaves fewer than two samples in the SLO window `
        + `'${toPromDuration(this.slo.window)}', so the error-ratio and latency alerts can never fire; scrape at most every `
        + `'${toPromDuration(Duration.millis(Math.floor(this.slo.window.toMilliseconds() / 2)))}' or widen slo.window`);
    }
    this.evaluationInterval = props.evaluationInterval;
    this.sustainFor = props.sustainFor ?? Duration.minutes(1);
    this.maxRestarts = wholeAtLeast1('maxRestarts', props.maxRestarts ?? 3);
    this.restartWindow = props.restartWindow ?? Duration.minutes(10);
    this.rolloutTimeout = props.rolloutTimeout ?? Duration.minutes(10);
    this.versionSkewLimit = props.versionSkewLimit ?? Duration.minutes(30);
    this.updaterFailures = wholeAtLeast1('updaterFailures', props.updaterFailures ?? 3);
    this.updaterWindow = props.updaterWindow ?? Duration.minutes(15);
    this.updaterStalledAfter = props.updaterStalledAfter ?? Duration.minutes(15);
    this.updaterSelector = { ...(props.updaterSelector ?? {}) };
    this.runbookBaseUrl = props.runbookBaseUrl ?? 'https://github.com/modelpilot/modelpilot/blob/main/docs/monitoring.md#';
    if (this.scrapeInterval.toMilliseconds() < 1000) {
      throw new Error(`'scrapeInterval' value '${toPromDuration(this.scrapeInterval)}' is shorter than 1s; use at least Duration.seconds(1)`);
    }
    for (const [field, d] of [['restartWindow', this.restartWindow], ['updaterWindow', this.updaterWindow]] as const) {
      if (d.toMilliseconds() < 60_000) {
        throw new Error(`'${field}' value '${toPromDuration(d)}' is shorter than 1m; increase() over shorter windows misses events, use at least Duration.minutes(1)`);
      }
    }
    for (const [field, value] of Object.entries({ ...this.updaterSelector, ...(props.extraLabels ?? {}) })) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(field)) {
        throw new Error(`label name '${field}' (value '${value}') is not a Prometheus label name; use letters, digits and '_'`);
      }
    }
    this.commonLabels = { ...(props.extraLabels ?? {}), model: model.modelName, namespace: model.namespace };

    this.definitions = this.buildDefinitions();
    this.group = {
      name: `modelpilot-${model.modelName}`,
      ...(this.evaluationInterval ? { interval: toPromDuration(this.evaluationInterval) } : {}),
      rules: this.definitions.map((d) => d.rule),
    };
    this.resource = new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: {
        name: `${model.deploymentName}-alerts`,
        namespace: model.namespace,
        labels: { ...objectLabels(model, 'monitoring'), ...(props.prometheusSelectorLabels ?? {}) },
      },
      spec: { groups: [this.group] },
    });
  }

  /** The `for` of `ModelTargetDown`: `scrapeInterval × (slo.maxFailedScrapes − 1)`. */
  public get targetDownFor(): Duration {
    return Duration.millis(this.scrapeInterval.toMilliseconds() * (this.slo.maxFailedScrapes - 1));
  }

  /** The rule of one alert. */
  public rule(name: AlertName): AlertingRule {
    const d = this.definitions.find((x) => x.name === name);
    if (!d) throw new Error(`alert '${name}' is not one of ${ALERT_NAMES.join(', ')}`);
    return d.rule;
  }

  private buildDefinitions(): ModelAlertDefinition[] {
    const m = this.model;
    const slo = this.slo;
    const sel = { model: m.modelName, extraLabels: { namespace: m.namespace } };
    const w = slo.promWindow;
    const ns = promMatchers({ namespace: m.namespace });
    const pods = `pod=~"${m.deploymentName.replace(/\./g, '[.]')}-[a-z0-9]+-[a-z0-9]+"`;
    const podSel = `${ns},${pods},container="${m.containerName}"`;
    const deploySel = promMatchers({ namespace: m.namespace, deployment: m.deploymentName });
    const minRate = `(${slo.metricRequestRate(sel)}) >= ${slo.minRequestRate}`;
    const pct = `${+(slo.maxErrorRatio * 100).toPrecision(6)}%`;
    const p99 = toPromDuration(slo.maxP99Latency);
    const who = `${m.modelName} {{ $labels.version }}`;
    const withImage = (expr: string) =>
      `label_replace(${expr}, "version", "$1", "image", "${IMAGE_TAG_REGEX}")`;
    const updater = promMatchers(this.updaterSelector);
    const up = `up{${promMatchers({ model: m.modelName, namespace: m.namespace })}}`;
    // A rollout is unfinished while fewer replicas than desired run the new template, or the Deployment reports
    // Progressing=False (ProgressDeadlineExceeded, ReplicaSetCreateError); a paused Deployment is left alone.
    const unfinished = `((kube_deployment_spec_replicas{${deploySel}} > kube_deployment_status_replicas_updated{${deploySel}})`
      + ` or (kube_deployment_status_condition{${deploySel},condition="Progressing",status="false"} == 1))`
      + ` unless on (namespace, deployment) (kube_deployment_spec_paused{${deploySel}} == 1)`;

    const defs: Array<Omit<ModelAlertDefinition, 'rule'> & { expr: string; for: Duration; summary: string; description: string }> = [
      {
        name: 'ModelHighErrorRate', severity: Severity.CRITICAL, rollback: true, rollbackNeedsVersion: false,
        expr: `(${slo.metricErrorRatio(sel)}) > ${slo.maxErrorRatio} and ${minRate}`,
        for: this.sustainFor,
        summary: `${who} answers more than ${pct} of requests with 5xx`,
        description: `${who} in ${m.namespace} answered {{ $value | humanizePercentage }} of requests with 5xx over the last ${w} `
          + `(ceiling ${pct}, at least ${slo.minRequestRate} req/s).`,
      },
      {
        name: 'ModelHighLatencyP99', severity: Severity.WARNING, rollback: true, rollbackNeedsVersion: false,
        expr: `(${slo.metricP99Latency(sel)}) > ${slo.maxP99Seconds} and ${minRate}`,
        for: this.sustainFor,
        summary: `${who} ${slo.latencyStatistic} inference latency is above ${p99}`,
        description: `${who} in ${m.namespace} has a ${slo.latencyStatistic} inference latency of {{ $value | humanizeDuration }} over the last ${w} `
          + `(ceiling ${p99}${slo.latencyStatistic === 'mean' ? `; ${slo.server.name} exports no latency histogram, so the mean is judged` : ''}).`,
      },
      ...slo.llmObjectives.map((o) => {
        const what = LLM_WORDS[o.field];
        const bound = o.direction === 'max' ? toPromDuration(slo[o.field] as Duration) : `${o.bound} tokens/s`;
        const shown = o.direction === 'max' ? '{{ $value | humanizeDuration }}' : '{{ $value | printf "%.4g" }} tokens/s';
        return {
          name: LLM_ALERT_NAMES[o.field], severity: Severity.WARNING, rollback: true, rollbackNeedsVersion: false,
          expr: `(${slo.metricLlm(o.field, sel)}) ${o.direction === 'max' ? '>' : '<'} ${o.bound} and ${minRate}`,
          for: this.sustainFor,
          summary: `${who} ${what} is ${o.direction === 'max' ? 'above' : 'below'} ${bound}`,
          description: `${who} in ${m.namespace} has a ${what} of ${shown} over the last ${w} (${o.direction === 'max' ? 'ceiling' : 'floor'} ${bound}).`,
        };
      }),
      {
        // A failed scrape makes `up` 0; a target gone from service discovery takes its `up` series with it, so
        // absent() covers "every target gone" (unless kube-state-metrics says the Deployment is scaled to 0).
        name: 'ModelTargetDown', severity: Severity.CRITICAL, rollback: true, rollbackNeedsVersion: true,
        expr: rollbackIfVersioned(`${up} == 0 or (absent(${up}) unless on () (kube_deployment_spec_replicas{${deploySel}} == 0))`),
        for: this.targetDownFor,
        summary: `{{ if $labels.instance }}${who} target {{ $labels.instance }} is down{{ else }}${m.modelName} has no scrape target{{ end }}`,
        description: `{{ if $labels.instance }}Prometheus failed ${slo.maxFailedScrapes} consecutive scrapes of ${who} at {{ $labels.instance }} `
          + `(scrape interval ${toPromDuration(this.scrapeInterval)}).{{ else }}Prometheus has found no target of ${m.modelName} in ${m.namespace} `
          + `for ${toPromDuration(this.targetDownFor)} (${slo.maxFailedScrapes} scrape intervals of ${toPromDuration(this.scrapeInterval)}) `
          + `although Deployment ${m.deploymentName} is not scaled to 0: no pod is running, or the Service or ServiceMonitor no longer selects them.{{ end }}`,
      },
      {
        name: 'ModelCrashLooping', severity: Severity.CRITICAL, rollback: true, rollbackNeedsVersion: false,
        expr: withImage(`(increase(kube_pod_container_status_restarts_total{${podSel}}[${toPromDuration(this.restartWindow)}]) >= ${this.maxRestarts})`
          + ` * on (namespace, pod, container) group_left (image) max by (namespace, pod, container, image) (kube_pod_container_info{${podSel}})`),
        for: Duration.seconds(0),
        summary: `${who} pod {{ $labels.pod }} is crash-looping`,
        description: `Container ${m.containerName} of pod {{ $labels.pod }} (${m.namespace}, image {{ $labels.image }}) restarted at least `
          + `${this.maxRestarts} times in ${toPromDuration(this.restartWindow)}.`,
      },
      {
        // Two cases: a pod of the Deployment is not ready (the alert names its image's version), or no pod of the
        // new version has a container yet (none created: quota; none scheduled) and the alert names the Deployment.
        name: 'ModelRolloutStuck', severity: Severity.WARNING, rollback: true, rollbackNeedsVersion: true,
        expr: rollbackIfVersioned(withImage(`max by (namespace, image) (kube_pod_container_info{${podSel}} and on (namespace, pod, container) `
          + `(kube_pod_container_status_ready{${podSel}} == 0))`) + ` and on (namespace) (${unfinished})`
          + ` or (max by (namespace, deployment) (${unfinished}) unless on (namespace) (kube_pod_container_status_ready{${podSel}} == 0))`),
        for: this.rolloutTimeout,
        summary: `${m.modelName}{{ if $labels.version }} {{ $labels.version }}{{ end }} rollout of Deployment ${m.deploymentName} is stuck`,
        description: `Deployment ${m.namespace}/${m.deploymentName} has not finished rolling out{{ if $labels.image }} {{ $labels.image }}{{ end }} for `
          + `${toPromDuration(this.rolloutTimeout)}: {{ if $labels.image }}pods of that version are not ready.{{ else }}no pod of the new version `
          + 'has started (not created, e.g. a quota, or not scheduled), or the progress deadline passed.{{ end }}',
      },
      {
        name: 'ModelVersionSkew', severity: Severity.WARNING, rollback: false, rollbackNeedsVersion: false,
        expr: `(${slo.metricRequestRate(sel)} > 0) and on (model) (count by (model) (${slo.metricRequestRate(sel)} > 0) > 1)`,
        for: this.versionSkewLimit,
        summary: `${m.modelName} serves more than one version`,
        description: `${who} is one of several versions of ${m.modelName} in ${m.namespace} serving traffic for more than `
          + `${toPromDuration(this.versionSkewLimit)}; finish or roll back the update.`,
      },
      {
        name: 'ModelUpdaterFailing', severity: Severity.WARNING, rollback: false, rollbackNeedsVersion: false,
        expr: `sum(increase(modelpilot_updater_failures_total{${updater}}[${toPromDuration(this.updaterWindow)}])) >= ${this.updaterFailures}`,
        for: Duration.seconds(0),
        summary: `the modelpilot updater is failing; ${m.modelName} may not be updated or rolled back`,
        description: `The updater agent counted at least ${this.updaterFailures} failures in ${toPromDuration(this.updaterWindow)}; `
          + 'see its audit log (modelpilot history).',
      },
      // The updater's own decisions, so people hear about each one (routed by the same AlertRouting).
      {
        name: 'ModelUpdaterRolledBack', severity: Severity.WARNING, rollback: false, rollbackNeedsVersion: false,
        expr: `sum(increase(modelpilot_updater_rollbacks_total{${updater}}[${toPromDuration(this.updaterWindow)}])) > 0`,
        for: Duration.seconds(0),
        summary: 'the modelpilot updater rolled a model version back',
        description: `The updater agent rolled back at least one update in the last ${toPromDuration(this.updaterWindow)}; `
          + 'the version is quarantined. See why in its audit log (modelpilot history).',
      },
      {
        name: 'ModelVersionQuarantined', severity: Severity.WARNING, rollback: false, rollbackNeedsVersion: false,
        expr: `max(delta(modelpilot_updater_quarantined_versions{${updater}}[${toPromDuration(this.updaterWindow)}])) > 0`,
        for: Duration.seconds(0),
        summary: 'the modelpilot updater quarantined a model version',
        description: `The updater agent quarantined a version in the last ${toPromDuration(this.updaterWindow)}; it will not be rolled out `
          + 'again until released (modelpilot quarantine list / release).',
      },
      {
        name: 'ModelUpdaterDegraded', severity: Severity.CRITICAL, rollback: false, rollbackNeedsVersion: false,
        expr: `max(modelpilot_updater_degraded{${updater}}) == 1`,
        for: Duration.seconds(0),
        summary: 'the modelpilot updater cannot persist its decisions and holds workloads',
        description: 'The updater agent could not write its audit log or quarantine store; it keeps its decisions in memory and '
          + 'leaves the workloads concerned alone. Its /healthz says what it could not write (disk full, read-only volume).',
      },
      {
        name: 'ModelUpdaterStalled', severity: Severity.CRITICAL, rollback: false, rollbackNeedsVersion: false,
        expr: `time() - max(modelpilot_updater_last_success_timestamp_seconds{${updater}}) > ${this.updaterStalledAfter.toMilliseconds() / 1000}`,
        for: Duration.seconds(0),
        summary: `the modelpilot updater has completed no cycle for ${toPromDuration(this.updaterStalledAfter)}`,
        description: `The updater agent has not finished a cycle without failures for more than ${toPromDuration(this.updaterStalledAfter)}; `
          + `${m.modelName} is neither updated nor watched. See its log and /healthz.`,
      },
    ];
    return defs.map((d) => {
      const labels: Record<string, string> = { ...this.commonLabels, severity: d.severity };
      if (d.rollback && !d.rollbackNeedsVersion) labels[ACTION_LABEL] = ROLLBACK_ACTION;
      const rule: AlertingRule = {
        alert: d.name,
        expr: d.expr,
        ...(d.for.toMilliseconds() > 0 ? { for: toPromDuration(d.for) } : {}),
        labels,
        annotations: {
          summary: d.summary,
          description: d.description,
          runbook_url: `${this.runbookBaseUrl}${d.name.toLowerCase()}`,
        },
      };
      return { name: d.name, severity: d.severity, rollback: d.rollback, rollbackNeedsVersion: d.rollbackNeedsVersion, rule };
    });
  }
}

/**
 * Sets `modelpilot_action: rollback` on the result series that carry a non-empty `version` (label_replace leaves
 * a series whose `version` does not match `.+` as it is): the updater can only roll back a named version.
 */
function rollbackIfVersioned(expr: string): string {
  return `label_replace(${expr}, "${ACTION_LABEL}", "${ROLLBACK_ACTION}", "version", ".+")`;
}

function wholeAtLeast1(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`'${field}' value ${value} must be a whole number of at least 1`);
  }
  return value;
}
