import { Duration, toPromDuration } from './duration';
import { LLM_OBJECTIVES, LatencyShape, ModelServer, renderSelector } from './model-server';

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
   * Metric names of this package's model server, when yours keeps its shape under other names (a shorthand for
   * `server: ModelServer.modelpilot(metrics)`).
   * @default - the model-server contract: `model_request_total`, `model_inference_seconds`
   */
  readonly metrics?: SloMetrics;
  /**
   * The model server: where its health lives and how its metrics count requests, errors, latency and tokens
   * (`ModelServer.vllm()`, `.tgi()`, `.triton()`, `.openAiCompatible()`, `.custom({...})`). Every query, alert,
   * analysis and gate verdict reads the series in its shape.
   * @default ModelServer.modelpilot()
   */
  readonly server?: ModelServer;
  /** LLM servers: highest tolerated p99 time to the first token (e.g. Duration.millis(500)). */
  readonly maxP99TimeToFirstToken?: Duration;
  /** LLM servers: highest tolerated p99 time per output token (e.g. Duration.millis(50)). */
  readonly maxP99TimePerOutputToken?: Duration;
  /** LLM servers: highest tolerated p99 time a request waits in the server's queue. */
  readonly maxP99QueueTime?: Duration;
  /**
   * LLM servers: lowest tolerated generation speed of one stream, in tokens per second (1 / the mean time per
   * output token over the window).
   */
  readonly minTokensPerSecond?: number;
  /**
   * Judge the new version against the one it replaces as well (the updater's gate).
   * @default - absolute ceilings only
   */
  readonly relative?: RelativeSlo;
}

/** One LLM objective of an {@link Slo}: its field, its bound as PromQL compares it, and which side fails. */
export interface LlmObjective {
  readonly field: keyof typeof LLM_OBJECTIVES;
  readonly bound: number;
  /** `max`: values above the bound fail; `min`: values below it fail. */
  readonly direction: 'max' | 'min';
  readonly unit: 's' | 'tokens/s';
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
  /** The model server whose metrics every query reads. */
  public readonly server: ModelServer;
  public readonly maxP99TimeToFirstToken?: Duration;
  public readonly maxP99TimePerOutputToken?: Duration;
  public readonly maxP99QueueTime?: Duration;
  public readonly minTokensPerSecond?: number;
  public readonly relative?: RelativeSlo;

  constructor(props: SloProps = {}) {
    this.maxErrorRatio = props.maxErrorRatio ?? 0.05;
    this.window = props.window ?? Duration.minutes(5);
    this.maxP99Latency = props.maxP99Latency ?? Duration.seconds(1);
    this.maxFailedScrapes = props.maxFailedScrapes ?? 3;
    this.minRequestRate = props.minRequestRate ?? 0.1;
    this.minSamples = props.minSamples ?? Math.max(1, Math.ceil(this.minRequestRate * this.window.toMilliseconds() / 1000));
    if (props.metrics && props.server) {
      throw new Error(`'slo.metrics' value ${JSON.stringify(props.metrics)} renames the modelpilot server's metrics, but 'slo.server' is `
        + `'${props.server.name}'; declare that server's names in its profile (ModelServer.custom) and remove 'metrics'`);
    }
    this.server = props.server ?? ModelServer.modelpilot(props.metrics);
    for (const f of ['maxP99TimeToFirstToken', 'maxP99TimePerOutputToken', 'maxP99QueueTime'] as const) {
      const d = props[f];
      if (d === undefined) continue;
      if (!(d.toMilliseconds() > 0)) throw new Error(`'slo.${f}' value '${toPromDuration(d)}' must be positive; give a ceiling such as Duration.millis(500)`);
      this.server.llmMetric(f);
      this[f] = d;
    }
    if (props.minTokensPerSecond !== undefined) {
      if (!(props.minTokensPerSecond > 0 && Number.isFinite(props.minTokensPerSecond))) {
        throw new Error(`'slo.minTokensPerSecond' value ${props.minTokensPerSecond} must be a positive number of tokens per second, such as 20`);
      }
      this.server.llmMetric('minTokensPerSecond');
      this.minTokensPerSecond = props.minTokensPerSecond;
    }
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
  }

  /** The window as Prometheus writes it, e.g. `5m`. */
  public get promWindow(): string {
    return toPromDuration(this.window);
  }

  /** PromQL: requests per second, by model and version. */
  public metricRequestRate(sel: SloSelector): string {
    return `sum by (model, version) (rate(${this.requestSeries(sel)}[${this.promWindow}]))`;
  }

  /** PromQL: ratio of failed requests (the server's errors: 5xx) to all requests, by model and version. */
  public metricErrorRatio(sel: SloSelector): string {
    const errors = `sum by (model, version) (rate(${this.errorSeries(sel)}[${this.promWindow}]))`;
    return `(${errors} or ${this.metricRequestRate(sel)} * 0) / ${this.metricRequestRate(sel)}`;
  }

