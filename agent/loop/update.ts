/**
 * The update state machine: apply (bounded attempts, backoff) → verify (the health gate) → promote | rollback |
 * hold | abort; crash recovery (an update found in flight is finished or reversed); going back to a proven version.
 */
import { ImageRef, sameImage, sameVersion } from '../../lib/core/image-ref';
import type { Verdict } from '../health/gate';
import { pushVerifiedAttestation, VerifiedPredicate } from '../registry/attestation';
import { backoffDelay } from '../retry';
import { GoldenSetRecord, InFlightRecord, Target, UpdatePlan, Workload } from '../types';
import type { LoopContext } from './context';
import { planFromRecord } from './records';
import type { Fail, UpdateOutcome } from './settings';

export class UpdateRunner {
  /** `<workload> <image>` versions reported as available (monitorOnly); audited once each. */
  private readonly available = new Set<string>();

  constructor(private readonly c: LoopContext) {}

  public async execute(target: Target, plan: UpdatePlan, signal: AbortSignal | undefined, fail: Fail): Promise<UpdateOutcome> {
    const w = plan.workload;
    if (this.c.o.monitorOnly) {
      // report, alert, change nothing (audited once per version)
      const key = `${w.id} ${plan.to}`;
      if (!this.available.has(key)) {
        if (this.available.size >= 10_000) this.available.clear();
        this.available.add(key);
        this.c.audit({ event: 'available', target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, result: 'monitor-only',
          reason: `${plan.toVersion} is available; monitorOnly: nothing was changed` });
      }
      return 'available';
    }
    let applied: UpdatePlan | undefined;
    let attempt = plan;
    for (;;) {
      this.c.audit({ event: 'apply', target: w.id, model: w.model, from: attempt.from, to: attempt.to, trigger: attempt.trigger, attempt: attempt.attempt, result: 'started' });
      this.c.log.info('applying', { plan: attempt.toString(), attempt: attempt.attempt, to: attempt.to });
      let r = await this.c.bounded((s) => target.apply(attempt, s));
      // an image the node cannot pull is a failed apply like a failed pull on Docker: reverted, retried, budgeted
      if (r.ok) r = await this.c.o.gate.pulled(target, attempt, signal);
      if (r.ok) {
        applied = attempt;
        break;
      }
      fail(`apply ${attempt.toString()} (attempt ${attempt.attempt})`, r.reason);
      this.c.audit({ event: 'apply-failed', target: w.id, model: w.model, from: attempt.from, to: attempt.to, trigger: attempt.trigger, attempt: attempt.attempt, result: 'failed', reason: r.reason });
      // Whatever the failed apply left (a record, a half-created container) is reversed before anything else.
      if (!(await this.restore(target, attempt, `apply failed: ${r.reason}`, fail, false, 'reverted'))) return 'rollback_failed';
      if (attempt.attempt >= this.c.rollback.maxAttempts || signal?.aborted) {
        this.c.o.metrics.updates.inc({ result: 'failed' });
        this.c.audit({ event: 'failed', target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, attempt: attempt.attempt, result: 'failed', reason: `gave up after ${attempt.attempt} attempt(s): ${r.reason}` });
        if (!signal?.aborted) await this.countFailedCycle(w, plan, r.reason, target);
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
    const evidence = Object.assign({}, ...verdict.checks.map((c) => c.evidence ?? {})) as Record<string, number>;
    const goldenSet = verdict.checks.find((c) => c.goldenSet)?.goldenSet;
    this.c.audit({
      ...base, event: 'verify', result: verdict.decision, reason: verdict.checks.map((c) => `${c.name}: ${c.status} (${c.reason})`).join('; '),
      ...(Object.keys(evidence).length ? { evidence } : {}), ...(goldenSet ? { goldenSet } : {}),
    });
    switch (verdict.decision) {
      case 'promote':
        return this.finishPromote(target, plan, verdict.reason, evidence, fail, goldenSet);
      case 'rollback': {
        this.c.held.delete(w.id);
        return this.rollBackDecided(target, w, plan, verdict.reason, 'health-gate', fail);
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
   * Carries out a promote verdict (already in the audit log as the attempt's `verify` entry). A promote that fails
   * while the new version still runs (the proxy was restarting, the engine was slow) stays in flight and is retried
   * next cycle from the recorded verdict, never reversed; one whose new version no longer runs (it exited after
   * passing the gate) is a failed update: quarantined, then rolled back.
   */
  private async finishPromote(target: Target, plan: UpdatePlan, reason: string, evidence: Record<string, number>,
    fail: Fail, goldenSet?: GoldenSetRecord): Promise<UpdateOutcome> {
    const w = plan.workload;
    const base = { target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, attempt: plan.attempt };
    const r = await this.c.retrying((s) => target.promote(plan, s));
    if (!r.ok) {
      fail(`promote ${plan.toString()}`, r.reason);
      const still = await this.c.bounded(async (s) => {
        if (target.observe) {
          const seen = await target.observe(w, plan.to, s);
          return seen.running ? { ok: true, value: undefined } : { ok: false, reason: seen.detail };
        }
        const h = await target.waitReady(plan, Math.min(this.c.rollback.attemptTimeoutMs, 5000), s);
        return h.status === 'Healthy' ? { ok: true, value: undefined } : { ok: false, reason: h.reason };
      });
      if (!still.ok) {
        const why = `promote failed (${r.reason}) and the new version is not running: ${still.reason}`;
        this.c.o.metrics.updates.inc({ result: 'failed' });
        this.c.audit({ ...base, event: 'failed', result: 'failed', reason: why });
        this.c.held.delete(w.id);
        return this.rollBackDecided(target, w, plan, why, 'health-gate', fail);
      }
      this.c.audit({ ...base, event: 'failed', result: 'failed', reason: `promote failed: ${r.reason}; the new version runs and stays in flight, the promotion is retried next cycle` });
      return 'failed';
    }
    this.c.held.delete(w.id);
    this.c.o.metrics.updates.inc({ result: 'promoted' });
    this.c.audit({ ...base, event: 'promoted', result: 'ok', reason });
    this.c.log.info('promoted', { plan: plan.toString(), reason });
    for (const dropped of this.c.o.quarantine.supersede(w.model, plan.toVersion)) {
      this.c.audit({ event: 'released', target: w.id, model: w.model, result: 'superseded', reason: `${dropped.version} superseded by ${plan.toVersion}` });
    }
    if (this.c.o.attest) await this.attest(plan, reason, evidence, goldenSet);
    return 'promoted';
  }

  /**
   * Records signed proof in the registry that this environment promoted the version (`attest`), with the gate's
   * values. Retried with backoff; a failure does not undo the promotion (the version is healthy here), it is audited,
   * counted and alerted: environments that require this proof will not take the version until it is written.
   */
  private async attest(plan: UpdatePlan, reason: string, evidence: Record<string, number>, goldenSet?: GoldenSetRecord): Promise<void> {
    const a = this.c.o.attest!;
    const w = plan.workload;
    const ref = ImageRef.parse(plan.to, { allowMutableTag: true });
    const base = { target: w.id, model: w.model, to: plan.to, trigger: plan.trigger };
    if (!ref.digest) {
      this.c.o.metrics.attestations.inc({ result: 'failed' });
      this.c.audit({ ...base, event: 'attested', result: 'failed', reason: `${plan.to} has no digest to attest` });
      return;
    }
    const predicate: VerifiedPredicate = {
      environment: a.environment, workload: w.id, model: w.model, version: plan.toVersion, image: plan.to,
      verifiedAt: this.c.o.clock.now().toISOString(), gate: { decision: 'promote', reason, evidence, ...(goldenSet ? { goldenSet } : {}) }, agent: 'modelpilot-updater',
    };
    const repo = { registry: ref.registry, repository: ref.repository };
    let tag = '';
    const r = await this.c.retrying((s) => pushVerifiedAttestation(this.c.o.registry, repo, ref.digest!, predicate, a.key, s)
      .then((written) => {
        tag = written.tag;
        return { ok: true as const, value: undefined };
      }, (e: unknown) => ({ ok: false as const, reason: (e as Error).message })));
    if (r.ok) {
      this.c.o.metrics.attestations.inc({ result: 'written' });
      this.c.audit({ ...base, event: 'attested', result: 'ok', reason: `verified in '${a.environment}': ${ref.name}:${tag}` });
    } else {
      this.c.o.metrics.attestations.inc({ result: 'failed' });
      this.c.log.warn('proof of promotion could not be written', { plan: plan.toString(), reason: r.reason });
      this.c.audit({ ...base, event: 'attested', result: 'failed', reason: `proof for '${a.environment}' not written: ${r.reason}` });
    }
  }

  /**
   * Restores the previous version (read from the record on the target), retrying with backoff. Runs to its end
   * even during shutdown: a half-done update is worse than a late exit. Returns false when every attempt failed
   * (the in-flight record stays on the target, so the next cycle or the next agent tries again).
   */
  public async restore(target: Target, plan: UpdatePlan, reason: string, fail: Fail, countAsRollback: boolean,
    event: 'rolled-back' | 'reverted' = 'rolled-back'): Promise<boolean> {
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
        this.c.audit({ ...base, event, attempt, result: 'ok', reason });
        this.c.log.warn(event === 'reverted' ? 'reverted a failed apply' : 'rolled back', { plan: plan.toString(), reason, attempt });
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

  /**
   * Quarantines the plan's version. When the store cannot be written the decision still holds (in memory), the
   * agent reports degraded and leaves the workload alone until the store accepts the entry.
   */
  public async quarantine(w: Workload, plan: UpdatePlan, reason: string, source: string, target?: Target): Promise<void> {
    let added: boolean;
    try {
      added = this.c.o.quarantine.add({
        model: w.model, version: plan.toVersion, repository: ImageRef.tryParse(plan.to, { allowMutableTag: true })?.name, reason, source,
        since: this.c.o.clock.now().toISOString(),
      });
    } catch (e) {
      const message = (e as Error).message;
      added = true;
      this.c.o.metrics.failures.inc();
      this.c.o.metrics.stateWriteFailures.inc({ store: 'quarantine' });
      this.c.markDegraded('quarantine', message);
      this.c.frozen.set(w.id, `the quarantine of ${plan.toVersion} could not be written: ${message}`);
      this.c.log.error('quarantine store write failed; the version stays quarantined in memory and the workload is held', { error: message, version: plan.toVersion });
    }
    if (added) {
      this.c.audit({ event: 'quarantined', target: w.id, model: w.model, to: plan.to, trigger: plan.trigger, result: 'ok', reason: `${plan.toVersion}: ${reason}` });
    }
    this.c.o.metrics.quarantined.set(this.c.o.quarantine.list().length);
    // Also on the workload itself (Kubernetes: an annotation), so a new agent with an empty state directory knows it.
    if (target?.recordQuarantine) {
      const entry = { version: plan.toVersion, reason, since: this.c.o.clock.now().toISOString(), source };
      const r = await this.c.bounded((s) => target.recordQuarantine!(w, entry, s));
      if (!r.ok) this.c.log.warn('could not record the quarantine on the workload; the state directory still holds it', { workload: w.id, reason: r.reason });
    }
  }

  /**
   * Write-ahead rollback: the verdict is made durable first — the version is quarantined in the state store and on
   * the workload itself — and only then acted on. An agent killed anywhere after that finds the quarantine (with
   * the in-flight record, if the restore had not finished) and finishes the rollback without applying or judging
   * the version again; one killed before it finds no verdict and judges the version once more.
   */
  public async rollBackDecided(target: Target, w: Workload, plan: UpdatePlan, reason: string, source: string, fail: Fail): Promise<UpdateOutcome> {
    await this.quarantine(w, plan, reason, source, target);
    const restored = await this.restore(target, plan, reason, fail, true);
    return restored ? 'rolled_back' : 'rollback_failed';
  }

  /** Finishes (verify → promote | rollback) or reverses an update found in flight on the target. */
  public async resume(target: Target, w: Workload, signal: AbortSignal | undefined, fail: Fail): Promise<UpdateOutcome> {
    const rec = w.inFlight as InFlightRecord;
    const plan = planFromRecord(w, rec);
    const mine = this.c.held.has(w.id);
    const running = sameImage(w.image, rec.to);
    // A verdict already durable for this very attempt (the agent was killed while acting on it) is carried out.
    const decided = mine ? undefined : this.decided(w, rec, plan);
    if (!mine) {
      this.c.audit({
        event: 'recovered', target: w.id, model: w.model, from: rec.from, to: rec.to, trigger: rec.trigger, attempt: rec.attempt,
        result: decided?.decision === 'rollback' ? 'rolling-back' : decided ? 'promoting' : running ? 'finishing' : 'reversing',
        reason: `in-flight update started ${rec.startedAt} found on the target; ${decided ? `its ${decided.decision} verdict is already recorded (${decided.reason})`
          : running ? 'the new version runs: verifying it' : 'the new version does not run: restoring the previous one'}`,
      });
    }
    if (decided?.decision === 'rollback') {
      // quarantined before the restore began: write it again only where it is missing (the workload's own record)
      if (!this.c.o.quarantine.isQuarantined(w.model, plan.toVersion) || !(w.quarantined ?? []).some((q) => sameVersion(q.version, plan.toVersion))) {
        await this.quarantine(w, plan, decided.reason, 'health-gate', target);
      }
      const restored = await this.restore(target, plan, `${decided.reason} (verdict recorded before the agent restarted)`, fail, true);
      return restored ? 'rolled_back' : 'rollback_failed';
    }
    if (!running) {
      return (await this.restore(target, plan, 'reversing an unfinished update', fail, false, 'reverted')) ? 'aborted' : 'rollback_failed';
    }
    if (!decided) {
      // found in flight with an image its nodes cannot pull: the failed apply the killed agent would have seen
      const pulled = await this.c.o.gate.pulled(target, plan, signal);
      if (!pulled.ok) {
        fail(`apply ${plan.toString()} (attempt ${plan.attempt}, found in flight)`, pulled.reason);
        this.c.audit({ event: 'apply-failed', target: w.id, model: w.model, from: rec.from, to: rec.to, trigger: rec.trigger, attempt: rec.attempt,
          result: 'failed', reason: pulled.reason });
        if (!(await this.restore(target, plan, `apply failed: ${pulled.reason}`, fail, false, 'reverted'))) return 'rollback_failed';
        this.c.held.delete(w.id);
        this.c.o.metrics.updates.inc({ result: 'failed' });
        await this.countFailedCycle(w, plan, pulled.reason, target);
        return 'failed';
      }
    }
    if (decided?.decision === 'promote' && target.observe) {
      // The gate passed before the restart: finish the promotion if the new version still runs, without judging it again.
      const seen = await this.c.bounded(async (s) => ({ ok: true as const, value: await target.observe!(w, rec.to, s) }));
      if (seen.ok && seen.value.running) return this.finishPromote(target, plan, `${decided.reason} (verdict recorded before the agent restarted)`, {}, fail);
    }
    return this.verifyAndDecide(target, plan, signal, fail);
  }

  /**
   * The verdict already durable for this in-flight attempt, if any: the version quarantined (in the state store or
   * on the workload: a rollback decided, or an operator's quarantine meanwhile), or a `verify` entry of the
   * attempt in the audit log.
   */
  private decided(w: Workload, rec: InFlightRecord, plan: UpdatePlan): { decision: 'rollback' | 'promote'; reason: string } | undefined {
    const q = this.c.o.quarantine.list().find((e) => e.model === w.model && sameVersion(e.version, plan.toVersion))
      ?? (w.quarantined ?? []).find((e) => sameVersion(e.version, plan.toVersion));
    if (q && !this.c.o.quarantine.releasedSince(w.model, q.version, q.since)) return { decision: 'rollback', reason: q.reason };
    let entries;
    try {
      entries = this.c.o.audit.read();
    } catch {
      return undefined;
    }
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (e.target !== w.id || e.to !== rec.to) continue;
      if (e.event === 'apply' && (e.attempt ?? 1) === rec.attempt) return undefined; // reached the attempt's start: no verdict
      if (e.event === 'verify' && e.result === 'rollback') return { decision: 'rollback', reason: e.reason ?? 'rolled back by the health gate' };
      if (e.event === 'verify' && e.result === 'promote') return { decision: 'promote', reason: e.reason ?? 'promoted by the health gate' };
      if (e.event === 'rolled-back' || e.event === 'promoted' || e.event === 'aborted') return undefined;
    }
    return undefined;
  }

  /**
   * A cycle in which every apply attempt failed: after `failureBudget` such cycles the version is quarantined with
   * the reason; until then it waits a backoff that doubles per failed cycle (the planner skips it meanwhile).
   */
  private async countFailedCycle(w: Workload, plan: UpdatePlan, reason: string, target: Target): Promise<void> {
    const key = `${w.id} ${plan.toVersion}`;
    const count = (this.c.applyFailures.get(key)?.count ?? 0) + 1;
    const budget = this.c.rollback.failureBudget ?? 3;
    if (count >= budget) {
      this.c.applyFailures.delete(key);
      await this.quarantine(w, plan, `every apply failed in ${count} cycle(s): ${reason}`, 'apply-failures', target);
      return;
    }
    const retryAt = this.c.o.clock.now().getTime() + backoffDelay(count, this.c.rollback.backoff);
    this.c.applyFailures.set(key, { count, retryAt, reason });
    this.c.audit({ event: 'failed', target: w.id, model: w.model, to: plan.to, result: 'backoff',
      reason: `failed cycle ${count} of ${budget}; next try after ${new Date(retryAt).toISOString()}` });
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
      await this.restore(target, plan, `apply failed: ${r.reason}`, fail, false, 'reverted');
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
