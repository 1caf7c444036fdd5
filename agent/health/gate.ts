/**
 * The health gate run after every apply: readiness first (Target.waitReady), then the SLO check through the bake
 * window, then — only when the SLO check is Inconclusive — the configured fallback: hold (keep the new version
 * unpromoted and look again next cycle), synthetic probe requests, or rollback. It never promotes silently: the
 * only way to `promote` is a Healthy verdict from the SLO check or the probe, and the reason says which.
 *
 * Beside the metrics the gate watches what the target says (Target.observe): from readiness until the verdict, and
 * for at least `runningGraceMs`, an instance of the new version that exits, restarts or is OOM-killed is a rollback
 * at once — refused connections never reach the server's own metrics, so only the target can see a crash loop.
 */
import type { InconclusiveMode } from '../../lib/core/contract/names';
import type { Clock, HealthCheck, HealthResult, Logger, Outcome, RuntimeState, Target, UpdatePlan } from '../types';
import { nullLogger } from '../types';
import type { QualityCheck } from './quality';

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
  /** The shortest time the new version must keep running after readiness before a promote. @default 0 */
  readonly runningGraceMs?: number;
  /** How often the target's state is read while the gate runs. @default 1000 */
  readonly watchIntervalMs?: number;
  /** Times the running grace; without it there is no grace (the target's state is still read after the checks). */
  readonly clock?: Clock;
  /** The quality gate (golden sets), run by the target once the new version is ready and before it takes traffic. */
  readonly quality?: QualityCheck;
}

/** The target's state at readiness, and the first change for the worse seen since. */
interface Watch {
  readonly stop: () => void;
  /** Why the new version is failing per the target, once it is. */
  failure(): string | undefined;
  /** Resolves when a failure is seen (never otherwise). */
  readonly failed: Promise<string>;
  /** Reads the state once more now. */
  readonly poll: () => Promise<void>;
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

  /** Whether the new version's image reached where it runs (targets that pull after `apply`); bounded by the readiness timeout. */
  public async pulled(target: Target, plan: UpdatePlan, signal?: AbortSignal): Promise<Outcome> {
    if (!target.waitPulled) return { ok: true, value: undefined };
    try {
      return await target.waitPulled(plan, this.options.readinessTimeoutMs, signal);
    } catch {
      // readiness reads the workload again and says what is wrong
      return { ok: true, value: undefined };
    }
  }

  public async verify(target: Target, plan: UpdatePlan, signal?: AbortSignal): Promise<Verdict> {
    const log = this.options.logger ?? nullLogger;
    const checks: Array<{ name: string } & HealthResult> = [];
    const aborted = (): Verdict => ({ decision: 'abort', reason: 'agent shutting down during verification', checks });

    const quality = this.options.quality?.forPlan(plan);
    const seen: { quality?: HealthResult } = {};
    const beforeTraffic = quality && (async (at: Parameters<typeof quality>[0], s?: AbortSignal): Promise<HealthResult> => {
      seen.quality = await safely(() => quality(at, s));
      return seen.quality;
    });
    const ready = await safely(() => target.waitReady(plan, this.options.readinessTimeoutMs, signal, beforeTraffic));
    const judged = seen.quality;
    const judgedBad = judged !== undefined && judged.status !== 'Healthy';
    // the quality gate runs only once the new version is ready: when it failed, readiness had passed
    checks.push({ name: 'readiness', ...(judgedBad ? { status: 'Healthy' as const, reason: 'ready; then held out of traffic by the quality gate' } : ready) });
    log.info('health check', { plan: plan.toString(), check: 'readiness', status: checks[0].status, reason: checks[0].reason });
    if (judged) {
      checks.push({ name: this.options.quality!.name, ...judged });
      log.info('health check', { plan: plan.toString(), check: 'quality', status: judged.status, reason: judged.reason });
    }
    if (signal?.aborted) return aborted();
    if (judgedBad) return { decision: 'rollback', reason: `quality gate failed before traffic: ${judged?.reason}`, checks };
    if (ready.status !== 'Healthy') return { decision: 'rollback', reason: `not ready: ${ready.reason}`, checks };
    if (quality && !judged) {
      // the target never reached the point where it could run it: never promoted without the quality verdict
      checks.push({ name: this.options.quality!.name, status: 'Unhealthy', reason: `the ${target.kind} target did not run the quality gate` });
      return { decision: 'rollback', reason: `quality gate not run by the ${target.kind} target`, checks };
    }

    const started = this.options.clock?.now().getTime();
    const watch = await this.watch(target, plan, signal);
    if (watch?.failure()) return this.crashed(watch, checks);
    try {
      // The checks run while the watch looks at the target; a failure it sees cuts them short.
      const judge = new AbortController();
      const cut = (): void => judge.abort();
      signal?.addEventListener('abort', cut, { once: true });
      watch?.failed.then(cut, () => undefined);
      const verdict = await this.judge(plan, judge.signal, checks, log);
      signal?.removeEventListener('abort', cut);
      if (signal?.aborted) return aborted();
      if (watch?.failure()) return this.crashed(watch, checks);
      if (verdict.decision !== 'promote' || !watch) return verdict;
      // A promote waits out the running grace, then the target is asked once more.
      const grace = this.options.runningGraceMs ?? 0;
      if (started !== undefined && this.options.clock) {
        const left = started + grace - this.options.clock.now().getTime();
        if (left > 0) {
          const early = new AbortController();
          void watch.failed.then(() => early.abort());
          await this.options.clock.sleep(left, signal ? AbortSignal.any([signal, early.signal]) : early.signal);
        }
      }
      if (signal?.aborted) return aborted();
      await watch.poll();
      if (watch.failure()) return this.crashed(watch, checks);
      return verdict;
    } finally {
      watch?.stop();
    }
  }

