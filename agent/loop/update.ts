/**
 * The update state machine: apply (bounded attempts, backoff) → verify (the health gate) → promote | rollback |
 * hold | abort; crash recovery (an update found in flight is finished or reversed); going back to a proven version.
 */
import { ImageRef, sameImage } from '../../lib/core/image-ref';
import type { Verdict } from '../health/gate';
import { backoffDelay } from '../retry';
import { InFlightRecord, Target, UpdatePlan, Workload } from '../types';
import type { LoopContext } from './context';
import { planFromRecord } from './records';
import type { Fail, UpdateOutcome } from './settings';

export class UpdateRunner {
  constructor(private readonly c: LoopContext) {}

  public async execute(target: Target, plan: UpdatePlan, signal: AbortSignal | undefined, fail: Fail): Promise<UpdateOutcome> {
    const w = plan.workload;
    let applied: UpdatePlan | undefined;
    let attempt = plan;
    for (;;) {
      this.c.audit({ event: 'apply', target: w.id, model: w.model, from: attempt.from, to: attempt.to, trigger: attempt.trigger, attempt: attempt.attempt, result: 'started' });
      this.c.log.info('applying', { plan: attempt.toString(), attempt: attempt.attempt, to: attempt.to });
      const r = await this.c.bounded((s) => target.apply(attempt, s));
      if (r.ok) {
        applied = attempt;
        break;
      }
      fail(`apply ${attempt.toString()} (attempt ${attempt.attempt})`, r.reason);
      this.c.audit({ event: 'apply-failed', target: w.id, model: w.model, from: attempt.from, to: attempt.to, trigger: attempt.trigger, attempt: attempt.attempt, result: 'failed', reason: r.reason });
      // Whatever the failed apply left (a record, a half-created container) is reversed before anything else.
      if (!(await this.restore(target, attempt, `apply failed: ${r.reason}`, fail, false))) return 'rollback_failed';
      if (attempt.attempt >= this.c.rollback.maxAttempts || signal?.aborted) {
        this.c.o.metrics.updates.inc({ result: 'failed' });
        this.c.audit({ event: 'failed', target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, attempt: attempt.attempt, result: 'failed', reason: `gave up after ${attempt.attempt} attempt(s): ${r.reason}` });
        return 'failed';
      }
      await this.c.o.clock.sleep(backoffDelay(attempt.attempt, this.c.rollback.backoff), signal);
      attempt = attempt.nextAttempt();
    }
    return this.verifyAndDecide(target, applied, signal, fail);
  }

  private async verifyAndDecide(target: Target, plan: UpdatePlan, signal: AbortSignal | undefined, fail: Fail): Promise<UpdateOutcome> {
    const w = plan.workload;
    const verdict: Verdict = await this.c.o.gate.verify(target, plan, signal);
    this.c.beat();
    const base = { target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, attempt: plan.attempt };
    this.c.audit({ ...base, event: 'verify', result: verdict.decision, reason: verdict.checks.map((c) => `${c.name}: ${c.status} (${c.reason})`).join('; ') });
    switch (verdict.decision) {
      case 'promote': {
        const r = await this.c.retrying((s) => target.promote(plan, s));
        if (!r.ok) {
          // The new version stays in flight; the next cycle verifies it again and retries the promotion.
          fail(`promote ${plan.toString()}`, r.reason);
          this.c.audit({ ...base, event: 'failed', result: 'failed', reason: `promote failed: ${r.reason}` });
          return 'failed';
        }
        this.c.held.delete(w.id);
        this.c.o.metrics.updates.inc({ result: 'promoted' });
        this.c.audit({ ...base, event: 'promoted', result: 'ok', reason: verdict.reason });
        this.c.log.info('promoted', { plan: plan.toString(), reason: verdict.reason });
        for (const dropped of this.c.o.quarantine.supersede(w.model, plan.toVersion)) {
          this.c.audit({ event: 'released', target: w.id, model: w.model, result: 'superseded', reason: `${dropped.version} superseded by ${plan.toVersion}` });
        }
        return 'promoted';
      }
      case 'rollback': {
        this.c.held.delete(w.id);
        const restored = await this.restore(target, plan, verdict.reason, fail, true);
        this.quarantine(w, plan, verdict.reason, 'health-gate');
        return restored ? 'rolled_back' : 'rollback_failed';
      }
      case 'hold':
        this.c.held.add(w.id);
        this.c.audit({ ...base, event: 'held', result: 'inconclusive', reason: verdict.reason });
        this.c.log.warn('holding unpromoted', { plan: plan.toString(), reason: verdict.reason });
        return 'held';
      case 'abort': {
        const restored = await this.restore(target, plan, 'agent shutting down before the new version was proven healthy', fail, false);
        this.c.audit({ ...base, event: 'aborted', result: restored ? 'ok' : 'failed', reason: 'agent shutting down; the previous version was restored' });
        return restored ? 'aborted' : 'rollback_failed';
      }
    }
  }

