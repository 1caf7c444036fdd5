/**
 * Synthetic probe requests: the health gate's fallback when the SLO check is Inconclusive (no real traffic yet)
 * and `health.inconclusive: probe`. Sends a bounded number of requests and judges the failure ratio.
 */
import { HttpRequester, httpRequest } from '../http-client';
import type { Clock, HealthCheck, HealthResult, UpdatePlan } from '../types';

export interface SyntheticProbeOptions {
  readonly url: string;
  readonly method?: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Requests to send. */
  readonly count: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Highest tolerated ratio of failed requests (non-2xx, network error or timeout). */
  readonly maxFailureRatio: number;
  readonly clock: Clock;
  /** The HTTP request function (node:http; see agent/http-client.ts). @default httpRequest */
  readonly request?: HttpRequester;
}

export class SyntheticProbe implements HealthCheck {
  public readonly name = 'synthetic-probe';

  constructor(private readonly options: SyntheticProbeOptions) {}

  public async check(_plan: UpdatePlan, signal?: AbortSignal): Promise<HealthResult> {
    const o = this.options;
    const send = o.request ?? httpRequest;
    let failed = 0;
    let sent = 0;
    let lastError = '';
    for (let i = 0; i < o.count; i++) {
      if (signal?.aborted) return { status: 'Inconclusive', reason: `probe interrupted after ${sent} request(s)` };
      sent++;
      try {
        const res = await send({ url: o.url, method: o.method ?? 'GET', body: o.body, headers: o.headers, signal, timeoutMs: o.timeoutMs });
        if (res.status < 200 || res.status > 299) {
          failed++;
          lastError = `HTTP ${res.status}`;
        }
      } catch (e) {
        failed++;
        lastError = (e as Error).message;
      }
      if (i < o.count - 1) await o.clock.sleep(o.intervalMs, signal);
    }
    const ratio = failed / sent;
    const summary = `${failed}/${sent} synthetic requests to ${o.url} failed`;
    if (ratio > o.maxFailureRatio) return { status: 'Unhealthy', reason: `${summary} (ratio ${ratio.toFixed(2)} > ${o.maxFailureRatio}; last: ${lastError})` };
    return { status: 'Healthy', reason: `${summary} (ratio ${ratio.toFixed(2)} <= ${o.maxFailureRatio})` };
  }
}
