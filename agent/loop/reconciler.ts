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
 * - Isolation: workloads are worked on in one lane per registry, the lanes side by side, so one slow registry
 *   delays only its own workloads; an Alertmanager rollback is carried out as soon as it arrives, beside the
 *   cycle, waiting only for the workload it concerns (one lock per workload).
 * - The running version is watched too: a crashed current version is started again (bounded), see {@link Reviver}.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageRef } from '../../lib/core/image-ref';
import { nullLogger, Target, Trigger, TriggerEvent, Workload } from '../types';
import { AlertRollbacks } from './alert-rollback';
import { LoopContext, ReconcilerOptions } from './context';
import { MlflowFollower } from './mlflow';
import { Overrides } from './overrides';
import { Planner } from './planner';
import { Reviver } from './revive';
import { DEFAULT_ROLLBACK, UNREACHABLE_CYCLES } from './settings';
import type { CycleReport, Fail } from './settings';
import { UpdateRunner } from './update';

export type { ReconcilerOptions };

/** One workload's turn in a cycle: what each step of {@link Reconciler} may use. */
interface WorkloadTurn {
  readonly target: Target;
  readonly workload: Workload;
  readonly events: readonly TriggerEvent[];
  readonly now: number;
  /** Tag lists fetched this cycle, by repository (one request per repository per cycle). */
  readonly tags: Map<string, Promise<string[]>>;
  readonly report: CycleReport;
  readonly fail: Fail;
  readonly signal?: AbortSignal;
}

/** The loop; its parts are the {@link Planner}, the {@link UpdateRunner} and the {@link AlertRollbacks}. */
export class Reconciler {
  private readonly c: LoopContext;
  private readonly planner: Planner;
  private readonly runner: UpdateRunner;
  private readonly alerts: AlertRollbacks;
  private readonly reviver: Reviver;
  private readonly overrides: Overrides;
  private readonly mlflow: MlflowFollower;
  /** Workload id → the work on it in progress; whoever comes next waits for it. */
  private readonly locks = new Map<string, Promise<void>>();
  /** Alert-driven rollbacks in progress beside the cycle. */
  private readonly alertWork = new Set<Promise<unknown>>();
  /** Registry host → its lane's work in progress (detached cycles). */
  private readonly busy = new Map<string, Promise<void>>();
  /** Events that found their lane busy; handed back to the run loop when it is free. */
  private readonly deferred: TriggerEvent[] = [];
  private requeue?: (events: TriggerEvent[]) => void;

  constructor(private readonly o: ReconcilerOptions) {
    this.c = new LoopContext(o, o.rollback ?? DEFAULT_ROLLBACK, o.logger ?? nullLogger);
    this.planner = new Planner(this.c);
    this.runner = new UpdateRunner(this.c);
    this.alerts = new AlertRollbacks(this.c, this.runner);
    this.reviver = new Reviver(this.c, this.runner);
    this.overrides = new Overrides(this.c, o.overrides, this.planner, this.runner);
    this.mlflow = new MlflowFollower(this.c, this.planner, this.runner);
  }

