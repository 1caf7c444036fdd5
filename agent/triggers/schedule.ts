/**
 * The schedule trigger (Watchtower's `--schedule`): at each time of a 6-field cron expression (seconds first) it
 * emits `{ source: 'schedule' }`, a check of every image whatever its poll interval says.
 */
import { nextScheduled, scheduleProblem } from '../../lib/core/schedule';
import type { Clock, Trigger, TriggerEvent } from '../types';

export class ScheduleTrigger implements Trigger {
  constructor(public readonly expression: string, private readonly clock: Clock) {
    const problem = scheduleProblem(expression);
    if (problem) throw new Error(`'schedule' value '${expression}' ${problem}`);
  }

  public async start(emit: (e: TriggerEvent) => void, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const now = this.clock.now();
      await this.clock.sleep(Math.max(0, nextScheduled(this.expression, now).getTime() - now.getTime()), signal);
      if (signal.aborted) return;
      emit({ source: 'schedule' });
    }
  }
}
