/**
 * The health gate run after every apply: readiness first (Target.waitReady), then the SLO check through the bake
 * window, then — only when the SLO check is Inconclusive — the configured fallback: hold (keep the new version
 * unpromoted and look again next cycle), synthetic probe requests, or rollback. It never promotes silently: the
 * only way to `promote` is a Healthy verdict from the SLO check or the probe, and the reason says which.
 */
import type { InconclusiveMode } from '../../lib/core/contract/names';
import type { HealthCheck, HealthResult, Logger, Target, UpdatePlan } from '../types';
import { nullLogger } from '../types';

export type { InconclusiveMode };

/** What to do with an applied plan. `abort`: the agent is shutting down mid-verification. */
export type Decision = 'promote' | 'rollback' | 'hold' | 'abort';

export interface Verdict {
  readonly decision: Decision;
  readonly reason: string;
  /** Every check that ran, in order. */
  readonly checks: ReadonlyArray<{ readonly name: string } & HealthResult>;
}

export interface HealthGateOptions {
  readonly readinessTimeoutMs: number;
  /** The SLO check; without one (no Prometheus configured) the SLO step is Inconclusive. */
  readonly slo?: HealthCheck;
  readonly inconclusive: InconclusiveMode;
  /** Required when `inconclusive` is `probe`. */
  readonly probe?: HealthCheck;
  readonly logger?: Logger;
}

export class HealthGate {
  constructor(private readonly options: HealthGateOptions) {
    if (options.inconclusive === 'probe' && !options.probe) {
      throw new Error("'health.inconclusive' is 'probe' but no probe is configured; add 'health.probe' or choose 'hold' or 'rollback'");
    }
  }

  /** Readiness alone (for going back to a version that was proven before). */
  public async readiness(target: Target, plan: UpdatePlan, signal?: AbortSignal): Promise<HealthResult> {
    return safely(() => target.waitReady(plan, this.options.readinessTimeoutMs, signal));
  }

  public async verify(target: Target, plan: UpdatePlan, signal?: AbortSignal): Promise<Verdict> {
    const log = this.options.logger ?? nullLogger;
    const checks: Array<{ name: string } & HealthResult> = [];
    const aborted = (): Verdict => ({ decision: 'abort', reason: 'agent shutting down during verification', checks });

    const ready = await safely(() => target.waitReady(plan, this.options.readinessTimeoutMs, signal));
    checks.push({ name: 'readiness', ...ready });
    log.info('health check', { plan: plan.toString(), check: 'readiness', status: ready.status, reason: ready.reason });
    if (signal?.aborted) return aborted();
    if (ready.status !== 'Healthy') return { decision: 'rollback', reason: `not ready: ${ready.reason}`, checks };

    const slo: HealthResult = this.options.slo
      ? await safely(() => this.options.slo!.check(plan, signal))
      : { status: 'Inconclusive', reason: 'no Prometheus configured (health.prometheus.url)' };
    checks.push({ name: this.options.slo?.name ?? 'prometheus-slo', ...slo });
    log.info('health check', { plan: plan.toString(), check: 'slo', status: slo.status, reason: slo.reason });
    if (signal?.aborted) return aborted();
    if (slo.status === 'Healthy') return { decision: 'promote', reason: `SLO met: ${slo.reason}`, checks };
    if (slo.status === 'Unhealthy') return { decision: 'rollback', reason: `SLO broken: ${slo.reason}`, checks };

    switch (this.options.inconclusive) {
      case 'hold':
        return { decision: 'hold', reason: `inconclusive, holding unpromoted: ${slo.reason}`, checks };
      case 'rollback':
        return { decision: 'rollback', reason: `inconclusive, rolling back as configured: ${slo.reason}`, checks };
      case 'probe': {
        const probe = await safely(() => this.options.probe!.check(plan, signal));
        checks.push({ name: this.options.probe!.name, ...probe });
        log.info('health check', { plan: plan.toString(), check: 'probe', status: probe.status, reason: probe.reason });
        if (signal?.aborted) return aborted();
        if (probe.status === 'Healthy') return { decision: 'promote', reason: `SLO inconclusive (${slo.reason}); synthetic probe passed: ${probe.reason}`, checks };
        return { decision: 'rollback', reason: `SLO inconclusive (${slo.reason}); synthetic probe failed: ${probe.reason}`, checks };
      }
    }
  }
}

/** A check that throws is Inconclusive, never a crash of the loop. */
async function safely(fn: () => Promise<HealthResult>): Promise<HealthResult> {
  try {
    return await fn();
  } catch (e) {
    return { status: 'Inconclusive', reason: `check failed: ${(e as Error).message}` };
  }
}
