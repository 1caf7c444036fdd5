/**
 * Every audit entry also goes to the workload itself, where the people who run it look: on Kubernetes an Event on
 * the Deployment (`kubectl describe deployment`, `kubectl get events`). Sent from a bounded queue beside the loop,
 * never in its way; what cannot be sent is counted (`modelpilot_updater_events_total{result}`) and logged.
 */
import type { AuditEntry } from '../state/audit';
import { Logger, nullLogger, Target } from '../types';
import { SendQueue, SendResult } from './queue';

export interface TargetEventRecorderOptions {
  readonly targets: readonly Target[];
  /** Most entries waiting to be sent; older ones are dropped (and counted) beyond it. @default 200 */
  readonly maxQueue?: number;
  readonly logger?: Logger;
  readonly onResult?: (result: SendResult) => void;
}

export class TargetEventRecorder {
  private readonly queue: SendQueue<AuditEntry>;
  private readonly targets: Target[];

  constructor(o: TargetEventRecorderOptions) {
    this.targets = o.targets.filter((t) => t.recordEvent !== undefined);
    this.queue = new SendQueue((e) => this.send(e),
      (e, err) => (o.logger ?? nullLogger).warn('event on the workload not recorded', { event: e.event, target: e.target, error: err.message }),
      o.maxQueue ?? 200, o.onResult);
  }

  /** Whether any target records events (else there is nothing to do). */
  public get active(): boolean {
    return this.targets.length > 0;
  }

  /** Queues the entry; returns at once. Store-wide entries (target `-`) have no workload to go to. */
  public record(e: AuditEntry): void {
    if (e.target !== '-' && this.active) this.queue.push(e);
  }

  /** Resolves when everything queued so far was sent or given up. */
  public async flush(): Promise<void> {
    await this.queue.flush();
  }

  /** False when no target holds the entry's workload (a Docker workload beside Kubernetes ones). */
  private async send(e: AuditEntry): Promise<boolean> {
    for (const t of this.targets) if (await t.recordEvent!(e)) return true;
    return false;
  }
}
