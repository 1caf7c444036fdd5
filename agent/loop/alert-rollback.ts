/** Alert-driven rollback: Alertmanager names a model version; it is rolled back wherever it runs, and quarantined. */
import { ImageRef, sameImage, sameVersion, versionOfRef } from '../../lib/core/image-ref';
import { Target, TriggerEvent, UpdatePlan, Workload } from '../types';
import type { LoopContext } from './context';
import { planFromRecord } from './records';
import type { CycleReport, Fail } from './settings';
import type { UpdateRunner } from './update';

export class AlertRollbacks {
  constructor(private readonly c: LoopContext, private readonly runner: UpdateRunner) {}

  public async handle(e: TriggerEvent, found: ReadonlyArray<{ target: Target; workload: Workload }>, report: CycleReport, fail: Fail): Promise<void> {
    if (this.releasedSinceAlert(e)) return;
    let acted = false;
    for (const { target, workload } of found) {
      if (await this.handleOne(e, target, workload, report, fail)) acted = true;
    }
    if (!acted) this.quarantineUnrun(e);
  }

  /** Rolls the alert's version back on one workload, if it runs (or rolls out) that version. True when it acted. */
  public async handleOne(e: TriggerEvent, target: Target, w: Workload, report: CycleReport, fail: Fail): Promise<boolean> {
    const rb = e.rollback!;
    const reason = `alert: ${rb.reason}`;
    if (w.model !== rb.model) return false;
    if (w.inFlight && sameVersion(versionOfRef(w.inFlight.to), rb.version)) {
      const plan = planFromRecord(w, w.inFlight);
      this.c.held.delete(w.id);
      const result = await this.runner.rollBackDecided(target, w, plan, reason, e.source, fail);
      report.updates.push({ workload: w.id, plan: plan.toString(), result });
      return true;
    }
    const running = versionOfRef(w.image);
    if (w.inFlight || !sameVersion(running, rb.version)) return false;
    // Promoted already: move forward to what ran before (from the audit log, else the highest lower version).
    const current = new UpdatePlan(w, w.image, w.image, running, running, e.source);
    await this.runner.quarantine(w, current, reason, e.source, target);
    const previous = this.c.o.audit.previousOf(w.id, (img) => sameImage(img, w.image)) ?? await this.previousVersion(w);
    if (!previous) {
      fail(`alert rollback ${w.id}`, `no earlier version of ${rb.model} is known to go back to`);
      return true;
    }
    const plan = new UpdatePlan(w, w.image, previous, running, versionOfRef(previous), e.source);
    const result = await this.runner.applyKnownGood(target, plan, reason, fail);
    report.updates.push({ workload: w.id, plan: plan.toString(), result });
    return true;
  }

  /**
   * An alert that began firing before an operator released its version is not acted on (the release is the newer
   * decision; Alertmanager repeats a firing alert's notification, and anyone holding one can replay it). It is
   * audited as `ignored` once per alert start. A new alert, firing after the release, acts as usual.
   */
  public releasedSinceAlert(e: TriggerEvent): boolean {
    const rb = e.rollback!;
    if (!rb.startsAt || !this.c.o.quarantine.releasedSince(rb.model, rb.version, rb.startsAt)) return false;
    const key = `${rb.model}@${rb.version}@${rb.startsAt}`;
    if (!this.ignored.has(key)) {
      if (this.ignored.size >= 1000) this.ignored.clear();
      this.ignored.add(key);
      this.c.audit({ event: 'ignored', target: '-', model: rb.model, trigger: e.source, result: 'ok',
        reason: `${rb.version}: alert: ${rb.reason}, firing since ${rb.startsAt}, began before an operator released this version; a new alert would act` });
    }
    this.c.log.info('alert ignored: the version was released after it began', { model: rb.model, version: rb.version, startsAt: rb.startsAt });
    return true;
  }

  private readonly ignored = new Set<string>();

  /** No workload runs the alert's version: it is quarantined all the same, so it is never rolled out. */
  public quarantineUnrun(e: TriggerEvent): void {
    const rb = e.rollback!;
    const reason = `alert: ${rb.reason}`;
    this.c.o.quarantine.add({ model: rb.model, version: rb.version, reason, source: e.source, since: this.c.o.clock.now().toISOString() });
    this.c.audit({ event: 'quarantined', target: '-', model: rb.model, trigger: e.source, result: 'ok', reason: `${rb.version}: ${reason} (no workload runs it)` });
  }

  /** Where to go back to without a record: the policy's {@link UpdatePolicy.selectPrevious} over the registry's tags. */
  private async previousVersion(w: Workload): Promise<string | undefined> {
    const ref = ImageRef.tryParse(w.image, { allowMutableTag: true });
    if (!ref?.tag) return undefined;
    const repo = { registry: ref.registry, repository: ref.repository };
    const tags = await this.c.o.registry.listTags(repo);
    const chosen = w.policy.selectPrevious({ tag: ref.tag }, tags.map((tag) => ({ tag })), (c) => this.c.o.quarantine.isQuarantined(w.model, c.tag));
    if (!chosen) return undefined;
    return `${ref.name}:${chosen.tag}@${await this.c.o.registry.resolveDigest(repo, chosen.tag)}`;
  }
}