  /** SLO check, then the inconclusive fallback. `signal` aborts when the agent stops or the watch saw a crash. */
  private async judge(plan: UpdatePlan, signal: AbortSignal, checks: Array<{ name: string } & HealthResult>, log: Logger): Promise<Verdict> {
    const slo: HealthResult = this.options.slo
      ? await safely(() => this.options.slo!.check(plan, signal))
      : { status: 'Inconclusive', reason: 'no Prometheus configured (health.prometheus.url)' };
    checks.push({ name: this.options.slo?.name ?? 'prometheus-slo', ...slo });
    log.info('health check', { plan: plan.toString(), check: 'slo', status: slo.status, reason: slo.reason });
    if (signal.aborted) return { decision: 'abort', reason: 'interrupted', checks };
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
        if (signal.aborted) return { decision: 'abort', reason: 'interrupted', checks };
        if (probe.status === 'Healthy') return { decision: 'promote', reason: `SLO inconclusive (${slo.reason}); synthetic probe passed: ${probe.reason}`, checks };
        return { decision: 'rollback', reason: `SLO inconclusive (${slo.reason}); synthetic probe failed: ${probe.reason}`, checks };
      }
    }
  }

  private crashed(watch: Watch, checks: Array<{ name: string } & HealthResult>): Verdict {
    const reason = watch.failure() as string;
    checks.push({ name: 'runtime', status: 'Unhealthy', reason });
    this.options.logger?.warn('health check', { check: 'runtime', status: 'Unhealthy', reason });
    return { decision: 'rollback', reason: `the new version is failing on the target: ${reason}`, checks };
  }

  /**
   * Reads the target's state of the new version now (the baseline), then every `watchIntervalMs` until stopped.
   * Undefined when the target cannot tell (no `observe`) or the first read fails.
   */
  private async watch(target: Target, plan: UpdatePlan, signal?: AbortSignal): Promise<Watch | undefined> {
    if (!target.observe) return undefined;
    const read = (): Promise<RuntimeState | undefined> => target.observe!(plan.workload, plan.to, signal).catch(() => undefined);
    const base = await read();
    if (!base) return undefined;
    let failure: string | undefined;
    let notify: (why: string) => void = () => undefined;
    const failed = new Promise<string>((resolve) => { notify = resolve; });
    const judge = (s: RuntimeState | undefined): void => {
      if (!s || failure) return;
      if (!s.running) failure = s.detail;
      else if (s.oomKilled && !base.oomKilled) failure = `OOM-killed: ${s.detail}`;
      else if (s.restarts > base.restarts) failure = `${s.restarts - base.restarts} restart(s) since it was ready: ${s.detail}`;
      if (failure) notify(failure);
    };
    judge(base);
    const poll = async (): Promise<void> => judge(await read());
    // Real timers (not the injected clock): the watch runs beside the checks and must not move a test's clock.
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const every = this.options.watchIntervalMs ?? 1000;
    const tick = (): void => {
      timer = setTimeout(() => {
        if (stopped || failure || signal?.aborted) return;
        void poll().then(() => { if (!stopped) tick(); });
      }, every);
      timer.unref();
    };
    tick();
    return {
      stop: () => { stopped = true; if (timer) clearTimeout(timer); },
      failure: () => failure,
      failed,
      poll,
    };
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