  /** Runs `fn` once every earlier work on workload `id` has finished. */
  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(id) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((r) => { release = r; });
    const chained = before.then(() => mine);
    this.locks.set(id, chained);
    await before;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === chained) this.locks.delete(id);
    }
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
      if (e.rollback) {
        // never behind a poll: carried out now, beside whatever cycle runs
        const work = this.rollbackNow(e, signal).finally(() => this.alertWork.delete(work));
        this.alertWork.add(work);
        return;
      }
      pending.push(e);
      wake?.();
    };
    this.requeue = (events) => {
      pending.push(...events);
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
      await this.runCycle(events, signal, true);
    }
    await Promise.allSettled([...this.alertWork, ...this.busy.values()]);
    this.c.log.info('agent loop stopped');
  }

  /**
   * Whether a workload the agent manages runs `model`, as of the last discovery; `undefined` before the first one
   * (the webhook server then accepts, and the cycle decides).
   */
  public knowsModel(model: string): boolean | undefined {
    return this.models === undefined ? undefined : this.models.has(model);
  }

  private models: Set<string> | undefined;

  /** One Alertmanager rollback, outside the cycle: discover, then each workload of the model under its lock. */
  public async rollbackNow(e: TriggerEvent, signal?: AbortSignal): Promise<CycleReport> {
    const report: CycleReport = { sources: [e.source], workloads: 0, checked: 0, updates: [], failures: [] };
    const fail = this.failer(report);
    const rb = e.rollback!;
    let acted = false;
    if (this.o.monitorOnly) {
      this.c.audit({ event: 'ignored', target: '-', model: rb.model, result: 'monitor-only', reason: `${rb.reason}: ${rb.version} was not rolled back (monitorOnly)` });
      return report;
    }
    try {
      this.o.quarantine.reload(); // the CLI may have released the version a moment ago
    } catch (err) {
      fail('quarantine store', err);
    }
    if (this.alerts.releasedSinceAlert(e)) return report;
    try {
      for (const target of this.o.targets) {
        let found: Workload[];
        try {
          found = await target.discover(signal);
        } catch (err) {
          fail(`discover ${target.kind}`, err);
          continue;
        }
        report.workloads += found.length;
        for (const w of found.filter((x) => x.model === rb.model)) {
          await this.withLock(w.id, async () => {
            // what the workload is now (the cycle may have just finished an update of it)
            const fresh = (await target.discover(signal)).find((x) => x.id === w.id);
            if (fresh && await this.alerts.handleOne(e, target, fresh, report, fail)) acted = true;
          });
        }
      }
      if (!acted) this.alerts.quarantineUnrun(e);
    } catch (err) {
      fail(`alert rollback ${rb.model} ${rb.version}`, err);
    }
    this.c.log.info('alert rollback done', { model: rb.model, version: rb.version, updates: report.updates.map((u) => `${u.plan}: ${u.result}`) });
    return report;
  }

  /**
   * A target that cannot be listed `UNREACHABLE_CYCLES` cycles in a row makes the agent degraded (it could neither
   * update nor roll back there), with the fix in the log line; the first cycle that lists it again clears it.
   */
  private countUnreachable(target: Target, e: unknown): void {
    const n = (this.c.unreachable.get(target.kind) ?? 0) + 1;
    this.c.unreachable.set(target.kind, n);
    if (n < UNREACHABLE_CYCLES) return;
    const message = e instanceof Error ? e.message : String(e);
    const why = `${target.kind} unreachable for ${n} cycles: ${message}${unreachableFix(target.kind, message)}`;
    if (this.c.degraded.get(`target:${target.kind}`) !== why) this.c.log.error('target unreachable; the agent can neither update nor roll back there', { target: target.kind, cycles: n, error: message, fix: unreachableFix(target.kind, message).replace(/^ — /, '') || undefined });
    this.c.markDegraded(`target:${target.kind}`, why);
  }

  /**
   * Whether the state directory takes a write now (a small file written, synced and removed): a restart on a disk
   * that is still full, or a volume that turned read-only, is reported before a decision has to be written there.
   */
  private probeStateDir(fail: Fail): void {
    const dir = path.dirname(this.o.quarantine.file);
    const probe = path.join(dir, `.modelpilot-write-probe.${process.pid}`);
    try {
      fs.mkdirSync(dir, { recursive: true });
      const fd = fs.openSync(probe, 'w');
      try {
        fs.writeSync(fd, 'modelpilot write probe\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
        fs.rmSync(probe, { force: true });
      }
      this.c.clearDegraded('state');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      const why = `state directory ${dir} does not take a write (${code}); decisions (quarantine, audit) cannot be persisted`
        + (code === 'EACCES' || code === 'EROFS' ? `: make it writable by the agent's user (uid ${process.getuid?.() ?? '?'})` : code === 'ENOSPC' ? ': free space on its volume' : '');
      if (!this.c.degraded.has('state')) fail('state directory', why);
      this.c.markDegraded('state', why);
    }
  }

  private failer(report: CycleReport): Fail {
    return (what: string, e: unknown): void => {
      const reason = `${what}: ${e instanceof Error ? e.message : String(e)}`;
      report.failures.push(reason);
      this.o.metrics.failures.inc();
      this.c.log.warn('failure', { reason });
    };
  }

  /**
   * A workload's turn in a cycle: these steps in order of precedence, each answering whether it handled the workload
   * (then the later ones do not run). The policy's plan comes last: an unfinished update, a crash, an operator's hold
   * or pin and MLflow all decide before it.
   */
  private readonly steps: ReadonlyArray<readonly [name: string, step: (t: WorkloadTurn) => Promise<boolean> | boolean]> = [
    // a decision about it that could not be persisted holds the workload
    ['held', (t) => this.held(t)],
    // an update a previous agent left: finished (verified, then promoted or rolled back) or reversed
    ['in flight', async (t) => {
      if (!t.workload.inFlight) return false;
      const result = await this.runner.resume(t.target, t.workload, t.signal, t.fail);
      t.report.updates.push({ workload: t.workload.id, plan: `${t.workload.name} ${t.workload.inFlight.from} -> ${t.workload.inFlight.to}`, result });
      return true;
    }],
    // a quarantine the workload carries (recorded by an earlier agent) holds even with an empty state directory
    ['carried quarantines', (t) => {
      this.restoreQuarantines(t);
      return false;
    }],
    // a version promoted a moment ago that keeps crashing (the engine or the kubelet restarting it) goes back
    ['crashing after promotion', async (t) => !this.o.monitorOnly && this.reviver.watchPromoted(t.target, t.workload, t.report, t.fail)],
    ['down', async (t) => {
      if (!t.workload.down) return false;
      if (this.o.monitorOnly) {
        this.c.log.warn('monitorOnly: a crashed model container is not started again', { workload: t.workload.id, reason: t.workload.down });
      } else {
        await this.reviver.handle(t.target, t.workload, t.report, t.fail);
      }
      return true;
    }],
    ['running', (t) => {
      this.reviver.running(t.workload);
      return false;
    }],
    // a hold, a pin or a manual rollback: the operator decides, not the policy
    ['operator override', (t) => this.overrides.handle(t.target, t.workload, t.report, t.signal, t.fail)],
    // MLflow decides the version of an image that follows a registered model
    ['mlflow', (t) => this.mlflow.handle(t.target, t.workload, t.events, t.now, t.report, t.signal, t.fail)],
    ['update policy', async (t) => {
      const trigger = this.planner.triggerFor(t.workload, t.events, t.now);
      if (!trigger) return true;
      t.report.checked++;
      const plan = await this.planner.plan(t.workload, trigger, t.tags, t.signal);
      if (!plan) return true;
      const result = await this.runner.execute(t.target, plan, t.signal, t.fail);
      t.report.updates.push({ workload: t.workload.id, plan: plan.toString(), result });
      return true;
    }],
  ];

  private held(t: WorkloadTurn): boolean {
    const frozen = this.c.frozen.get(t.workload.id);
    if (!frozen) return false;
    t.report.failures.push(`${t.workload.id}: held, ${frozen}`);
    this.c.log.warn('workload held: a decision about it could not be persisted', { workload: t.workload.id, reason: frozen });
    return true;
  }

  private restoreQuarantines({ workload, fail }: WorkloadTurn): void {
    for (const q of workload.quarantined ?? []) {
      if (this.o.quarantine.isQuarantined(workload.model, q.version)) continue;
      // released by an operator (or superseded by a promotion) after the workload recorded it
      if (this.o.quarantine.releasedSince(workload.model, q.version, q.since)) continue;
      try {
        this.o.quarantine.add({ model: workload.model, version: q.version, reason: q.reason, source: q.source, since: q.since });
        this.c.audit({ event: 'quarantined', target: workload.id, model: workload.model, result: 'restored',
          reason: `${q.version}: ${q.reason} (recorded on the workload ${q.since})` });
      } catch (e) {
        fail(`restore the quarantine of ${workload.id} ${q.version}`, e);
      }
    }
  }

  /**
   * One pass over every workload of every target. Never throws.
   * `detach`: return once every lane has started, without waiting for them (the run loop does this, so a slow
   * registry's lane never holds up the next cycle of the others). The report is then filled in as lanes finish.
   */
  public async runCycle(events: readonly TriggerEvent[], signal?: AbortSignal, detach = false): Promise<CycleReport> {
    const report: CycleReport = { sources: [...new Set(events.map((e) => e.source))], workloads: 0, checked: 0, updates: [], failures: [] };
    const fail = this.failer(report);
    this.o.metrics.cycles.inc();
    this.c.beat();
    this.reloadQuarantine(fail);
    this.probeStateDir(fail);
    const found = await this.discoverAll(report, fail, signal);
    await this.alertRollbacks(events, found, report, fail, signal);
    const now = this.o.clock.now().getTime();
    this.overrides.startCycle(fail);
    const tags = new Map<string, Promise<string[]>>();
    const one = async (target: Target, workload: Workload): Promise<void> => {
      if (signal?.aborted) return;
      const turn: WorkloadTurn = { target, workload, events, now, tags, report, fail, signal };
      try {
        for (const [, step] of this.steps) if (await step(turn)) break;
      } catch (e) {
        fail(`${workload.id}`, e);
      }
      this.c.beat();
    };
    const started = this.startLanes(found, events, one);
    const finish = (): CycleReport => this.finishCycle(report);
    if (detach) {
      void Promise.all(started).then(finish);
      return report;
    }
    await Promise.all(started);
    return finish();
  }

  /** The quarantine store as the CLI may have changed it; a store writable again frees the workloads held for it. */
  private reloadQuarantine(fail: Fail): void {
    try {
      this.o.quarantine.reload();
    } catch (e) {
      fail('quarantine store', e);
    }
    if (!this.o.quarantine.hasUnsaved && this.c.degraded.delete('quarantine')) {
      for (const [id, why] of this.c.frozen) if (why.startsWith('the quarantine')) this.c.frozen.delete(id);
      this.o.metrics.degraded.set(this.c.degraded.size > 0 ? 1 : 0);
      this.c.log.info('quarantine store writable again');
    }
  }

  /** Every workload of every target; a target that does not answer is a failure (and counted unreachable), not the end. */
  private async discoverAll(report: CycleReport, fail: Fail, signal?: AbortSignal): Promise<Array<{ target: Target; workload: Workload }>> {
    const found: Array<{ target: Target; workload: Workload }> = [];
    for (const target of this.o.targets) {
      try {
        for (const w of await target.discover(signal)) found.push({ target, workload: w });
        this.c.unreachable.delete(target.kind);
        this.c.clearDegraded(`target:${target.kind}`);
      } catch (e) {
        fail(`discover ${target.kind}`, e);
        this.countUnreachable(target, e);
      }
    }
    report.workloads = found.length;
    if (report.failures.length === 0) this.models = new Set(found.map((f) => f.workload.model));
    else for (const f of found) this.models?.add(f.workload.model); // a target that failed to answer may run others
    return found;
  }

  /** Alertmanager: roll the named version back wherever it runs, and quarantine it (monitorOnly: audited, not done). */
  private async alertRollbacks(events: readonly TriggerEvent[], found: Array<{ target: Target; workload: Workload }>, report: CycleReport, fail: Fail,
    signal?: AbortSignal): Promise<void> {
    for (const e of events) {
      if (!e.rollback || signal?.aborted) continue;
      if (this.o.monitorOnly) {
        this.c.audit({ event: 'ignored', target: '-', model: e.rollback.model, result: 'monitor-only',
          reason: `${e.rollback.reason}: ${e.rollback.version} was not rolled back (monitorOnly)` });
        continue;
      }
      try {
        await this.alerts.handle(e, found, report, fail);
      } catch (err) {
        fail(`alert rollback ${e.rollback.model} ${e.rollback.version}`, err);
      }
    }
  }

  /**
   * One lane per registry, side by side; within a lane one workload after the other. A lane still busy from an
   * earlier (detached) cycle is skipped; its events come back when it is done.
   */
  private startLanes(found: Array<{ target: Target; workload: Workload }>, events: readonly TriggerEvent[],
    one: (target: Target, workload: Workload) => Promise<void>): Array<Promise<void>> {
    const lanes = new Map<string, Array<{ target: Target; workload: Workload }>>();
    for (const f of found) {
      const host = ImageRef.tryParse(f.workload.image, { allowMutableTag: true })?.registry ?? '-';
      lanes.set(host, [...(lanes.get(host) ?? []), f]);
    }
    const started: Array<Promise<void>> = [];
    for (const [host, lane] of lanes) {
      if (this.busy.has(host)) {
        for (const e of events) {
          if (!e.rollback && !this.deferred.some((d) => JSON.stringify(d) === JSON.stringify(e))) this.deferred.push(e);
        }
        continue;
      }
      const work = (async () => {
        for (const { target, workload } of lane) await this.withLock(workload.id, () => one(target, workload));
      })().finally(() => {
        this.busy.delete(host);
        if (this.deferred.length > 0) this.requeue?.(this.deferred.splice(0));
      });
      this.busy.set(host, work);
      started.push(work);
    }
    return started;
  }

  private finishCycle(report: CycleReport): CycleReport {
    this.o.metrics.quarantined.set(this.o.quarantine.list().length);
    this.o.metrics.waiting.set({ reason: 'hold' }, this.overrides.held);
    if (report.failures.length === 0) this.o.metrics.lastSuccess.set(this.o.clock.now().getTime() / 1000);
    this.c.beat();
    this.c.log.info('cycle done', {
      sources: report.sources, workloads: report.workloads, checked: report.checked,
      updates: report.updates.map((u) => `${u.plan}: ${u.result}`), failures: report.failures.length,
    });
    return report;
  }
}

/** The fix for a target the agent cannot reach, from the error (empty when there is none to name). */
export function unreachableFix(kind: string, message: string): string {
  const socket = /(?:EACCES|EPERM)\s+(\S+)/.exec(message)?.[1];
  if (socket) {
    return ` — the agent's user (uid ${process.getuid?.() ?? '?'}) may not open ${socket}: give it the socket's group (compose: group_add: [<gid of ${socket}>];`
      + ' docker run --group-add <gid>), or run the engine\'s rootless socket';
  }
  if (/ENOENT|ECONNREFUSED/.test(message) && kind === 'docker') return ' — no engine listens there: check targets.docker.socket and that the socket is mounted into the agent';
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|certificate|401|403|Unauthorized|Forbidden/i.test(message) && kind === 'kubernetes') {
    return " — check the kubeconfig or the in-cluster ServiceAccount token, and the updater's Role (kubectl auth can-i)";
  }
  return '';
}
