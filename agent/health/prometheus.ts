/**
 * The SLO part of the health gate: after readiness, what the new version has served is read from Prometheus (HTTP
 * API `GET /api/v1/query`) through the bake window — requests n, 5xx errors k and the p99 latency — scoped to the
 * workload being judged (model, version and the target's labels: namespace + pod, or the scrape instance).
 *
 * The counts are the counters' own values, not `rate()` over a window: the new version runs in new processes whose
 * counters start at 0, so the numbers cover exactly the time it has served (a window reaching back before it
 * started would dilute the rate). Verdicts need evidence:
 * - Unhealthy as soon as the Wilson lower bound of k/n exceeds the error ceiling, or the p99 (with at least the
 *   SLO's traffic floor) exceeds the latency ceiling;
 * - Healthy only at the end of the window, with enough traffic, when the Wilson upper bound is within the ceiling
 *   and the p99 meets the SLO;
 * - Inconclusive otherwise: too little traffic, the bound straddling the ceiling, or Prometheus unreachable.
 */
import { wilson, zFor } from '../../lib/core/confidence';
import { Slo, SloSelector } from '../../lib/core/slo';
import { HttpRequester, httpRequest } from '../http-client';
import type { Clock, HealthCheck, HealthResult, UpdatePlan } from '../types';

/** Options of {@link PrometheusSloCheck}. */
export interface PrometheusSloCheckOptions {
  /** Prometheus base URL, e.g. `http://127.0.0.1:9090`. */
  readonly url: string;
  /** The SLO of a model (per-model overrides, else the default). */
  readonly sloFor: (model: string) => Slo;
  /** How long to watch; 0 = one sample. */
  readonly bakeWindowMs: number;
  /** Pause between samples. */
  readonly queryIntervalMs: number;
  /** Per-query timeout. @default 10000 */
  readonly timeoutMs?: number;
  /** Extra label matchers for every query (e.g. `{ namespace: 'ml' }`). */
  readonly extraLabels?: Record<string, string>;
  /** Add the workload's own scope (Workload.metricScope) to every query. @default true */
  readonly scopeToWorkload?: boolean;
  /** Confidence of the error-ratio verdict (Wilson score interval). @default 0.95 */
  readonly confidence?: number;
  readonly clock: Clock;
  /** Called after every sample (the loop heartbeat). */
  readonly onSample?: (s: SloSample) => void;
  /**
   * Called with what a version answered before it was ready on a stop-then-start switch (the switch's outage,
   * left out of its verdict): requests and 5xx among them.
   */
  readonly onOutage?: (o: { requests: number; errors: number }) => void;
  /** The HTTP request function (node:http; see agent/http-client.ts). @default httpRequest */
  readonly request?: HttpRequester;
}

/** One reading of what the new version served, and its verdict. */
export interface SloSample {
  readonly status: HealthResult['status'];
  readonly reason: string;
  /** Requests served (n). */
  readonly requests?: number;
  /** 5xx responses among them (k). */
  readonly errors?: number;
  /** n / seconds served. */
  readonly requestRate?: number;
  /** k / n. */
  readonly errorRatio?: number;
  /** Wilson interval of k/n at the configured confidence. */
  readonly lower?: number;
  readonly upper?: number;
  /** The error-ratio ceiling judged against. */
  readonly ceiling?: number;
  readonly p99Seconds?: number;
  /** The relative gate's evidence: what the previous version served over the same seconds, and the bound. */
  readonly previousRequests?: number;
  readonly previousErrors?: number;
  readonly previousErrorRatio?: number;
  readonly relativeLower?: number;
  readonly previousP99Seconds?: number;
  /** The LLM objectives' readings (seconds, or tokens/s), by Slo field. */
  readonly llm?: Record<string, number>;
}

interface RelativeVerdict {
  /** Why the new version is worse than the previous one, when it is. */
  readonly failed?: string;
  readonly note?: string;
  readonly evidence: Record<string, number>;
}

interface PromVector {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

export class PrometheusSloCheck implements HealthCheck {
  public readonly name = 'prometheus-slo';
  private readonly send: HttpRequester;
  private readonly base: string;
  private readonly z: number;

  constructor(private readonly options: PrometheusSloCheckOptions) {
    this.send = options.request ?? httpRequest;
    this.base = options.url.replace(/\/+$/, '');
    this.z = zFor(options.confidence ?? 0.95);
  }

