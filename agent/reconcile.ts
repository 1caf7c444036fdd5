/**
 * The reconcile loop: plan → apply → verify → promote | rollback, for every workload of every target.
 *
 * - The loop runs once now, then whenever a trigger fires (the poll timer, a webhook); events that arrive during a
 *   cycle are coalesced into the next one. It stops when its AbortSignal aborts.
 * - Failures are data: a target that cannot be listed, a registry that does not answer or an apply that fails is
 *   counted and logged, and the loop goes on with the next workload.
 * - Every change is gated: readiness, then the SLO bake window (see {@link HealthGate}). A failed version is rolled
 *   back (bounded attempts, per-attempt timeout, exponential backoff) and quarantined.
 * - Crash safety: the target records the in-flight update on the workload itself before changing it, and the audit
 *   log records it too. A workload discovered with an in-flight record is finished (verified, then promoted or
 *   rolled back) when it runs the new version, and reversed otherwise.
 * - Shutdown (abort) never leaves a half-done update: an apply in progress runs to its end (bounded by the attempt
 *   timeout), a verification in progress is cut short and the update is rolled back.
 */
import { ImageRef, parseVersionTag } from '../lib/core/image-ref';
import type { Candidate, UpdatePolicy } from '../lib/core/update-policy';
import { HealthGate, Verdict } from './health/gate';
import { AgentMetrics, Heartbeat } from './metrics';
import { AuditInput, AuditLog } from './state/audit';
import { QuarantineStore, sameVersion } from './state/quarantine';
import {
  Clock, InFlightRecord, Logger, nullLogger, Outcome, RegistryClient, RepositoryName, Target, Trigger, TriggerEvent, UpdatePlan, Workload,
} from './types';

/** Per-repository settings from `images:` in agent.yaml. */
export interface ImageSettings {
  /** `registry/repository`, e.g. `127.0.0.1:5000/models/recsys`. */
  readonly repository: string;
  /** Overrides the workload's own policy (label/annotation). */
  readonly policy?: UpdatePolicy;
  /** Overrides the default poll interval. */
  readonly pollIntervalMs?: number;
}

/** Rollback policy: bounded attempts, each with a timeout, exponential backoff between them. */
export interface RollbackSettings {
  /** @default 3 */
  readonly maxAttempts: number;
  /** @default 30000 */
  readonly attemptTimeoutMs: number;
  /** @default { initialMs: 1000, maxMs: 60000, factor: 2 } */
  readonly backoff: { readonly initialMs: number; readonly maxMs: number; readonly factor: number };
}

export const DEFAULT_ROLLBACK: RollbackSettings = {
  maxAttempts: 3, attemptTimeoutMs: 30_000, backoff: { initialMs: 1000, maxMs: 60_000, factor: 2 },
};

export interface ReconcilerOptions {
  readonly targets: readonly Target[];
  readonly registry: RegistryClient;
  readonly gate: HealthGate;
  readonly quarantine: QuarantineStore;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  readonly clock: Clock;
  /** Default poll interval of every repository. */
  readonly pollIntervalMs: number;
  readonly images?: readonly ImageSettings[];
  readonly rollback?: RollbackSettings;
  readonly logger?: Logger;
  readonly heartbeat?: Heartbeat;
}

/** What one cycle did. */
export interface CycleReport {
  readonly sources: string[];
  workloads: number;
  /** Workloads whose registry was asked this cycle. */
  checked: number;
  readonly updates: Array<{ readonly workload: string; readonly plan: string; readonly result: UpdateOutcome }>;
  readonly failures: string[];
}

/** How an update ended. `held`: inconclusive, kept unpromoted; `aborted`: reversed because the agent stopped. */
export type UpdateOutcome = 'promoted' | 'rolled_back' | 'failed' | 'held' | 'aborted' | 'rollback_failed';

/** Records one failure of the cycle. */
type Fail = (what: string, e: unknown) => void;

/** The delay before retry number `attempt` (1-based): `initial * factor^(attempt-1)`, at most `max`. */
export function backoffDelay(attempt: number, b: RollbackSettings['backoff']): number {
  return Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, Math.max(0, attempt - 1)));
}

