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
import { nullLogger, Target, Trigger, TriggerEvent, Workload } from '../types';
import { AlertRollbacks } from './alert-rollback';
import { LoopContext, ReconcilerOptions } from './context';
import { Planner } from './planner';
import { DEFAULT_ROLLBACK } from './settings';
import type { CycleReport } from './settings';
import { UpdateRunner } from './update';

export type { ReconcilerOptions };

/** The loop; its parts are the {@link Planner}, the {@link UpdateRunner} and the {@link AlertRollbacks}. */
export class Reconciler {
  private readonly c: LoopContext;
  private readonly planner: Planner;
  private readonly runner: UpdateRunner;
  private readonly alerts: AlertRollbacks;

  constructor(private readonly o: ReconcilerOptions) {
    this.c = new LoopContext(o, o.rollback ?? DEFAULT_ROLLBACK, o.logger ?? nullLogger);
    this.planner = new Planner(this.c);
    this.runner = new UpdateRunner(this.c);
    this.alerts = new AlertRollbacks(this.c, this.runner);
  }

  /** The shortest poll interval of any repository (the poll trigger's tick). */
  public get tickMs(): number {
    return this.planner.tickMs;
  }

  /** What the agent could not persist, by store (empty when healthy); `/healthz` reports it. */
  public get degraded(): ReadonlyMap<string, string> {
    return this.c.degraded;
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
      t.start(emit, signal).catch((e: unknown) => this.c.log.error('trigger failed', { error: (e as Error).message }));
    }
    this.c.log.info('agent loop started', { targets: this.o.targets.map((t) => t.kind), tickMs: this.planner.tickMs });
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
    this.c.log.info('agent loop stopped');
  }

  /** One pass over every workload of every target. Never throws. */
  public async runCycle(events: readonly TriggerEvent[], signal?: AbortSignal): Promise<CycleReport> {
    const report: CycleReport = { sources: [...new Set(events.map((e) => e.source))], workloads: 0, checked: 0, updates: [], failures: [] };
    const fail = (what: string, e: unknown): void => {
      const reason = `${what}: ${e instanceof Error ? e.message : String(e)}`;
      report.failures.push(reason);
      this.o.metrics.failures.inc();
      this.c.log.warn('failure', { reason });
    };
    this.o.metrics.cycles.inc();
    this.c.beat();
    try {
      this.o.quarantine.reload();
    } catch (e) {
      fail('quarantine store', e);
    }
    if (!this.o.quarantine.hasUnsaved && this.c.degraded.delete('quarantine')) {
      // the store accepted what it could not take before: the workloads held for it are free again
      for (const [id, why] of this.c.frozen) if (why.startsWith('the quarantine')) this.c.frozen.delete(id);
      this.o.metrics.degraded.set(this.c.degraded.size > 0 ? 1 : 0);
      this.c.log.info('quarantine store writable again');
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
        await this.alerts.handle(e, found, report, fail);
      } catch (err) {
        fail(`alert rollback ${e.rollback.model} ${e.rollback.version}`, err);
      }
    }

    const now = this.o.clock.now().getTime();
    for (const { target, workload } of found) {
      if (signal?.aborted) break;
      const frozen = this.c.frozen.get(workload.id);
      if (frozen) {
        report.failures.push(`${workload.id}: held, ${frozen}`);
        this.c.log.warn('workload held: a decision about it could not be persisted', { workload: workload.id, reason: frozen });
        continue;
      }
      try {
        if (workload.inFlight) {
          const result = await this.runner.resume(target, workload, signal, fail);
          report.updates.push({ workload: workload.id, plan: `${workload.name} ${workload.inFlight.from} -> ${workload.inFlight.to}`, result });
          continue;
        }
        const trigger = this.planner.triggerFor(workload, events, now);
        if (!trigger) continue;
        report.checked++;
        const plan = await this.planner.plan(workload, trigger, tags, signal);
        if (!plan) continue;
        const result = await this.runner.execute(target, plan, signal, fail);
        report.updates.push({ workload: workload.id, plan: plan.toString(), result });
      } catch (e) {
        fail(`${workload.id}`, e);
      }
      this.c.beat();
    }

    this.o.metrics.quarantined.set(this.o.quarantine.list().length);
    if (report.failures.length === 0) this.o.metrics.lastSuccess.set(this.o.clock.now().getTime() / 1000);
    this.c.beat();
    this.c.log.info('cycle done', {
      sources: report.sources, workloads: report.workloads, checked: report.checked,
      updates: report.updates.map((u) => `${u.plan}: ${u.result}`), failures: report.failures.length,
    });
    return report;
  }

}