  public async check(plan: UpdatePlan, signal?: AbortSignal): Promise<HealthResult> {
    const { clock } = this.options;
    const since = clock.now().getTime();
    const deadline = since + this.options.bakeWindowMs;
    const scope = this.options.scopeToWorkload === false ? [] : plan.workload.metricScope ?? [];
    const model = plan.workload.model;
    const version = versionLabel(plan.toVersion);
    const previous = plan.fromVersion ? versionLabel(plan.fromVersion) : undefined;
    // Stop-then-start: what the version answered while loading on the only port is the switch's outage, not its errors.
    let baseline: { requests: number; errors: number } | undefined;
    if (plan.workload.servesBeforeReady) {
      try {
        baseline = await this.baseline(model, version, scope, since, deadline, signal);
      } catch (e) {
        return { status: 'Inconclusive', reason: `prometheus unreachable: ${(e as Error).message}` };
      }
      this.options.onOutage?.(baseline);
    }
    let last: SloSample;
    let samples = 0;
    for (;;) {
      const left = deadline - clock.now().getTime();
      const servedMs = clock.now().getTime() - since;
      last = await this.sample(model, version, signal, { scope, servedMs, final: left <= 0, baseline, previous });
      samples++;
      this.options.onSample?.(last);
      if (last.status === 'Unhealthy') return result(last, baseline);
      if (left <= 0 || signal?.aborted) break;
      await clock.sleep(Math.min(this.options.queryIntervalMs, left), signal);
      if (signal?.aborted) return { status: 'Inconclusive', reason: `bake window interrupted after ${samples} sample(s)` };
    }
    return result(last, baseline);
  }

  /**
   * What the version had answered at the first scrape at or after `readyAt` (waited for within the bake window):
   * everything before it — its loading 503s on the only port — is the switch's outage. No scrape of the version at
   * all by then: nothing was counted, the baseline is 0.
   */
  private async baseline(model: string, version: string, scope: readonly string[], readyAt: number, deadline: number,
    signal?: AbortSignal): Promise<{ requests: number; errors: number }> {
    const { clock } = this.options;
    const slo = this.options.sloFor(model);
    const sel = { model, version, extraLabels: this.options.extraLabels, matchers: scope };
    for (;;) {
      const scraped = await this.scalar(slo.metricLastScrape(sel), signal);
      if (!Number.isNaN(scraped) && scraped * 1000 >= readyAt) {
        const [n, k] = await Promise.all([this.scalar(slo.metricServedRequests(sel), signal), this.scalar(slo.metricServedErrors(sel), signal)]);
        return { requests: Number.isNaN(n) ? 0 : n, errors: Number.isNaN(k) ? 0 : k };
      }
      const left = deadline - clock.now().getTime();
      if (left <= 0 || signal?.aborted) return { requests: 0, errors: 0 };
      await clock.sleep(Math.min(this.options.queryIntervalMs, left), signal);
    }
  }