/** Two image references name the same image: same repository, same tag (when both have one), same digest (when both have one). */
export function sameImage(a: string, b: string): boolean {
  const ra = ImageRef.tryParse(a, { allowMutableTag: true });
  const rb = ImageRef.tryParse(b, { allowMutableTag: true });
  if (!ra || !rb) return a === b;
  if (ra.name !== rb.name) return false;
  if (ra.digest && rb.digest) return ra.digest === rb.digest;
  return ra.tag !== undefined && ra.tag === rb.tag;
}

/** The version a policy compares and quarantines: the tag, or `tag@digest` for the digest policy. */
export function versionKey(policy: UpdatePolicy, c: Candidate): string {
  return policy.kind === 'digest' && c.digest ? `${c.tag}@${c.digest}` : c.tag;
}

export class Reconciler {
  private readonly log: Logger;
  private readonly rollback: RollbackSettings;
  private readonly images = new Map<string, ImageSettings>();
  private readonly lastChecked = new Map<string, number>();
  /** Workloads this agent itself holds unpromoted (inconclusive); others found in flight were left by a predecessor. */
  private readonly held = new Set<string>();
  /** `<workload> <digest>` → the tag it was rolled out under (engines may forget the tag). */
  private readonly promotedTags = new Map<string, string>();

  constructor(private readonly o: ReconcilerOptions) {
    this.log = o.logger ?? nullLogger;
    this.rollback = o.rollback ?? DEFAULT_ROLLBACK;
    for (const i of o.images ?? []) this.images.set(i.repository, i);
  }

  /** The shortest poll interval of any repository (the poll trigger's tick). */
  public get tickMs(): number {
    return Math.min(this.o.pollIntervalMs, ...[...this.images.values()].map((i) => i.pollIntervalMs ?? Infinity));
  }