  /**
   * Restores the previous version (read from the record on the target), retrying with backoff. Runs to its end
   * even during shutdown: a half-done update is worse than a late exit. Returns false when every attempt failed
   * (the in-flight record stays on the target, so the next cycle or the next agent tries again).
   */
  public async restore(target: Target, plan: UpdatePlan, reason: string, fail: Fail, countAsRollback: boolean): Promise<boolean> {
    const w = plan.workload;
    const base = { target: w.id, model: w.model, from: plan.to, to: plan.from, trigger: plan.trigger };
    for (let attempt = 1; ; attempt++) {
      const r = await this.c.bounded((s) => target.rollback(plan, s));
      this.c.beat();
      if (r.ok) {
        if (countAsRollback) {
          this.c.o.metrics.rollbacks.inc();
          this.c.o.metrics.updates.inc({ result: 'rolled_back' });
        }
        this.c.audit({ ...base, event: 'rolled-back', attempt, result: 'ok', reason });
        this.c.log.warn('rolled back', { plan: plan.toString(), reason, attempt });
        return true;
      }
      fail(`rollback ${plan.toString()} (attempt ${attempt})`, r.reason);
      this.c.audit({ ...base, event: 'rollback-failed', attempt, result: 'failed', reason: r.reason });
      if (attempt >= this.c.rollback.maxAttempts) {
        this.c.log.error('rollback failed; the in-flight record stays on the target for the next cycle', { plan: plan.toString(), reason: r.reason });
        return false;
      }
      await this.c.o.clock.sleep(backoffDelay(attempt, this.c.rollback.backoff));
    }
  }

  public quarantine(w: Workload, plan: UpdatePlan, reason: string, source: string): void {
    const added = this.c.o.quarantine.add({
      model: w.model, version: plan.toVersion, repository: ImageRef.tryParse(plan.to, { allowMutableTag: true })?.name, reason, source,
      since: this.c.o.clock.now().toISOString(),
    });
    if (added) {
      this.c.audit({ event: 'quarantined', target: w.id, model: w.model, to: plan.to, trigger: plan.trigger, result: 'ok', reason: `${plan.toVersion}: ${reason}` });
    }
    this.c.o.metrics.quarantined.set(this.c.o.quarantine.list().length);
  }

  /** Finishes (verify → promote | rollback) or reverses an update found in flight on the target. */
  public async resume(target: Target, w: Workload, signal: AbortSignal | undefined, fail: Fail): Promise<UpdateOutcome> {
    const rec = w.inFlight as InFlightRecord;
    const plan = planFromRecord(w, rec);
    const mine = this.c.held.has(w.id);
    const running = sameImage(w.image, rec.to);
    this.c.audit({
      event: mine ? 'verify' : 'recovered', target: w.id, model: w.model, from: rec.from, to: rec.to, trigger: rec.trigger, attempt: rec.attempt,
      result: running ? 'finishing' : 'reversing',
      reason: mine ? 'held unpromoted; verifying again' : `in-flight update started ${rec.startedAt} found on the target; ${running ? 'the new version runs: verifying it' : 'the new version does not run: restoring the previous one'}`,
    });
    if (!running) {
      return (await this.restore(target, plan, 'reversing an unfinished update', fail, false)) ? 'aborted' : 'rollback_failed';
    }
    return this.verifyAndDecide(target, plan, signal, fail);
  }

  /**
   * Goes back to a version that was proven before: apply, readiness, promote. The SLO bake is skipped (the alert
   * says the current version is the bad one); if the old version does not even become ready, the current one is
   * restored and the failure is counted.
   */
  public async applyKnownGood(target: Target, plan: UpdatePlan, reason: string, fail: Fail): Promise<UpdateOutcome> {
    const w = plan.workload;
    const base = { target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, attempt: plan.attempt };
    this.c.audit({ ...base, event: 'apply', result: 'started', reason });
    const r = await this.c.bounded((s) => target.apply(plan, s));
    if (!r.ok) {
      fail(`alert rollback ${plan.toString()}`, r.reason);
      this.c.audit({ ...base, event: 'apply-failed', result: 'failed', reason: r.reason });
      await this.restore(target, plan, `apply failed: ${r.reason}`, fail, false);
      this.c.o.metrics.updates.inc({ result: 'failed' });
      return 'failed';
    }
    const ready = await this.c.o.gate.readiness(target, plan);
    if (ready.status !== 'Healthy') {
      fail(`alert rollback ${plan.toString()}`, `previous version not ready: ${ready.reason}`);
      await this.restore(target, plan, `previous version not ready: ${ready.reason}`, fail, false);
      this.c.o.metrics.updates.inc({ result: 'failed' });
      return 'failed';
    }
    const p = await this.c.retrying((s) => target.promote(plan, s));
    if (!p.ok) {
      fail(`promote ${plan.toString()}`, p.reason);
      return 'failed';
    }
    this.c.o.metrics.rollbacks.inc();
    this.c.o.metrics.updates.inc({ result: 'rolled_back' });
    this.c.audit({ ...base, event: 'rolled-back', result: 'ok', reason });
    return 'rolled_back';
  }
}