  /**
   * Reads what the version served once and judges it. `final`: the end of the bake window, where Healthy may be
   * decided; before it only Unhealthy ends the check.
   */
  public async sample(model: string, version: string, signal?: AbortSignal,
    at: { scope?: readonly string[]; servedMs?: number; final?: boolean; baseline?: { requests: number; errors: number }; previous?: string } = {},
  ): Promise<SloSample> {
    const slo = this.options.sloFor(model);
    const sel = { model, version, extraLabels: this.options.extraLabels, matchers: at.scope ?? [] };
    const final = at.final ?? true;
    let n: number;
    let k: number;
    let p99: number;
    let llm: number[];
    try {
      [n, k, p99, ...llm] = await Promise.all([
        this.scalar(slo.metricServedRequests(sel), signal),
        this.scalar(slo.metricServedErrors(sel), signal),
        this.scalar(slo.metricServedP99(sel), signal),
        ...slo.llmObjectives.map((o) => this.scalar(slo.metricServedLlm(o.field, sel), signal)),
      ]);
    } catch (e) {
      return { status: 'Inconclusive', reason: `prometheus unreachable: ${(e as Error).message}` };
    }
    if (Number.isNaN(n)) n = 0;
    if (Number.isNaN(k)) k = 0;
    if (at.baseline) {
      // a counter below its baseline was reset (the process restarted): then it counts from 0 again
      n = n >= at.baseline.requests ? n - at.baseline.requests : n;
      k = k >= at.baseline.errors ? k - at.baseline.errors : k;
    }
    const seconds = Math.max((at.servedMs ?? 0) / 1000, 1);
    const rate = n / seconds;
    const { lower, upper } = wilson(k, n, this.z);
    const conf = `${Math.round((this.options.confidence ?? 0.95) * 1000) / 10}%`;
    const evidence = { requests: n, errors: k, requestRate: rate, errorRatio: n > 0 ? k / n : NaN, lower, upper, ceiling: slo.maxErrorRatio };
    const counts = `${fmt(k)} error(s) in ${fmt(n)} request(s) (ratio ${n > 0 ? fmt(k / n) : 'NaN'}, ${conf} Wilson [${fmt(lower)}, ${fmt(upper)}])`;
    const who = `${model} ${version}${sel.matchers.length ? ` {${sel.matchers.join(',')}}` : ''}`;
    if (n > 0 && lower > slo.maxErrorRatio) {
      return { status: 'Unhealthy', ...evidence, reason: `error ratio above ${slo.maxErrorRatio}: ${counts} over ${fmt(seconds)}s served` };
    }
    const enough = rate >= slo.minRequestRate && n > 0;
    let relativeNote = '';
    if (slo.relative && at.previous && at.previous !== version && n > 0) {
      let rel: RelativeVerdict;
      try {
        rel = await this.relative(slo, { model, version: at.previous, extraLabels: this.options.extraLabels }, { n, k, p99 }, seconds, signal);
      } catch (e) {
        return { status: 'Inconclusive', ...evidence, reason: `prometheus unreachable: ${(e as Error).message}` };
      }
      if (rel.failed) return { status: 'Unhealthy', ...evidence, ...rel.evidence, reason: `worse than ${at.previous}: ${rel.failed}` };
      relativeNote = `; against ${at.previous}: ${rel.note}`;
      Object.assign(evidence, rel.evidence);
    }
    const stat = slo.latencyStatistic;
    if (enough && p99 > slo.maxP99Seconds) {
      return { status: 'Unhealthy', ...evidence, p99Seconds: p99, reason: `${stat} latency ${fmt(p99)}s > ${slo.maxP99Seconds}s over ${fmt(n)} request(s) in ${fmt(seconds)}s served` };
    }
    // LLM objectives: judged like the latency ceiling, on everything the version served; no reading is no verdict
    const readings: Record<string, number> = {};
    for (const [i, o] of slo.llmObjectives.entries()) {
      const v = llm[i];
      if (Number.isNaN(v)) continue;
      readings[o.field] = v;
      const worse = o.direction === 'max' ? v > o.bound : v < o.bound;
      if (enough && worse) {
        return { status: 'Unhealthy', ...evidence, p99Seconds: p99, llm: readings,
          reason: `${o.field} reading ${fmt(v)}${o.unit} ${o.direction === 'max' ? '>' : '<'} ${o.bound}${o.unit} over ${fmt(n)} request(s) in ${fmt(seconds)}s served` };
      }
    }
    if (slo.llmObjectives.length) Object.assign(evidence, { llm: readings });
    if (!enough) {
      return { status: 'Inconclusive', ...evidence, reason: `no traffic to judge: ${fmt(n)} request(s) in ${fmt(seconds)}s served (${fmt(rate)}/s < ${slo.minRequestRate}/s) for ${who}` };
    }
    if (Number.isNaN(p99)) {
      return { status: 'Inconclusive', ...evidence, reason: `no latency data for ${who}` };
    }
    const unread = slo.llmObjectives.filter((o) => !(o.field in readings)).map((o) => o.field);
    if (unread.length) {
      return { status: 'Inconclusive', ...evidence, p99Seconds: p99, reason: `no ${unread.join(', ')} data for ${who} (${slo.server.name} metrics)` };
    }
    if (upper > slo.maxErrorRatio) {
      return { status: 'Inconclusive', ...evidence, p99Seconds: p99,
        reason: `not enough evidence: ${counts}; the bound straddles the ceiling ${slo.maxErrorRatio}${final ? '' : ' (still sampling)'}` };
    }
    if (!final) {
      return { status: 'Inconclusive', ...evidence, p99Seconds: p99, reason: `meeting the SLO so far (${counts}); the bake window goes on` };
    }
    return {
      status: 'Healthy', ...evidence, p99Seconds: p99,
      reason: `${counts} <= ${slo.maxErrorRatio}, ${stat} ${fmt(p99)}s <= ${slo.maxP99Seconds}s at ${fmt(rate)} req/s over ${fmt(seconds)}s served${relativeNote}`,
    };
  }

