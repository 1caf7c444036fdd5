/**
 * Watching the running version, not only updates: a current version found crashed (Workload.down) is started
 * again, bounded (`rollback.maxRestarts`) with `rollback.backoff` between tries, counted and audited. A version
 * that keeps crashing after that is failing: it is quarantined and, when the audit log (or the workload itself)
 * knows the version it replaced, that version is restored the way an alert-driven rollback restores it (apply,
 * readiness, promote).
 *
 * A target that restarts by itself (Kubernetes: the kubelet) has no `revive`: there the loop asks the target about
 * the current version's instances, and a version whose pods have restarted `rollback.maxRestarts` times (or were
 * OOM-killed) while the workload is down is failing. Down for another reason (Pending pods on a full cluster) is
 * logged and left alone: it is not the version's fault.
 */
import { ImageRef, sameImage } from '../../lib/core/image-ref';
import { backoffDelay } from '../retry';
import { RuntimeState, Target, UpdatePlan, Workload } from '../types';
import type { LoopContext } from './context';
import type { CycleReport, Fail } from './settings';
import type { UpdateRunner } from './update';

export class Reviver {
  /** `<workload> <image>` → restarts so far and when the next may be tried. */
  private readonly tries = new Map<string, { count: number; nextAt: number }>();

  constructor(private readonly c: LoopContext, private readonly runner: UpdateRunner) {}

  /** Workload id → the image it runs and when that image was promoted (from the audit log), or undefined: not by this agent. */
  private readonly promoted = new Map<string, { image: string; at: number | undefined }>();

  /**
   * The post-promotion watch: for `rollback.watchAfterPromotionMs` after a version's promotion, what the target says
   * about it (restarts by the engine's restart policy or the kubelet, exits such as 137, OOM kills) is read every
   * cycle. `maxRestarts` restarts, or an OOM kill, is a failed version: quarantined first, then the version it
   * replaced (its digest, recorded in the audit log, which the registry still serves) is restored. True when it acted.
   */
  public async watchPromoted(target: Target, w: Workload, report: CycleReport, fail: Fail): Promise<boolean> {
    const windowMs = this.c.rollback.watchAfterPromotionMs ?? 900_000;
    if (!target.observe || w.inFlight || windowMs <= 0) return false;
    const at = this.promotedAt(w);
    if (at === undefined || this.c.o.clock.now().getTime() - at > windowMs) return false;
    const seen = await this.c.bounded<RuntimeState>(async (s) => ({ ok: true, value: await target.observe!(w, w.image, s) }));
    if (!seen.ok) return false;
    const budget = this.c.rollback.maxRestarts ?? 3;
    const s = seen.value;
    if (s.restarts < budget && !s.oomKilled) return false;
    const since = Math.round((this.c.o.clock.now().getTime() - at) / 1000);
    const why = s.oomKilled ? 'OOM-killed' : `${s.restarts} restart(s), budget ${budget}`;
    this.c.log.warn('a promoted version keeps crashing; rolling back', { workload: w.id, image: w.image, restarts: s.restarts, oomKilled: s.oomKilled, since });
    await this.giveUp(target, w, `crashing after its promotion ${since}s ago (watched for ${Math.round(windowMs / 1000)}s): ${s.detail} (${why})`, report, fail);
    this.promoted.delete(w.id);
    return true;
  }

  /** When the image the workload runs was promoted, per the audit log (read again only when the image changes). */
  private promotedAt(w: Workload): number | undefined {
    const known = this.promoted.get(w.id);
    if (known && known.image === w.image) return known.at;
    let at: number | undefined;
    try {
      const entries = this.c.o.audit.read();
      for (let i = entries.length - 1; i >= 0; i--) {
        const e = entries[i];
        if (e.target !== w.id || !e.to || !sameImage(e.to, w.image)) continue;
        if (e.event === 'promoted') {
          at = Date.parse(e.time);
          break;
        }
      }
    } catch {
      at = undefined;
    }
    if (this.promoted.size >= 10_000) this.promoted.clear();
    this.promoted.set(w.id, { image: w.image, at: Number.isFinite(at) ? at : undefined });
    return Number.isFinite(at) ? at : undefined;
  }

