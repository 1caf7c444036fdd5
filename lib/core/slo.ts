import { Duration, toPromDuration } from './duration';

/** Metric names of the model-server contract. Override them when your server exports other names. */
export interface SloMetrics {
  /**
   * Counter of requests, labelled `model`, `version` and `code` (HTTP status as a string).
   * @default 'model_request_total'
   */
  readonly requestTotal?: string;
  /**
   * Histogram of inference time in seconds, labelled `model` and `version`.
   * @default 'model_inference_seconds'
   */
  readonly inferenceSeconds?: string;
}

/**
 * The relative gate: the new version judged against the version it replaces, in the same window, on the same
 * traffic (Docker blue/green: both in HAProxy's rotation during the bake window). Each field turns one comparison on.
 */
export interface RelativeSlo {
  /**
   * The new version fails when its error ratio is, with the gate's confidence, above this factor times the previous
   * version's (a one-sided two-proportion bound on p_new − factor·p_old) — even when both are under `maxErrorRatio`.
   * E.g. 1.5: twice the old errors fail once the traffic shows it.
   */
  readonly maxErrorRatioFactor?: number;
  /** The new version fails when its p99 latency is above this factor times the previous version's (e.g. 1.5). */
  readonly maxP99Factor?: number;
}

/** Properties of an {@link Slo}. */
export interface SloProps {
  /**
   * Highest tolerated ratio of 5xx responses to all responses, in (0, 1).
   * @default 0.05
   */
  readonly maxErrorRatio?: number;
  /**
   * Window over which error ratio, latency and request rate are computed.
   * @default Duration.minutes(5)
   */
  readonly window?: Duration;
  /**
   * Highest tolerated 99th-percentile inference latency.
   * @default Duration.seconds(1)
   */
  readonly maxP99Latency?: Duration;
  /**
   * Consecutive failed scrapes after which the target counts as down.
   * @default 3
   */
  readonly maxFailedScrapes?: number;
  /**
   * Requests per second below which no verdict is given (too little traffic to judge).
   * @default 0.1
   */
  readonly minRequestRate?: number;
  /**
   * Requests a new version must have served before the delivery analysis judges it (an idle canary never passes).
   * @default - minRequestRate × window, at least 1 (30 with the defaults)
   */
  readonly minSamples?: number;
  /**
   * Metric names.
   * @default - the model-server contract: `model_request_total`, `model_inference_seconds`
   */
  readonly metrics?: SloMetrics;
  /**
   * Judge the new version against the one it replaces as well (the updater's gate).
   * @default - absolute ceilings only
   */
  readonly relative?: RelativeSlo;
}

/** Label matchers that pick out one model's (or one version's) series. */
export interface SloSelector {
  /** Value of the `model` label. */
  readonly model: string;
  /** Value of the `version` label; omit to cover every version. */
  readonly version?: string;
  /** Further exact-match labels, e.g. `{ namespace: 'ml' }`. */
  readonly extraLabels?: Record<string, string>;
  /** Further raw PromQL matchers, e.g. `pod=~"recsys-.+"` (the updater's workload scope). */
  readonly matchers?: readonly string[];
}

/**
 * The service-level objective of one model, declared once and rendered three ways: Prometheus alert rules,
 * the delivery analysis, and the updater agent's health gate. The `metricX()` methods return PromQL.
 */
export class Slo {
  /** The seed's defaults: 5 % errors over 5 m, p99 1 s, 3 failed scrapes, 0.1 req/s for a verdict. */
  public static readonly DEFAULT = new Slo();

  public readonly maxErrorRatio: number;
  public readonly window: Duration;
  public readonly maxP99Latency: Duration;
  public readonly maxFailedScrapes: number;
  public readonly minRequestRate: number;
  public readonly minSamples: number;
  public readonly requestTotalMetric: string;
  public readonly inferenceSecondsMetric: string;
  public readonly relative?: RelativeSlo;