  /** PromQL: 99th-percentile request latency in seconds (the mean, for a server without a histogram), by model and version. */
  public metricP99Latency(sel: SloSelector): string {
    return latencyQuery(this.server.latency, matchers(sel), 'model, version', (x) => `rate(${x}[${this.promWindow}])`);
  }

  /**
   * PromQL: requests served so far by the selected processes — the counter's own value, summed. A new version runs
   * in new processes whose counters start at 0, so this counts exactly what the new version served, with no range
   * window reaching back before it started (the health gate's evidence).
   */
  public metricServedRequests(sel: SloSelector): string {
    return `sum(${this.requestSeries(sel)})`;
  }

  /**
   * PromQL: the time (Unix seconds) of the newest scrape of the selected processes' request counter; the gate takes
   * its baseline from the first scrape at or after readiness.
   */
  public metricLastScrape(sel: SloSelector): string {
    return `max(timestamp(${this.requestSeries(sel)}))`;
  }

  /** PromQL: failed requests served so far by the selected processes (see {@link metricServedRequests}). */
  public metricServedErrors(sel: SloSelector): string {
    return `sum(${this.errorSeries(sel)})`;
  }

  /** PromQL: ratio of failed requests to all requests served so far by the selected processes (NaN or empty when none). */
  public metricServedErrorRatio(sel: SloSelector): string {
    return `(${this.metricServedErrors(sel)} or ${this.metricServedRequests(sel)} * 0) / ${this.metricServedRequests(sel)}`;
  }

  /** PromQL: p99 (or mean) request latency over everything the selected processes served so far. */
  public metricServedP99(sel: SloSelector): string {
    return latencyQuery(this.server.latency, matchers(sel), '', (x) => x);
  }

  /**
   * PromQL: requests the selected processes served in the last `seconds` (the previous version's share of the same
   * window the new version is judged over).
   */
  public metricWindowRequests(sel: SloSelector, seconds: number): string {
    return `sum(increase(${this.requestSeries(sel)}[${secs(seconds)}]))`;
  }

  /** PromQL: failed requests of the selected processes in the last `seconds`. */
  public metricWindowErrors(sel: SloSelector, seconds: number): string {
    return `sum(increase(${this.errorSeries(sel)}[${secs(seconds)}]))`;
  }

  /** PromQL: p99 (or mean) request latency of the selected processes in the last `seconds`. */
  public metricWindowP99(sel: SloSelector, seconds: number): string {
    return latencyQuery(this.server.latency, matchers(sel), '', (x) => `increase(${x}[${secs(seconds)}])`);
  }

  /** PromQL: requests per second of the whole model (every version), over `window` — the KEDA trigger's default. */
  public metricModelRequestRate(model: string, window: string): string {
    return `sum(rate(${this.requestSeries({ model })}[${window}]))`;
  }

  /**
   * PromQL: generated tokens per second, by model and version (for dashboards and a KEDA trigger on token
   * throughput); the server's `llm.generatedTokens` counter. Throws for a server without one.
   */
  public metricGeneratedTokenRate(sel: SloSelector): string {
    const metric = this.server.llm?.generatedTokens;
    if (!metric) throw new Error(`the '${this.server.name}' server exports no generated-tokens counter; declare one with ModelServer.custom({ llm: { generatedTokens } })`);
    return `sum by (model, version) (rate(${renderSelector({ metric }, [...matchers(sel), ...(this.server.llm?.matchers ?? [])])}[${this.promWindow}]))`;
  }

  /**
   * PromQL: the relative gate's error verdict on Kubernetes (an Argo Rollouts canary): the lower confidence bound of
   * p_new − f·p_old (Agresti–Caffo: one pseudo-success and one pseudo-failure per side), both versions' requests
   * and failures counted over the same Slo window on the same traffic split. Above 0: the new version is, with
   * confidence `z`, more than `maxErrorRatioFactor` times worse. Empty when either side served nothing.
   */
  public metricRelativeErrorBound(now: SloSelector, old: SloSelector, z: number): string {
    const f = this.relative?.maxErrorRatioFactor;
    if (f === undefined) throw new Error("'slo.relative.maxErrorRatioFactor' is not set; the relative error bound needs it, e.g. relative: { maxErrorRatioFactor: 1.5 }");
    const w = this.promWindow;
    const n = `sum(increase(${this.requestSeries(now)}[${w}]))`;
    const k = `(sum(increase(${this.errorSeries(now)}[${w}])) or ${n} * 0)`;
    const no = `sum(increase(${this.requestSeries(old)}[${w}]))`;
    const ko = `(sum(increase(${this.errorSeries(old)}[${w}])) or ${no} * 0)`;
    const pn = `((${k} + 1) / (${n} + 2))`;
    const po = `((${ko} + 1) / (${no} + 2))`;
    return `${pn} - ${f} * ${po} - ${z} * sqrt(${pn} * (1 - ${pn}) / (${n} + 2) + ${f * f} * ${po} * (1 - ${po}) / (${no} + 2))`;
  }