  /**
   * Runs until `signal` aborts: one cycle now, then one per batch of trigger events (coalesced).
   * Resolves after the cycle in progress has finished safely.
   */
  public async run(triggers: readonly Trigger[], signal: AbortSignal): Promise<void> {
    const pending: TriggerEvent[] = [{ source: 'startup' }];
    let wake: (() => void) | undefined;
    const emit = (e: TriggerEvent): void => {
      pending.push(e);
      wake?.();
    };
    for (const t of triggers) {
      t.start(emit, signal).catch((e: unknown) => this.log.error('trigger failed', { error: (e as Error).message }));
    }
    this.log.info('agent loop started', { targets: this.o.targets.map((t) => t.kind), tickMs: this.tickMs });
    while (!signal.aborted) {
      if (pending.length === 0) {
        await new Promise<void>((resolve) => {
          const idle = setInterval(() => this.o.heartbeat?.beat(), 5000);
          const done = (): void => {
            clearInterval(idle);
            wake = undefined;
            signal.removeEventListener('abort', done);
            resolve();
          };
          wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      const events = pending.splice(0, pending.length);
      await this.runCycle(events, signal);
    }
    this.log.info('agent loop stopped');
  }

  /** One pass over every workload of every target. Never throws. */
  public async runCycle(events: readonly TriggerEvent[], signal?: AbortSignal): Promise<CycleReport> {
    const report: CycleReport = { sources: [...new Set(events.map((e) => e.source))], workloads: 0, checked: 0, updates: [], failures: [] };
    const fail = (what: string, e: unknown): void => {
      const reason = `${what}: ${e instanceof Error ? e.message : String(e)}`;
      report.failures.push(reason);
      this.o.metrics.failures.inc();
      this.log.warn('failure', { reason });
    };
    this.o.metrics.cycles.inc();
    this.beat();
    try {
      this.o.quarantine.reload();
    } catch (e) {
      fail('quarantine store', e);
    }

    const found: Array<{ target: Target; workload: Workload }> = [];
    for (const target of this.o.targets) {
      try {
        for (const w of await target.discover(signal)) found.push({ target, workload: w });
      } catch (e) {
        fail(`discover ${target.kind}`, e);
      }
    }
    report.workloads = found.length;
    const tags = new Map<string, Promise<string[]>>();

    // Alertmanager: roll the named version back wherever it runs, and quarantine it.
    for (const e of events) {
      if (!e.rollback || signal?.aborted) continue;
      try {
        await this.alertRollback(e, found, report, fail);
      } catch (err) {
        fail(`alert rollback ${e.rollback.model} ${e.rollback.version}`, err);
      }
    }

    const now = this.o.clock.now().getTime();
    for (const { target, workload } of found) {
      if (signal?.aborted) break;
      try {
        if (workload.inFlight) {
          const result = await this.resume(target, workload, signal, fail);
          report.updates.push({ workload: workload.id, plan: `${workload.name} ${workload.inFlight.from} -> ${workload.inFlight.to}`, result });
          continue;
        }
        const trigger = this.triggerFor(workload, events, now);
        if (!trigger) continue;
        report.checked++;
        const plan = await this.plan(workload, trigger, tags, signal);
        if (!plan) continue;
        const result = await this.execute(target, plan, signal, fail);
        report.updates.push({ workload: workload.id, plan: plan.toString(), result });
      } catch (e) {
        fail(`${workload.id}`, e);
      }
      this.beat();
    }

    this.o.metrics.quarantined.set(this.o.quarantine.list().length);
    if (report.failures.length === 0) this.o.metrics.lastSuccess.set(this.o.clock.now().getTime() / 1000);
    this.beat();
    this.log.info('cycle done', {
      sources: report.sources, workloads: report.workloads, checked: report.checked,
      updates: report.updates.map((u) => `${u.plan}: ${u.result}`), failures: report.failures.length,
    });
    return report;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Planning
  // -------------------------------------------------------------------------------------------------------------

  /** Why this workload is looked at now (a trigger source), or undefined to leave it alone. */
  private triggerFor(w: Workload, events: readonly TriggerEvent[], now: number): string | undefined {
    const ref = ImageRef.tryParse(w.image, { allowMutableTag: true });
    const repo = ref?.name ?? w.image;
    for (const e of events) {
      if (e.rollback) continue;
      if (e.source === 'poll') {
        const interval = this.images.get(repo)?.pollIntervalMs ?? this.o.pollIntervalMs;
        const last = this.lastChecked.get(repo);
        // A quarter tick of slack so a timer that fires a few ms early does not skip a whole interval.
        if (last === undefined || now - last + this.tickMs / 4 >= interval) return e.source;
        continue;
      }
      const repos = e.repositories ?? [];
      const models = e.models ?? [];
      if (repos.length === 0 && models.length === 0) return e.source;
      if (ref && repos.some((r) => r === ref.name || r === ref.repository || r.replace(/:[^/]*$/, '') === ref.name)) return e.source;
      if (models.includes(w.model)) return e.source;
    }
    return undefined;
  }

  /** Asks the registry and the policy for a newer version. */
  private async plan(w: Workload, trigger: string, tags: Map<string, Promise<string[]>>, signal?: AbortSignal): Promise<UpdatePlan | undefined> {
    let ref = ImageRef.parse(w.image, { field: `${w.id} image`, allowMutableTag: true });
    const repo: RepositoryName = { registry: ref.registry, repository: ref.repository };
    const policy = this.images.get(ref.name)?.policy ?? w.policy;
    this.lastChecked.set(ref.name, this.o.clock.now().getTime());
    if (policy.kind === 'pinned') return undefined;
    if (ref.tag === undefined && ref.digest) {
      // Some engines (podman) report `repo@digest` for a container created from `repo:tag@digest`: the tag is
      // recovered from the promotion that put this digest there.
      const tag = this.tagOfDigest(w.id, ref.name, ref.digest);
      if (tag) ref = ImageRef.parse(`${ref.name}:${tag}@${ref.digest}`, { allowMutableTag: true });
    }
    if (ref.tag === undefined) {
      this.log.warn('skipping a workload whose image has no tag (a bare digest the agent did not roll out)', { workload: w.id, image: w.image });
      return undefined;
    }
    const current = { tag: ref.tag, digest: ref.digest ?? w.digest };
    let candidates: Candidate[];
    if (policy.kind === 'digest') {
      candidates = [{ tag: ref.tag, digest: await this.o.registry.resolveDigest(repo, ref.tag, signal) }];
    } else {
      let list = tags.get(ref.name);
      if (!list) {
        list = this.o.registry.listTags(repo, signal);
        tags.set(ref.name, list);
      }
      candidates = (await list).map((tag) => ({ tag }));
    }
    const chosen = policy.select(current, candidates, (c) => this.o.quarantine.isQuarantined(w.model, versionKey(policy, c)));
    if (!chosen) return undefined;
    const digest = chosen.digest ?? await this.resolveListedTag(repo, chosen.tag, signal);
    const to = `${ref.name}:${chosen.tag}@${digest}`;
    const recovered = ref.toString() !== ImageRef.parse(w.image, { allowMutableTag: true }).toString();
    const from = recovered ? ref.toString() : ref.digest || !w.digest ? w.image : `${w.image}@${w.digest}`;
    const fromVersion = policy.kind === 'digest' ? `${ref.tag}@${current.digest ?? 'unknown'}` : ref.tag;
    const plan = new UpdatePlan(w, from, to, fromVersion, versionKey(policy, { tag: chosen.tag, digest }), trigger);
    this.audit({ event: 'planned', target: w.id, model: w.model, from, to, trigger, result: 'ok', reason: `policy ${policy.toString()} chose ${plan.toVersion}` });
    return plan;
  }

  /**
   * Resolves the digest of a tag the registry has just listed. A push can be listed (and announced by the registry's
   * push notification) a moment before its tag resolves — the distribution registry sends the notification when the
   * manifest is stored and links the tag after — so a 404 here is retried briefly (250 ms, 500 ms, 1 s) before it
   * counts as a failure; the next poll tries again in any case.
   */
  private async resolveListedTag(repo: RepositoryName, tag: string, signal?: AbortSignal): Promise<string> {
    const delaysMs = [250, 500, 1000];
    for (let retry = 0; ; retry++) {
      try {
        return await this.o.registry.resolveDigest(repo, tag, signal);
      } catch (e) {
        if ((e as { status?: unknown }).status !== 404 || retry >= delaysMs.length || signal?.aborted) throw e;
        this.log.info('listed tag does not resolve yet; retrying', { repository: `${repo.registry}/${repo.repository}`, tag, delayMs: delaysMs[retry] });
        await this.o.clock.sleep(delaysMs[retry], signal);
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Apply → verify → promote | rollback
  // -------------------------------------------------------------------------------------------------------------

  private async execute(target: Target, plan: UpdatePlan, signal: AbortSignal | undefined, fail: Fail): Promise<UpdateOutcome> {
    const w = plan.workload;
    let applied: UpdatePlan | undefined;
    let attempt = plan;
    for (;;) {
      this.audit({ event: 'apply', target: w.id, model: w.model, from: attempt.from, to: attempt.to, trigger: attempt.trigger, attempt: attempt.attempt, result: 'started' });
      this.log.info('applying', { plan: attempt.toString(), attempt: attempt.attempt, to: attempt.to });
      const r = await this.bounded((s) => target.apply(attempt, s));
      if (r.ok) {
        applied = attempt;
        break;
      }
      fail(`apply ${attempt.toString()} (attempt ${attempt.attempt})`, r.reason);
      this.audit({ event: 'apply-failed', target: w.id, model: w.model, from: attempt.from, to: attempt.to, trigger: attempt.trigger, attempt: attempt.attempt, result: 'failed', reason: r.reason });
      // Whatever the failed apply left (a record, a half-created container) is reversed before anything else.
      if (!(await this.restore(target, attempt, `apply failed: ${r.reason}`, fail, false))) return 'rollback_failed';
      if (attempt.attempt >= this.rollback.maxAttempts || signal?.aborted) {
        this.o.metrics.updates.inc({ result: 'failed' });
        this.audit({ event: 'failed', target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, attempt: attempt.attempt, result: 'failed', reason: `gave up after ${attempt.attempt} attempt(s): ${r.reason}` });
        return 'failed';
      }
      await this.o.clock.sleep(backoffDelay(attempt.attempt, this.rollback.backoff), signal);
      attempt = attempt.nextAttempt();
    }
    return this.verifyAndDecide(target, applied, signal, fail);
  }

  private async verifyAndDecide(target: Target, plan: UpdatePlan, signal: AbortSignal | undefined, fail: Fail): Promise<UpdateOutcome> {
    const w = plan.workload;
    const verdict: Verdict = await this.o.gate.verify(target, plan, signal);
    this.beat();
    const base = { target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, attempt: plan.attempt };
    this.audit({ ...base, event: 'verify', result: verdict.decision, reason: verdict.checks.map((c) => `${c.name}: ${c.status} (${c.reason})`).join('; ') });
    switch (verdict.decision) {
      case 'promote': {
        const r = await this.retrying((s) => target.promote(plan, s));
        if (!r.ok) {
          // The new version stays in flight; the next cycle verifies it again and retries the promotion.
          fail(`promote ${plan.toString()}`, r.reason);
          this.audit({ ...base, event: 'failed', result: 'failed', reason: `promote failed: ${r.reason}` });
          return 'failed';
        }
        this.held.delete(w.id);
        this.o.metrics.updates.inc({ result: 'promoted' });
        this.audit({ ...base, event: 'promoted', result: 'ok', reason: verdict.reason });
        this.log.info('promoted', { plan: plan.toString(), reason: verdict.reason });
        for (const dropped of this.o.quarantine.supersede(w.model, plan.toVersion)) {
          this.audit({ event: 'released', target: w.id, model: w.model, result: 'superseded', reason: `${dropped.version} superseded by ${plan.toVersion}` });
        }
        return 'promoted';
      }
      case 'rollback': {
        this.held.delete(w.id);
        const restored = await this.restore(target, plan, verdict.reason, fail, true);
        this.quarantine(w, plan, verdict.reason, 'health-gate');
        return restored ? 'rolled_back' : 'rollback_failed';
      }
      case 'hold':
        this.held.add(w.id);
        this.audit({ ...base, event: 'held', result: 'inconclusive', reason: verdict.reason });
        this.log.warn('holding unpromoted', { plan: plan.toString(), reason: verdict.reason });
        return 'held';
      case 'abort': {
        const restored = await this.restore(target, plan, 'agent shutting down before the new version was proven healthy', fail, false);
        this.audit({ ...base, event: 'aborted', result: restored ? 'ok' : 'failed', reason: 'agent shutting down; the previous version was restored' });
        return restored ? 'aborted' : 'rollback_failed';
      }
    }
  }

  /**
   * Restores the previous version (read from the record on the target), retrying with backoff. Runs to its end
   * even during shutdown: a half-done update is worse than a late exit. Returns false when every attempt failed
   * (the in-flight record stays on the target, so the next cycle or the next agent tries again).
   */
  private async restore(target: Target, plan: UpdatePlan, reason: string, fail: Fail, countAsRollback: boolean): Promise<boolean> {
    const w = plan.workload;
    const base = { target: w.id, model: w.model, from: plan.to, to: plan.from, trigger: plan.trigger };
    for (let attempt = 1; ; attempt++) {
      const r = await this.bounded((s) => target.rollback(plan, s));
      this.beat();
      if (r.ok) {
        if (countAsRollback) {
          this.o.metrics.rollbacks.inc();
          this.o.metrics.updates.inc({ result: 'rolled_back' });
        }
        this.audit({ ...base, event: 'rolled-back', attempt, result: 'ok', reason });
        this.log.warn('rolled back', { plan: plan.toString(), reason, attempt });
        return true;
      }
      fail(`rollback ${plan.toString()} (attempt ${attempt})`, r.reason);
      this.audit({ ...base, event: 'rollback-failed', attempt, result: 'failed', reason: r.reason });
      if (attempt >= this.rollback.maxAttempts) {
        this.log.error('rollback failed; the in-flight record stays on the target for the next cycle', { plan: plan.toString(), reason: r.reason });
        return false;
      }
      await this.o.clock.sleep(backoffDelay(attempt, this.rollback.backoff));
    }
  }

  private quarantine(w: Workload, plan: UpdatePlan, reason: string, source: string): void {
    const added = this.o.quarantine.add({
      model: w.model, version: plan.toVersion, repository: ImageRef.tryParse(plan.to, { allowMutableTag: true })?.name, reason, source,
      since: this.o.clock.now().toISOString(),
    });
    if (added) {
      this.audit({ event: 'quarantined', target: w.id, model: w.model, to: plan.to, trigger: plan.trigger, result: 'ok', reason: `${plan.toVersion}: ${reason}` });
    }
    this.o.metrics.quarantined.set(this.o.quarantine.list().length);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Crash recovery and Alertmanager rollbacks
  // -------------------------------------------------------------------------------------------------------------

  /** Finishes (verify → promote | rollback) or reverses an update found in flight on the target. */
  private async resume(target: Target, w: Workload, signal: AbortSignal | undefined, fail: Fail): Promise<UpdateOutcome> {
    const rec = w.inFlight as InFlightRecord;
    const plan = planFromRecord(w, rec);
    const mine = this.held.has(w.id);
    const running = sameImage(w.image, rec.to);
    this.audit({
      event: mine ? 'verify' : 'recovered', target: w.id, model: w.model, from: rec.from, to: rec.to, trigger: rec.trigger, attempt: rec.attempt,
      result: running ? 'finishing' : 'reversing',
      reason: mine ? 'held unpromoted; verifying again' : `in-flight update started ${rec.startedAt} found on the target; ${running ? 'the new version runs: verifying it' : 'the new version does not run: restoring the previous one'}`,
    });
    if (!running) {
      return (await this.restore(target, plan, 'reversing an unfinished update', fail, false)) ? 'aborted' : 'rollback_failed';
    }
    return this.verifyAndDecide(target, plan, signal, fail);
  }

  private async alertRollback(e: TriggerEvent, found: ReadonlyArray<{ target: Target; workload: Workload }>, report: CycleReport,
    fail: Fail): Promise<void> {
    const rb = e.rollback!;
    const reason = `alert: ${rb.reason}`;
    let acted = false;
    for (const { target, workload: w } of found) {
      if (w.model !== rb.model) continue;
      if (w.inFlight && sameVersion(versionOfRef(w.inFlight.to), rb.version)) {
        const plan = planFromRecord(w, w.inFlight);
        const ok = await this.restore(target, plan, reason, fail, true);
        this.quarantine(w, plan, reason, e.source);
        this.held.delete(w.id);
        report.updates.push({ workload: w.id, plan: plan.toString(), result: ok ? 'rolled_back' : 'rollback_failed' });
        acted = true;
        continue;
      }
      const running = versionOfRef(w.image);
      if (w.inFlight || !sameVersion(running, rb.version)) continue;
      acted = true;
      // Promoted already: move forward to what ran before (from the audit log, else the highest lower version).
      const current = new UpdatePlan(w, w.image, w.image, running, running, e.source);
      this.quarantine(w, current, reason, e.source);
      const previous = this.o.audit.previousOf(w.id, (img) => sameImage(img, w.image)) ?? await this.lowerVersion(w);
      if (!previous) {
        fail(`alert rollback ${w.id}`, `no earlier version of ${rb.model} is known to go back to`);
        continue;
      }
      const plan = new UpdatePlan(w, w.image, previous, running, versionOfRef(previous), e.source);
      const result = await this.applyKnownGood(target, plan, reason, fail);
      report.updates.push({ workload: w.id, plan: plan.toString(), result });
    }
    if (!acted) {
      this.o.quarantine.add({ model: rb.model, version: rb.version, reason, source: e.source, since: this.o.clock.now().toISOString() });
      this.audit({ event: 'quarantined', target: '-', model: rb.model, trigger: e.source, result: 'ok', reason: `${rb.version}: ${reason} (no workload runs it)` });
    }
  }

  /**
   * Goes back to a version that was proven before: apply, readiness, promote. The SLO bake is skipped (the alert
   * says the current version is the bad one); if the old version does not even become ready, the current one is
   * restored and the failure is counted.
   */
  private async applyKnownGood(target: Target, plan: UpdatePlan, reason: string, fail: Fail): Promise<UpdateOutcome> {
    const w = plan.workload;
    const base = { target: w.id, model: w.model, from: plan.from, to: plan.to, trigger: plan.trigger, attempt: plan.attempt };
    this.audit({ ...base, event: 'apply', result: 'started', reason });
    const r = await this.bounded((s) => target.apply(plan, s));
    if (!r.ok) {
      fail(`alert rollback ${plan.toString()}`, r.reason);
      this.audit({ ...base, event: 'apply-failed', result: 'failed', reason: r.reason });
      await this.restore(target, plan, `apply failed: ${r.reason}`, fail, false);
      this.o.metrics.updates.inc({ result: 'failed' });
      return 'failed';
    }
    const ready = await this.o.gate.readiness(target, plan);
    if (ready.status !== 'Healthy') {
      fail(`alert rollback ${plan.toString()}`, `previous version not ready: ${ready.reason}`);
      await this.restore(target, plan, `previous version not ready: ${ready.reason}`, fail, false);
      this.o.metrics.updates.inc({ result: 'failed' });
      return 'failed';
    }
    const p = await this.retrying((s) => target.promote(plan, s));
    if (!p.ok) {
      fail(`promote ${plan.toString()}`, p.reason);
      return 'failed';
    }
    this.o.metrics.rollbacks.inc();
    this.o.metrics.updates.inc({ result: 'rolled_back' });
    this.audit({ ...base, event: 'rolled-back', result: 'ok', reason });
    return 'rolled_back';
  }

  /** The highest version below the current one that is not quarantined (semver tags only). */
  private async lowerVersion(w: Workload): Promise<string | undefined> {
    const ref = ImageRef.tryParse(w.image, { allowMutableTag: true });
    const cur = ref?.tag ? parseVersionTag(ref.tag) : undefined;
    if (!ref || !cur) return undefined;
    const tags = await this.o.registry.listTags({ registry: ref.registry, repository: ref.repository });
    let best: { tag: string; v: NonNullable<ReturnType<typeof parseVersionTag>> } | undefined;
    for (const tag of tags) {
      const v = parseVersionTag(tag);
      if (!v || v.compare(cur) >= 0 || v.prerelease.length > 0 || this.o.quarantine.isQuarantined(w.model, tag)) continue;
      if (!best || v.compare(best.v) > 0) best = { tag, v };
    }
    if (!best) return undefined;
    const digest = await this.o.registry.resolveDigest({ registry: ref.registry, repository: ref.repository }, best.tag);
    return `${ref.name}:${best.tag}@${digest}`;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------------------------------------------

  /** The tag a digest was rolled out under on this workload (from this agent's memory, else the audit log). */
  private tagOfDigest(workload: string, name: string, digest: string): string | undefined {
    const cached = this.promotedTags.get(`${workload} ${digest}`);
    if (cached) return cached;
    let found: string | undefined;
    try {
      for (const e of this.o.audit.read()) {
        if (e.target !== workload || (e.event !== 'promoted' && e.event !== 'apply') || !e.to) continue;
        const r = ImageRef.tryParse(e.to, { allowMutableTag: true });
        if (r && r.name === name && r.digest === digest && r.tag) found = r.tag;
      }
    } catch (e) {
      this.log.warn('audit log unreadable', { error: (e as Error).message });
    }
    if (found) this.promotedTags.set(`${workload} ${digest}`, found);
    return found;
  }

  /** Runs one target operation with the per-attempt timeout; a throw or a timeout is a failed Outcome. */
  private async bounded(op: (signal: AbortSignal) => Promise<Outcome>): Promise<Outcome> {
    const ms = this.rollback.attemptTimeoutMs;
    const ctl = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => {
        ctl.abort(new Error(`timed out after ${ms} ms`));
        resolve({ ok: false, reason: `timed out after ${ms} ms (rollback.attemptTimeout)` });
      }, ms);
    });
    try {
      const run = op(ctl.signal).catch((e: unknown): Outcome => ({ ok: false, reason: (e as Error)?.message ?? String(e) }));
      return await Promise.race([run, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A bounded operation retried with backoff up to `maxAttempts`. */
  private async retrying(op: (signal: AbortSignal) => Promise<Outcome>): Promise<Outcome> {
    let r: Outcome = { ok: false, reason: 'not attempted' };
    for (let attempt = 1; attempt <= this.rollback.maxAttempts; attempt++) {
      r = await this.bounded(op);
      if (r.ok) return r;
      if (attempt < this.rollback.maxAttempts) await this.o.clock.sleep(backoffDelay(attempt, this.rollback.backoff));
    }
    return r;
  }

  private audit(e: AuditInput): void {
    try {
      this.o.audit.append({ time: this.o.clock.now().toISOString(), ...e });
    } catch (err) {
      this.o.metrics.failures.inc();
      this.log.error('audit log write failed', { error: (err as Error).message, entry: e });
    }
  }

  private beat(): void {
    this.o.heartbeat?.beat();
  }
}

/** The plan an in-flight record describes. */
export function planFromRecord(w: Workload, rec: InFlightRecord): UpdatePlan {
  return new UpdatePlan(w, rec.from, rec.to, versionOfRef(rec.from, w.policy), versionOfRef(rec.to, w.policy), rec.trigger, rec.attempt);
}

/**
 * The version of an image reference as policies compare and the quarantine stores it: the tag, or `tag@digest`
 * under the digest policy.
 */
export function versionOfRef(ref: string, policy?: UpdatePolicy): string {
  const r = ImageRef.tryParse(ref, { allowMutableTag: true });
  if (!r) return ref;
  if (policy?.kind === 'digest' && r.tag && r.digest) return `${r.tag}@${r.digest}`;
  return r.tag ?? r.digest ?? ref;
}
