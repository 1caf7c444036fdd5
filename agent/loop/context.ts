/** What the loop's parts share: the injected dependencies, the settings, and the agent's own bookkeeping. */
import type { KeyObject } from 'node:crypto';
import type { Duration } from '../../lib/core/duration';
import type { HealthGate } from '../health/gate';
import type { AgentMetrics, Heartbeat } from '../metrics';
import type { MlflowApi } from '../mlflow/client';
import { retrying, withTimeout } from '../retry';
import type { AuditEntry, AuditInput, AuditLog } from '../state/audit';
import type { OverrideStore } from '../state/overrides';
import type { QuarantineStore } from '../state/quarantine';
import type { Clock, Logger, Outcome, RegistryClient, Target } from '../types';
import type { AttestSettings, ImageSettings, RollbackSettings, VerifiedInRequirement } from './settings';

export interface ReconcilerOptions {
  readonly targets: readonly Target[];
  readonly registry: RegistryClient;
  readonly gate: HealthGate;
  readonly quarantine: QuarantineStore;
  /** Holds and pins set by operators (`modelpilot hold|pin`); without it, only the workloads' own annotations count. */
  readonly overrides?: OverrideStore;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  readonly clock: Clock;
  /** Default poll interval of every repository. */
  readonly pollIntervalMs: number;
  readonly images?: readonly ImageSettings[];
  /** Default minimum age of a version before it is rolled out. @default 0 */
  readonly minImageAge?: Duration;
  /** Default trusted signature keys: with them, only versions with a valid cosign signature are rolled out. @default - none */
  readonly signatureKeys?: readonly KeyObject[];
  /**
   * Default environments whose proof a version needs (`requireVerifiedIn`): a version goes only when the registry
   * holds an attestation, signed by one of that environment's keys, that its agent promoted this digest.
   * @default - none
   */
  readonly verifiedIn?: readonly VerifiedInRequirement[];
  /** Watchtower's monitorOnly: newer versions are audited and alerted (`available`), nothing is changed. @default false */
  readonly monitorOnly?: boolean;
  /** MLflow's API for the images that follow a registered model, and the prefix of the tags written back. @default - none */
  readonly mlflow?: { readonly client: MlflowApi; readonly tagPrefix: string };
  /** After each promotion, record signed proof in the registry that this environment's gate passed (`attest`). @default - none */
  readonly attest?: AttestSettings;
  readonly rollback?: RollbackSettings;
  readonly logger?: Logger;
  readonly heartbeat?: Heartbeat;
  /** Called with every audit entry written (e.g. the Alertmanager notifier). Must not throw or block. */
  readonly onAudit?: (e: AuditEntry) => void;
}

/** The loop's shared state, handed to the planner, the update state machine and the alert rollbacks. */
export class LoopContext {
  /** Workloads this agent itself holds unpromoted (inconclusive); others found in flight were left by a predecessor. */
  public readonly held = new Set<string>();
  /**
   * Workloads the agent leaves alone because a decision about them could not be written (audit log or quarantine
   * store): changing them again could repeat what the lost record was meant to prevent.
   */
  public readonly frozen = new Map<string, string>();
  /** What could not be persisted, by store (`audit`, `quarantine`): the agent is degraded while this is not empty. */
  public readonly degraded = new Map<string, string>();
  /** `<workload> <version>` → cycles whose every apply failed, and when the version may be tried again. */
  public readonly applyFailures = new Map<string, { count: number; retryAt: number; reason: string }>();
  /** Per workload in a hold: the entries of the hold seen so far, and how often they repeated (written as one). */
  private readonly holds = new Map<string, { seen: Set<string>; repeats: number; first: AuditInput }>();

  constructor(
    public readonly o: ReconcilerOptions,
    public readonly rollback: RollbackSettings,
    public readonly log: Logger,
  ) {}

  /**
   * Appends to the audit log; never throws. While a workload is held (inconclusive), its repeated identical
   * `verify`/`held` entries are written once, and how often they repeated when the hold ends. A failed write is
   * counted, marks the agent degraded and freezes the workload it was about.
   */
  public audit(e: AuditInput): void {
    const inHold = (e.event === 'verify' && e.result === 'hold') || e.event === 'held';
    const hold = this.holds.get(e.target);
    if (inHold) {
      const key = `${e.event} ${e.to} ${e.reason}`;
      if (hold?.seen.has(key)) {
        hold.repeats++;
        return;
      }
      if (hold) hold.seen.add(key);
      else this.holds.set(e.target, { seen: new Set([key]), repeats: 0, first: e });
    } else if (hold) {
      this.holds.delete(e.target);
      if (hold.repeats > 0) {
        this.write({ ...hold.first, event: 'held', result: 'inconclusive',
          reason: `the same inconclusive verdict repeated ${hold.repeats} more time(s) until ${this.o.clock.now().toISOString()}` });
      }
    }
    this.write(e);
  }

  private write(e: AuditInput): void {
    try {
      const entry = { time: this.o.clock.now().toISOString(), ...e };
      this.o.audit.append(entry);
      if (this.degraded.delete('audit')) this.o.metrics.degraded.set(this.degraded.size > 0 ? 1 : 0);
      try {
        this.o.onAudit?.(entry);
      } catch (err) {
        this.log.warn('audit listener failed', { error: (err as Error).message });
      }
    } catch (err) {
      const message = (err as Error).message;
      this.o.metrics.failures.inc();
      this.o.metrics.stateWriteFailures.inc({ store: 'audit' });
      this.markDegraded('audit', message);
      if (e.target !== '-') this.frozen.set(e.target, `its audit entry (${e.event}) could not be written: ${message}`);
      this.log.error('audit log write failed; holding the workload', { error: message, entry: e });
    }
  }

  /** Per target kind: failed discoveries in a row (the engine or API unreachable). */
  public readonly unreachable = new Map<string, number>();

  /** Clears what `markDegraded(store)` recorded; the gauge follows. */
  public clearDegraded(store: string): void {
    if (this.degraded.delete(store)) this.o.metrics.degraded.set(this.degraded.size > 0 ? 1 : 0);
  }

  /** Records that `store` could not be written; cleared when a later write succeeds. */
  public markDegraded(store: string, message: string): void {
    this.degraded.set(store, message);
    this.o.metrics.degraded.set(1);
  }


  public beat(): void {
    this.o.heartbeat?.beat();
  }

  /** Runs one target operation with the per-attempt timeout; a throw or a timeout is a failed Outcome. */
  public async bounded<T = void>(op: (signal: AbortSignal) => Promise<Outcome<T>>): Promise<Outcome<T>> {
    return withTimeout<T>(op, this.rollback.attemptTimeoutMs);
  }

  /** A bounded operation retried with backoff up to `maxAttempts`. */
  public async retrying(op: (signal: AbortSignal) => Promise<Outcome>): Promise<Outcome> {
    return retrying(op, this.rollback, this.o.clock);
  }
}
