/**
 * Operator overrides in the loop: a hold (no automatic update), a pin (exactly this version, through the gate), and
 * a manual rollback — a person set an older image than the agent last promoted — detected and turned into a hold,
 * so the next poll does not undo it. Holds and pins come from the override store (`modelpilot hold|pin`) or, on
 * Kubernetes, from the Deployment's `modelpilot.dev/hold` / `modelpilot.dev/pin` annotations.
 */
import { ImageRef, parseVersionTag } from '../../lib/core/image-ref';
import type { HoldEntry, OverrideStore, PinEntry } from '../state/overrides';
import { Target, Workload } from '../types';
import type { LoopContext } from './context';
import type { Planner } from './planner';
import type { CycleReport, Fail } from './settings';
import type { UpdateRunner } from './update';

const MAX_REMEMBERED = 10_000;

export class Overrides {
  /** Holds and pins already written to the audit log (`<workload> <kind> <since>`). */
  private readonly noted = new Set<string>();
  /** The version each workload last settled on by the agent's hand (promoted, rolled back, or a noted manual rollback). */
  private settled?: Map<string, string>;
  /** Workloads held this cycle (`modelpilot_updater_waiting_versions{reason="hold"}`). */
  private readonly heldNow = new Set<string>();

  constructor(
    private readonly c: LoopContext,
    private readonly store: OverrideStore | undefined,
    private readonly planner: Planner,
    private readonly runner: UpdateRunner,
  ) {}

  /** Re-reads the store (the CLI may have changed it) and forgets the cached audit view. */
  public startCycle(fail: Fail): void {
    this.settled = undefined;
    this.heldNow.clear();
    try {
      this.store?.reload();
    } catch (e) {
      fail('override store', e);
    }
  }

  /** The version the agent last settled this workload on (from the audit log), if any. */
  private settledVersion(w: Workload): string | undefined {
    if (!this.settled) {
      this.settled = new Map();
      try {
        for (const e of this.c.o.audit.read()) {
          const settles = e.event === 'promoted' || e.event === 'rolled-back' || (e.event === 'hold' && e.result === 'manual-rollback');
          const tag = settles && e.to ? ImageRef.tryParse(e.to, { allowMutableTag: true })?.tag : undefined;
          if (tag) this.settled.set(e.target, tag);
        }
      } catch (e) {
        this.c.log.warn('audit log unreadable; manual rollbacks are not detected this cycle', { error: (e as Error).message });
      }
    }
    return this.settled.get(w.id);
  }

  /**
   * Handles the overrides of one workload; returns true when the workload is taken care of (held, pinned) and the
   * normal update must not run this cycle.
   */
  public async handle(target: Target, w: Workload, report: CycleReport, signal: AbortSignal | undefined, fail: Fail): Promise<boolean> {
    const now = this.c.o.clock.now();
    const pin: PinEntry | undefined = this.store?.pinOf(w.model)
      ?? (w.pin ? { model: w.model, version: w.pin, reason: 'modelpilot.dev/pin annotation', since: '', source: 'kubernetes-annotation' } : undefined);
    if (pin) {
      await this.pinned(target, w, pin, report, signal, fail);
      return true;
    }
    let hold: HoldEntry | undefined = this.store?.holdOf(w.model, now);
    if (!hold && w.hold && (w.hold.until === undefined || Date.parse(w.hold.until) > now.getTime())) {
      hold = { model: w.model, until: w.hold.until, reason: w.hold.reason, since: '', source: 'kubernetes-annotation' };
    }
    if (!hold) hold = this.manualRollback(w, now);
    if (hold) {
      this.note(w, 'hold', hold.since + (hold.until ?? ''), {
        event: 'hold', target: w.id, model: w.model, result: hold.source,
        reason: `automatic updates of ${w.model} are held ${hold.until ? `until ${hold.until}` : 'until released'} (${hold.source}): ${hold.reason}`,
      });
      this.heldNow.add(w.id);
      return true;
    }
    return false;
  }

  /**
   * A manual rollback: the workload runs an older version than the one the agent last settled it on, with no
   * update of the agent's in flight. It becomes a hold (in the store, so it survives a restart) — released with
   * `modelpilot hold <model> --release`.
   */
  private manualRollback(w: Workload, now: Date): HoldEntry | undefined {
    if (w.inFlight) return undefined;
    const running = ImageRef.tryParse(w.image, { allowMutableTag: true })?.tag;
    const settled = this.settledVersion(w);
    if (!running || !settled || running === settled) return undefined;
    const a = parseVersionTag(running);
    const b = parseVersionTag(settled);
    if (!a || !b || a.compare(b) >= 0) return undefined;
    const reason = `manual rollback detected: ${w.name} runs ${running}, the agent had settled it on ${settled}; ${settled} and newer are not applied until the hold is released`;
    const hold: HoldEntry = { model: w.model, reason, since: now.toISOString(), source: 'manual-rollback' };
    try {
      this.store?.hold(hold);
    } catch (e) {
      this.c.log.error('could not persist the manual-rollback hold; it holds in memory', { workload: w.id, error: (e as Error).message });
    }
    // the audit entry marks the running version as settled, so releasing the hold lets the agent resume from it
    this.c.audit({ event: 'hold', target: w.id, model: w.model, to: w.image, result: 'manual-rollback', reason });
    this.settled?.set(w.id, running);
    this.noted.add(`${w.id} hold ${hold.since}`);
    return hold;
  }

  /** Moves a pinned workload to its version (once; a version the gate refused is quarantined and left alone). */
  private async pinned(target: Target, w: Workload, pin: PinEntry, report: CycleReport, signal: AbortSignal | undefined, fail: Fail): Promise<void> {
    const running = ImageRef.tryParse(w.image, { allowMutableTag: true })?.tag;
    if (running === pin.version) {
      this.note(w, 'pin', `${pin.version} ${pin.since}`, {
        event: 'pinned', target: w.id, model: w.model, to: w.image, result: pin.source, reason: `${w.model} is pinned to ${pin.version}: ${pin.reason}`,
      });
      return;
    }
    if (this.c.o.quarantine.isQuarantined(w.model, pin.version)) {
      this.note(w, 'pin-quarantined', `${pin.version} ${pin.since}`, {
        event: 'pinned', target: w.id, model: w.model, result: 'refused',
        reason: `${w.model} is pinned to ${pin.version}, which is quarantined; it stays on ${running ?? w.image} until the pin or the quarantine is released`,
      });
      return;
    }
    try {
      const plan = await this.planner.planTo(w, pin.version, `pin:${pin.source}`, signal);
      const result = await this.runner.execute(target, plan, signal, fail);
      report.updates.push({ workload: w.id, plan: plan.toString(), result });
    } catch (e) {
      fail(`${w.id} pin ${pin.version}`, e);
    }
  }

  /** Workloads held in the cycle so far. */
  public get held(): number {
    return this.heldNow.size;
  }

  private note(w: Workload, kind: string, id: string, entry: Parameters<LoopContext['audit']>[0]): void {
    const key = `${w.id} ${kind} ${id}`;
    if (this.noted.has(key)) return;
    if (this.noted.size >= MAX_REMEMBERED) this.noted.clear();
    this.noted.add(key);
    this.c.audit(entry);
    this.c.log.info(kind === 'hold' ? 'workload held' : 'workload pinned', { workload: w.id, reason: entry.reason });
  }
}
