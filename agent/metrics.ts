/**
 * The agent's own metrics (served on `GET /metrics`) and the loop heartbeat (served on `GET /healthz`).
 * Each agent gets its own prom-client Registry, so tests can run several agents in one process.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export type UpdateResult = 'promoted' | 'rolled_back' | 'failed';

export class AgentMetrics {
  public readonly registry = new Registry();
  public readonly cycles: Counter;
  public readonly updates: Counter<'result'>;
  public readonly rollbacks: Counter;
  public readonly failures: Counter;
  public readonly quarantined: Gauge;
  public readonly lastSuccess: Gauge;
  public readonly degraded: Gauge;
  public readonly stateWriteFailures: Counter<'store'>;
  public readonly restarts: Counter;
  public readonly notifications: Counter<'result'>;
  public readonly events: Counter<'result'>;
  public readonly waiting: Gauge<'reason'>;
  public readonly refused: Counter<'reason'>;
  public readonly attestations: Counter<'result'>;
  public readonly switchOutage: Counter<'result'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.cycles = new Counter({ name: 'modelpilot_updater_cycles_total', help: 'Reconcile cycles run.', registers });
    this.updates = new Counter({
      name: 'modelpilot_updater_updates_total', help: 'Updates finished, by result (promoted, rolled_back, failed).', labelNames: ['result'], registers,
    });
    for (const r of ['promoted', 'rolled_back', 'failed']) this.updates.inc({ result: r }, 0);
    this.rollbacks = new Counter({ name: 'modelpilot_updater_rollbacks_total', help: 'Rollbacks to the previous version.', registers });
    this.failures = new Counter({
      name: 'modelpilot_updater_failures_total', help: 'Failures (discovery, registry, apply, rollback) counted per cycle.', registers,
    });
    this.quarantined = new Gauge({ name: 'modelpilot_updater_quarantined_versions', help: 'Versions in quarantine.', registers });
    this.lastSuccess = new Gauge({
      name: 'modelpilot_updater_last_success_timestamp_seconds', help: 'Unix time of the last cycle that finished without failures.', registers,
    });
    this.degraded = new Gauge({
      name: 'modelpilot_updater_degraded', help: '1 while a decision could not be persisted (audit log or quarantine store); the agent holds the workloads concerned.', registers,
    });
    this.degraded.set(0);
    this.stateWriteFailures = new Counter({
      name: 'modelpilot_updater_state_write_failures_total', help: 'Writes of the audit log or the quarantine store that failed, by store.', labelNames: ['store'], registers,
    });
    for (const store of ['audit', 'quarantine']) this.stateWriteFailures.inc({ store }, 0);
    this.notifications = new Counter({
      name: 'modelpilot_updater_notifications_total', help: 'Decisions posted to Alertmanager, by result (sent, failed, dropped).', labelNames: ['result'], registers,
    });
    for (const result of ['sent', 'failed', 'dropped']) this.notifications.inc({ result }, 0);
    this.events = new Counter({
      name: 'modelpilot_updater_events_total', help: 'Audit entries recorded as Events on the workload (Kubernetes), by result (sent, failed, dropped).', labelNames: ['result'], registers,
    });
    for (const result of ['sent', 'failed', 'dropped']) this.events.inc({ result }, 0);
    this.switchOutage = new Counter({
      name: 'modelpilot_updater_switch_outage_requests_total',
      help: 'Requests a new version answered before it was ready on a stop-then-start switch (no proxy), by result (ok, error): the switch\'s outage, left out of the version\'s verdict.',
      labelNames: ['result'], registers,
    });
    for (const result of ['ok', 'error']) this.switchOutage.inc({ result }, 0);
    this.restarts = new Counter({
      name: 'modelpilot_updater_restarts_total', help: 'Crashed current versions the agent started again (Docker).', registers,
    });
    this.waiting = new Gauge({
      name: 'modelpilot_updater_waiting_versions', help: 'Versions the policy chose that wait, by reason (min_image_age, hold).', labelNames: ['reason'], registers,
    });
    this.refused = new Counter({
      name: 'modelpilot_updater_refused_versions_total', help: 'Versions the policy chose that were refused and never applied, by reason (signature, unverified).', labelNames: ['reason'], registers,
    });
    this.attestations = new Counter({
      name: 'modelpilot_updater_attestations_total', help: 'Proofs of promotion written to the registry (attest), by result (written, failed).', labelNames: ['result'], registers,
    });
    for (const result of ['written', 'failed']) this.attestations.inc({ result }, 0);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** The text exposition for `GET /metrics`. */
  public async text(): Promise<string> {
    return this.registry.metrics();
  }

  public get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * The loop's heartbeat. The loop beats at every cycle and every step of a long update (each bake-window query),
 * so `/healthz` fails only when the loop is stuck or dead, not while it is waiting for a slow rollout.
 */
export class Heartbeat {
  private last: number;

  /** @param staleAfterMs how long without a beat before the loop counts as stuck */
  constructor(public readonly staleAfterMs: number, private readonly now: () => number = Date.now) {
    this.last = now();
  }

  public beat(): void {
    this.last = this.now();
  }

  public get lastBeat(): Date {
    return new Date(this.last);
  }

  /** `{ ok, lastBeat, ageSeconds }` for `/healthz`. */
  public status(): { ok: boolean; lastBeat: string; ageSeconds: number } {
    const age = this.now() - this.last;
    return { ok: age <= this.staleAfterMs, lastBeat: this.lastBeat.toISOString(), ageSeconds: Math.round(age / 100) / 10 };
  }
}