  /**
   * The relative gate: what the previous version served in the same last `seconds` (its share of the same traffic),
   * against what the new one served. Errors: the Agresti–Caffo bound of p_new − factor·p_old (one pseudo-success and
   * one pseudo-failure per side, so a previous version with 0 errors still has an uncertainty); the new version
   * fails when the lower bound is above 0. Latency: p99_new > factor · p99_old, with at least the SLO's traffic floor.
   */
  private async relative(slo: Slo, old: SloSelector, now: { n: number; k: number; p99: number }, seconds: number,
    signal?: AbortSignal): Promise<RelativeVerdict> {
    const r = slo.relative!;
    const [no, ko, p99o] = await Promise.all([
      this.scalar(slo.metricWindowRequests(old, seconds), signal),
      this.scalar(slo.metricWindowErrors(old, seconds), signal),
      this.scalar(slo.metricWindowP99(old, seconds), signal),
    ]);
    if (!(no > 0)) return { note: `no baseline (${old.version} served nothing counted in the last ${fmt(seconds)}s)`, evidence: {} };
    const kOld = Number.isNaN(ko) ? 0 : ko;
    const evidence: Record<string, number> = { previousRequests: Math.round(no), previousErrors: Math.round(kOld) };
    const notes: string[] = [];
    if (r.maxErrorRatioFactor !== undefined) {
      const f = r.maxErrorRatioFactor;
      const pn = (now.k + 1) / (now.n + 2);
      const po = (kOld + 1) / (no + 2);
      const lower = pn - f * po - this.z * Math.sqrt((pn * (1 - pn)) / (now.n + 2) + (f * f * po * (1 - po)) / (no + 2));
      evidence.previousErrorRatio = kOld / no;
      evidence.relativeLower = lower;
      const what = `error ratio ${fmt(now.k / now.n)} (${fmt(now.k)}/${fmt(now.n)}) vs ${fmt(kOld / no)} (${fmt(kOld)}/${fmt(no)})`;
      if (lower > 0) return { failed: `${what}: above ${f}× the previous one's (bound of p_new − ${f}·p_old ${fmt(lower)} > 0)`, evidence };
      notes.push(`${what} within ${f}×`);
    }
    if (r.maxP99Factor !== undefined && !Number.isNaN(p99o) && !Number.isNaN(now.p99) && now.n / Math.max(seconds, 1) >= slo.minRequestRate) {
      evidence.previousP99Seconds = p99o;
      if (now.p99 > r.maxP99Factor * p99o) return { failed: `p99 ${fmt(now.p99)}s > ${r.maxP99Factor}× the previous ${fmt(p99o)}s`, evidence };
      notes.push(`p99 ${fmt(now.p99)}s within ${r.maxP99Factor}× ${fmt(p99o)}s`);
    }
    return { note: notes.join(', ') || 'nothing to compare', evidence };
  }

  /** Runs an instant query; an empty vector is NaN (no data). Throws when Prometheus cannot answer. */
  private async scalar(query: string, signal?: AbortSignal): Promise<number> {
    const res = await this.send({
      url: `${this.base}/api/v1/query?query=${encodeURIComponent(query)}`, headers: { accept: 'application/json' },
      signal, timeoutMs: this.options.timeoutMs ?? 10_000,
    });
    const text = res.text();
    let body: PromVector;
    try {
      body = JSON.parse(text) as PromVector;
    } catch {
      throw new Error(`HTTP ${res.status} with a body that is not JSON`);
    }
    if (!res.ok || body.status !== 'success') throw new Error(`HTTP ${res.status}: ${body.error ?? body.status}`);
    const result = body.data?.result ?? [];
    if (body.data?.resultType !== 'vector') throw new Error(`expected a vector, got ${body.data?.resultType}`);
    if (result.length === 0) return NaN;
    return Number(result[0].value[1]);
  }
}

/** The `version` label the model server reports: the tag, without a digest suffix. */
export function versionLabel(version: string): string {
  return version.split('@')[0];
}

/** The verdict of a sample, with its evidence (n, k, bound, ceiling) for the audit log. */
function result(s: SloSample, outage?: { requests: number; errors: number }): HealthResult {
  const evidence: Record<string, number> = {};
  if (outage) {
    evidence.outageRequests = outage.requests;
    evidence.outageErrors = outage.errors;
  }
  for (const key of ['requests', 'errors', 'requestRate', 'errorRatio', 'lower', 'upper', 'ceiling', 'p99Seconds', 'previousRequests', 'previousErrors',
    'previousErrorRatio', 'relativeLower', 'previousP99Seconds'] as const) {
    const v = s[key];
    if (typeof v === 'number' && Number.isFinite(v)) evidence[key] = Number(v.toPrecision(4));
  }
  const reason = outage && outage.requests > 0
    ? `${s.reason}; judged after readiness: ${fmt(outage.errors)} error(s) in ${fmt(outage.requests)} request(s) answered while it loaded are the switch's outage`
    : s.reason;
  return Object.keys(evidence).length ? { status: s.status, reason, evidence } : { status: s.status, reason };
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  return Number(n.toPrecision(3)).toString();
}
