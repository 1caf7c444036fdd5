/**
 * The SLO part of the health gate: after readiness, the new version's error ratio, p99 latency and request rate are
 * read from Prometheus (HTTP API `GET /api/v1/query`) through the bake window, using the PromQL the model's
 * {@link Slo} renders — the same expressions its alert rules and analysis use.
 *
 * - Unhealthy as soon as a sample with enough traffic breaks the SLO (error ratio or p99 above its ceiling);
 * - Healthy only when the last sample of the window has enough traffic and meets the SLO;
 * - Inconclusive otherwise: too little traffic to judge, or Prometheus unreachable / answering errors.
 */
import { Slo } from '../../lib/core/slo';
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
  readonly clock: Clock;
  /** Called after every sample (the loop heartbeat). */
  readonly onSample?: (s: SloSample) => void;
  /** The HTTP request function (node:http; see agent/http-client.ts). @default httpRequest */
  readonly request?: HttpRequester;
}

/** One reading of the SLO. */
export interface SloSample {
  readonly status: HealthResult['status'];
  readonly reason: string;
  readonly requestRate?: number;
  readonly errorRatio?: number;
  readonly p99Seconds?: number;
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

  constructor(private readonly options: PrometheusSloCheckOptions) {
    this.send = options.request ?? httpRequest;
    this.base = options.url.replace(/\/+$/, '');
  }

  public async check(plan: UpdatePlan, signal?: AbortSignal): Promise<HealthResult> {
    const { clock } = this.options;
    const deadline = clock.now().getTime() + this.options.bakeWindowMs;
    let last: SloSample;
    let samples = 0;
    for (;;) {
      last = await this.sample(plan.workload.model, versionLabel(plan.toVersion), signal);
      samples++;
      this.options.onSample?.(last);
      if (last.status === 'Unhealthy') return { status: 'Unhealthy', reason: last.reason };
      const left = deadline - clock.now().getTime();
      if (left <= 0 || signal?.aborted) break;
      await clock.sleep(Math.min(this.options.queryIntervalMs, left), signal);
      if (signal?.aborted) return { status: 'Inconclusive', reason: `bake window interrupted after ${samples} sample(s)` };
    }
    return { status: last.status, reason: last.reason };
  }

  /** Reads the three SLO queries once and judges them. */
  public async sample(model: string, version: string, signal?: AbortSignal): Promise<SloSample> {
    const slo = this.options.sloFor(model);
    const sel = { model, version, extraLabels: this.options.extraLabels };
    let rate: number;
    let errors: number;
    let p99: number;
    try {
      [rate, errors, p99] = await Promise.all([
        this.scalar(slo.metricRequestRate(sel), signal),
        this.scalar(slo.metricErrorRatio(sel), signal),
        this.scalar(slo.metricP99Latency(sel), signal),
      ]);
    } catch (e) {
      return { status: 'Inconclusive', reason: `prometheus unreachable: ${(e as Error).message}` };
    }
    const w = slo.promWindow;
    if (!(rate >= slo.minRequestRate) || rate === 0) {
      return {
        status: 'Inconclusive', requestRate: rate,
        reason: `no traffic to judge: request rate ${fmt(rate)}/s < ${slo.minRequestRate}/s over ${w} for ${model} ${version}`,
      };
    }
    if (errors > slo.maxErrorRatio) {
      return { status: 'Unhealthy', requestRate: rate, errorRatio: errors, reason: `error ratio ${fmt(errors)} > ${slo.maxErrorRatio} over ${w}` };
    }
    if (p99 > slo.maxP99Seconds) {
      return { status: 'Unhealthy', requestRate: rate, errorRatio: errors, p99Seconds: p99, reason: `p99 latency ${fmt(p99)}s > ${slo.maxP99Seconds}s over ${w}` };
    }
    if (Number.isNaN(errors) || Number.isNaN(p99)) {
      return { status: 'Inconclusive', requestRate: rate, reason: `no ${Number.isNaN(errors) ? 'error ratio' : 'latency'} data over ${w} for ${model} ${version}` };
    }
    return {
      status: 'Healthy', requestRate: rate, errorRatio: errors, p99Seconds: p99,
      reason: `error ratio ${fmt(errors)} <= ${slo.maxErrorRatio}, p99 ${fmt(p99)}s <= ${slo.maxP99Seconds}s at ${fmt(rate)} req/s over ${w}`,
    };
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

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  return Number(n.toPrecision(3)).toString();
}
