/** What the loop's parts share: the injected dependencies, the settings, and the agent's own bookkeeping. */
import type { HealthGate } from '../health/gate';
import type { AgentMetrics, Heartbeat } from '../metrics';
import { retrying, withTimeout } from '../retry';
import type { AuditInput, AuditLog } from '../state/audit';
import type { QuarantineStore } from '../state/quarantine';
import type { Clock, Logger, Outcome, RegistryClient, Target } from '../types';
import type { ImageSettings, RollbackSettings } from './settings';

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

/** The loop's shared state, handed to the planner, the update state machine and the alert rollbacks. */
export class LoopContext {
  /** Workloads this agent itself holds unpromoted (inconclusive); others found in flight were left by a predecessor. */
  public readonly held = new Set<string>();

  constructor(
    public readonly o: ReconcilerOptions,
    public readonly rollback: RollbackSettings,
    public readonly log: Logger,
  ) {}

  /** Appends to the audit log; a failed write is counted and logged, never thrown. */
  public audit(e: AuditInput): void {
    try {
      this.o.audit.append({ time: this.o.clock.now().toISOString(), ...e });
    } catch (err) {
      this.o.metrics.failures.inc();
      this.log.error('audit log write failed', { error: (err as Error).message, entry: e });
    }
  }


  public beat(): void {
    this.o.heartbeat?.beat();
  }

  /** Runs one target operation with the per-attempt timeout; a throw or a timeout is a failed Outcome. */
  public async bounded(op: (signal: AbortSignal) => Promise<Outcome>): Promise<Outcome> {
    return withTimeout(op, this.rollback.attemptTimeoutMs);
  }

  /** A bounded operation retried with backoff up to `maxAttempts`. */
  public async retrying(op: (signal: AbortSignal) => Promise<Outcome>): Promise<Outcome> {
    return retrying(op, this.rollback, this.o.clock);
  }
}