  /** PromQL: the new version's p99 (or mean) latency over the Slo window divided by the old one's, on the same traffic. */
  public metricRelativeP99(now: SloSelector, old: SloSelector): string {
    const range = (x: string) => `rate(${x}[${this.promWindow}])`;
    return `(${latencyQuery(this.server.latency, matchers(now), '', range)}) / (${latencyQuery(this.server.latency, matchers(old), '', range)})`;
  }

  /** The LLM objectives this SLO sets, each with its ceiling (or floor) as PromQL compares it. */
  public get llmObjectives(): LlmObjective[] {
    const out: LlmObjective[] = [];
    for (const field of Object.keys(LLM_OBJECTIVES) as Array<keyof typeof LLM_OBJECTIVES>) {
      const v = this[field];
      if (v === undefined) continue;
      out.push(field === 'minTokensPerSecond'
        ? { field, bound: v as number, direction: 'min', unit: 'tokens/s' }
        : { field, bound: (v as Duration).toMilliseconds() / 1000, direction: 'max', unit: 's' });
    }
    return out;
  }

  /**
   * PromQL for one LLM objective, by model and version: the p99 of its histogram over the window, or (tokens per
   * second) 1 / the mean time per output token.
   */
  public metricLlm(field: keyof typeof LLM_OBJECTIVES, sel: SloSelector): string {
    return this.llmQuery(field, matchers(sel), 'model, version', (x) => `rate(${x}[${this.promWindow}])`);
  }

  /** PromQL for one LLM objective over everything the selected processes served so far (the gate's reading). */
  public metricServedLlm(field: keyof typeof LLM_OBJECTIVES, sel: SloSelector): string {
    return this.llmQuery(field, matchers(sel), '', (x) => x);
  }

  private llmQuery(field: keyof typeof LLM_OBJECTIVES, m: string[], by: string, range: (x: string) => string): string {
    const metric = this.server.llmMetric(field);
    const extra = [...m, ...(this.server.llm?.matchers ?? [])];
    if (field === 'minTokensPerSecond') {
      return `sum by (${by}) (${range(renderSelector({ metric }, extra, '_count'))}) / sum by (${by}) (${range(renderSelector({ metric }, extra, '_sum'))})`;
    }
    return latencyQuery({ kind: 'histogram', metric }, extra, by, range);
  }

  private requestSeries(sel: SloSelector): string {
    return renderSelector(this.server.requests, matchers(sel));
  }

  private errorSeries(sel: SloSelector): string {
    return renderSelector(this.server.errors, matchers(sel));
  }

  /** `p99`, or `mean` for a server that exports no latency histogram (the word alerts and verdicts use). */
  public get latencyStatistic(): 'p99' | 'mean' {
    return this.server.latency.kind === 'histogram' ? 'p99' : 'mean';
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
      ...(this.server.name === 'modelpilot' && this.server.ownsModelLabels && this.server.latency.kind === 'histogram'
        ? { metrics: { requestTotal: this.server.requests.metric as string, inferenceSeconds: this.server.latency.metric } }
        : { server: this.server.toJSON() }),
      ...Object.fromEntries(this.llmObjectives.map((o) => [o.field, o.direction === 'max' ? toPromDuration(this[o.field] as Duration) : o.bound])),
      ...(this.relative ? { relative: { ...this.relative } } : {}),
    };
  }
}

/** @internal Escapes a value for a PromQL double-quoted string (the one escaper of every PromQL modelpilot writes). */
export function promString(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function matchers(sel: SloSelector): string[] {
  const parts = [`model="${promString(sel.model)}"`];
  if (sel.version !== undefined) parts.push(`version="${promString(sel.version)}"`);
  for (const [k, v] of Object.entries(sel.extraLabels ?? {})) parts.push(`${k}="${promString(v)}"`);
  parts.push(...(sel.matchers ?? []));
  return parts;
}

function secs(seconds: number): string {
  return `${Math.max(1, Math.round(seconds))}s`;
}

/**
 * Latency in seconds from a server's shape: `histogram_quantile(0.99, …)` over its buckets, or total time over
 * count; `range` wraps each series (`rate(x[5m])`, `increase(x[30s])`, or the raw counter), `by` the grouping.
 */
function latencyQuery(shape: LatencyShape, m: readonly string[], by: string, range: (x: string) => string): string {
  const scale = shape.unitSeconds !== undefined && shape.unitSeconds !== 1 ? ` * ${shape.unitSeconds}` : '';
  if (shape.kind === 'histogram') {
    const q = `histogram_quantile(0.99, sum by (${by ? `${by}, ` : ''}le) (${range(renderSelector(shape, m, '_bucket'))}))`;
    return scale ? `(${q})${scale}` : q;
  }
  const ratio = `sum by (${by}) (${range(renderSelector(shape.sum, m))}) / sum by (${by}) (${range(renderSelector(shape.count, m))})`;
  return scale ? `(${ratio})${scale}` : ratio;
}

/** @internal Renders `a="x",b="y"` from a label map (keys in the given order), then `extra` matchers. */
export function promMatchers(labels: Record<string, string>, ...extra: string[]): string {
  return [...Object.entries(labels).map(([k, v]) => `${k}="${promString(v)}"`), ...extra].join(',');
}
