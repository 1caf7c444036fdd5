/**
 * The polling trigger: emits `{ source: 'poll' }` every `intervalMs` (the shortest poll interval of any image).
 * The reconciler decides which repositories are due, so each image is still asked at its own interval.
 */
import type { Clock, Trigger, TriggerEvent } from '../types';

export class PollTrigger implements Trigger {
  constructor(public readonly intervalMs: number, private readonly clock: Clock) {
    if (!(intervalMs > 0)) throw new Error(`'pollInterval' value ${intervalMs}ms must be positive; give a duration such as '1m'`);
  }

  public async start(emit: (e: TriggerEvent) => void, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.clock.sleep(this.intervalMs, signal);
      if (signal.aborted) return;
      emit({ source: 'poll' });
    }
  }
}