  /** Forgets the restarts of a workload that runs again (or runs another image). */
  public running(w: Workload): void {
    for (const key of this.tries.keys()) if (key.startsWith(`${w.id} `) && key !== `${w.id} ${w.image}`) this.tries.delete(key);
  }

  public async handle(target: Target, w: Workload, report: CycleReport, fail: Fail): Promise<void> {
    if (!w.down) return;
    if (!target.revive) {
      await this.judgeSelfRestarting(target, w, report, fail);
      return;
    }
    const key = `${w.id} ${w.image}`;
    const now = this.c.o.clock.now().getTime();
    const t = this.tries.get(key) ?? { count: 0, nextAt: 0 };
    const budget = this.c.rollback.maxRestarts ?? 3;
    if (t.count >= budget) {
      this.tries.delete(key);
      await this.giveUp(target, w, `${w.down}; it crashed again after ${t.count} restart(s)`, report, fail);
      return;
    }
    if (now < t.nextAt) return;
    const r = await this.c.bounded((s) => target.revive!(w, s));
    t.count++;
    t.nextAt = now + backoffDelay(t.count, this.c.rollback.backoff);
    this.tries.set(key, t);
    if (!r.ok) {
      fail(`restart ${w.id}`, r.reason);
      this.c.audit({ event: 'restart-failed', target: w.id, model: w.model, to: w.image, attempt: t.count, result: 'failed', reason: `${w.down}: ${r.reason}` });
      return;
    }
    this.c.o.metrics.restarts.inc();
    this.c.audit({ event: 'restarted', target: w.id, model: w.model, to: w.image, attempt: t.count, result: 'ok', reason: `${w.down}; ${r.value}` });
    this.c.log.warn('restarted a crashed model container', { workload: w.id, image: w.image, restart: t.count, of: budget, was: w.down });
    report.updates.push({ workload: w.id, plan: `${w.name} restart ${t.count}/${budget}`, result: 'restarted' });
  }

  private async judgeSelfRestarting(target: Target, w: Workload, report: CycleReport, fail: Fail): Promise<void> {
    if (!target.observe) return;
    const seen = await this.c.bounded<RuntimeState>(async (s) => ({ ok: true, value: await target.observe!(w, w.image, s) }));
    if (!seen.ok) {
      fail(`observe ${w.id}`, seen.reason);
      return;
    }
    const state = seen.value;
    const budget = this.c.rollback.maxRestarts ?? 3;
    if (state.running || (state.restarts < budget && !state.oomKilled)) {
      this.c.log.warn('the current version is down, not (yet) by its own fault; left alone', { workload: w.id, image: w.image, was: w.down, pods: state.detail });
      return;
    }
    const why = state.oomKilled ? 'OOM-killed' : `${state.restarts} restart(s), budget ${budget}`;
    await this.giveUp(target, w, `${w.down}; ${state.detail} (${why})`, report, fail);
  }

  /** The version keeps crashing: quarantine it, and go back to the one it replaced when that is known. */
  private async giveUp(target: Target, w: Workload, reason: string, report: CycleReport, fail: Fail): Promise<void> {
    const version = ImageRef.tryParse(w.image, { allowMutableTag: true })?.tag ?? w.image;
    let previous: string | undefined;
    try {
      previous = this.c.o.audit.previousOf(w.id, (img) => sameImage(img, w.image));
    } catch {
      previous = undefined;
    }
    previous ??= w.previousImage;
    const plan = new UpdatePlan(w, w.image, previous ?? w.image, version, previous ? (ImageRef.tryParse(previous, { allowMutableTag: true })?.tag ?? previous) : version, 'restart-budget');
    await this.runner.quarantine(w, new UpdatePlan(w, w.image, w.image, version, version, 'restart-budget'), reason, 'restart-budget', target);
    if (!previous) {
      this.c.log.error('the current version keeps crashing and no earlier version is known; quarantined, left as it is', { workload: w.id, reason });
      report.failures.push(`${w.id}: ${reason}; no earlier version known to go back to`);
      return;
    }
    // The engine starts it once more so the update can move off it the usual way (the old one is kept until proven).
    if (target.revive) await this.c.bounded((s) => target.revive!(w, s));
    const result = await this.runner.applyKnownGood(target, plan, `the current version keeps crashing: ${reason}`, fail);
    report.updates.push({ workload: w.id, plan: plan.toString(), result });
  }
}