  constructor(props: SloProps = {}) {
    this.maxErrorRatio = props.maxErrorRatio ?? 0.05;
    this.window = props.window ?? Duration.minutes(5);
    this.maxP99Latency = props.maxP99Latency ?? Duration.seconds(1);
    this.maxFailedScrapes = props.maxFailedScrapes ?? 3;
    this.minRequestRate = props.minRequestRate ?? 0.1;
    this.minSamples = props.minSamples ?? Math.max(1, Math.ceil(this.minRequestRate * this.window.toMilliseconds() / 1000));
    this.requestTotalMetric = props.metrics?.requestTotal ?? 'model_request_total';
    this.inferenceSecondsMetric = props.metrics?.inferenceSeconds ?? 'model_inference_seconds';
    if (props.relative) {
      for (const key of ['maxErrorRatioFactor', 'maxP99Factor'] as const) {
        const v = props.relative[key];
        if (v !== undefined && !(v >= 1 && Number.isFinite(v))) {
          throw new Error(`'slo.relative.${key}' value ${v} must be a factor of at least 1, such as 1.5 (the new version may be 1.5 times worse)`);
        }
      }
      this.relative = { ...props.relative };
    }

    if (!(this.maxErrorRatio > 0 && this.maxErrorRatio < 1)) {
      throw new Error(`'slo.maxErrorRatio' value ${this.maxErrorRatio} is outside (0, 1); give a ratio such as 0.05 for 5 %`);
    }
    if (this.window.toMilliseconds() < 60_000) {
      throw new Error(`'slo.window' value '${toPromDuration(this.window)}' is shorter than 1m; rates over shorter windows are noise, use at least Duration.minutes(1)`);
    }
    if (!(this.maxP99Latency.toMilliseconds() > 0)) {
      throw new Error(`'slo.maxP99Latency' value '${toPromDuration(this.maxP99Latency)}' must be positive; give a ceiling such as Duration.seconds(1)`);
    }
    if (!Number.isInteger(this.maxFailedScrapes) || this.maxFailedScrapes < 1) {
      throw new Error(`'slo.maxFailedScrapes' value ${this.maxFailedScrapes} must be a whole number of at least 1`);
    }
    if (!(this.minRequestRate >= 0) || !Number.isFinite(this.minRequestRate)) {
      throw new Error(`'slo.minRequestRate' value ${this.minRequestRate} must be a non-negative number of requests per second`);
    }
    if (!Number.isInteger(this.minSamples) || this.minSamples < 1) {
      throw new Error(`'slo.minSamples' value ${this.minSamples} must be a whole number of requests, at least 1; use for example 30`);
    }
    for (const [key, name] of [['requestTotal', this.requestTotalMetric], ['inferenceSeconds', this.inferenceSecondsMetric]]) {
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) {
        throw new Error(`'slo.metrics.${key}' value '${name}' is not a Prometheus metric name; use letters, digits, '_' and ':'`);
      }
    }
  }

  /** The window as Prometheus writes it, e.g. `5m`. */
  public get promWindow(): string {
    return toPromDuration(this.window);
  }

  /** PromQL: requests per second, by model and version. */
  public metricRequestRate(sel: SloSelector): string {
    return `sum by (model, version) (rate(${this.requestTotalMetric}{${matchers(sel)}}[${this.promWindow}]))`;
  }

  /** PromQL: ratio of 5xx responses to all responses, by model and version. */
  public metricErrorRatio(sel: SloSelector): string {
    const errors = `sum by (model, version) (rate(${this.requestTotalMetric}{${matchers(sel, 'code=~"5.."')}}[${this.promWindow}]))`;
    return `(${errors} or ${this.metricRequestRate(sel)} * 0) / ${this.metricRequestRate(sel)}`;
  }

  /** PromQL: 99th-percentile inference latency in seconds, by model and version. */
  public metricP99Latency(sel: SloSelector): string {
    return `histogram_quantile(0.99, sum by (model, version, le) (rate(${this.inferenceSecondsMetric}_bucket{${matchers(sel)}}[${this.promWindow}])))`;
  }

  /**
   * PromQL: requests served so far by the selected processes — the counter's own value, summed. A new version runs
   * in new processes whose counters start at 0, so this counts exactly what the new version served, with no range
   * window reaching back before it started (the health gate's evidence).
   */
  public metricServedRequests(sel: SloSelector): string {
    return `sum(${this.requestTotalMetric}{${matchers(sel)}})`;
  }

  /**
   * PromQL: the time (Unix seconds) of the newest scrape of the selected processes' request counter; the gate takes
   * its baseline from the first scrape at or after readiness.
   */
  public metricLastScrape(sel: SloSelector): string {
    return `max(timestamp(${this.requestTotalMetric}{${matchers(sel)}}))`;
  }

  /** PromQL: 5xx responses served so far by the selected processes (see {@link metricServedRequests}). */
  public metricServedErrors(sel: SloSelector): string {
    return `sum(${this.requestTotalMetric}{${matchers(sel, 'code=~"5.."')}})`;
  }

  /** PromQL: ratio of 5xx responses to all responses served so far by the selected processes (NaN or empty when none). */
  public metricServedErrorRatio(sel: SloSelector): string {
    return `(${this.metricServedErrors(sel)} or ${this.metricServedRequests(sel)} * 0) / ${this.metricServedRequests(sel)}`;
  }

  /** PromQL: p99 inference latency over everything the selected processes served so far. */
  public metricServedP99(sel: SloSelector): string {
    return `histogram_quantile(0.99, sum by (le) (${this.inferenceSecondsMetric}_bucket{${matchers(sel)}}))`;
  }

  /**
   * PromQL: requests the selected processes served in the last `seconds` (the previous version's share of the same
   * window the new version is judged over).
   */
  public metricWindowRequests(sel: SloSelector, seconds: number): string {
    return `sum(increase(${this.requestTotalMetric}{${matchers(sel)}}[${Math.max(1, Math.round(seconds))}s]))`;
  }

  /** PromQL: 5xx responses of the selected processes in the last `seconds`. */
  public metricWindowErrors(sel: SloSelector, seconds: number): string {
    return `sum(increase(${this.requestTotalMetric}{${matchers(sel, 'code=~"5.."')}}[${Math.max(1, Math.round(seconds))}s]))`;
  }

  /** PromQL: p99 inference latency of the selected processes in the last `seconds`. */
  public metricWindowP99(sel: SloSelector, seconds: number): string {
    return `histogram_quantile(0.99, sum by (le) (increase(${this.inferenceSecondsMetric}_bucket{${matchers(sel)}}[${Math.max(1, Math.round(seconds))}s])))`;
  }

  /** The p99 ceiling in seconds, as PromQL compares it. */
  public get maxP99Seconds(): number {
    return this.maxP99Latency.toMilliseconds() / 1000;
  }

  public toJSON(): Record<string, unknown> {
    return {
      maxErrorRatio: this.maxErrorRatio,
      window: this.promWindow,
      maxP99Latency: toPromDuration(this.maxP99Latency),
      maxFailedScrapes: this.maxFailedScrapes,
      minRequestRate: this.minRequestRate,
      metrics: { requestTotal: this.requestTotalMetric, inferenceSeconds: this.inferenceSecondsMetric },
      ...(this.relative ? { relative: { ...this.relative } } : {}),
    };
  }
}

/** @internal Escapes a value for a PromQL double-quoted string (the one escaper of every PromQL modelpilot writes). */
export function promString(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function matchers(sel: SloSelector, extra?: string): string {
  const parts = [`model="${promString(sel.model)}"`];
  if (sel.version !== undefined) parts.push(`version="${promString(sel.version)}"`);
  for (const [k, v] of Object.entries(sel.extraLabels ?? {})) parts.push(`${k}="${promString(v)}"`);
  parts.push(...(sel.matchers ?? []));
  if (extra) parts.push(extra);
  return parts.join(',');
}

/** @internal Renders `a="x",b="y"` from a label map (keys in the given order), then `extra` matchers. */
export function promMatchers(labels: Record<string, string>, ...extra: string[]): string {
  return [...Object.entries(labels).map(([k, v]) => `${k}="${promString(v)}"`), ...extra].join(',');
}
