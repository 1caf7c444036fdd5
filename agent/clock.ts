/** The real clock and the agent's one timer sleep; tests inject a fake {@link Clock}. */
import { setTimeout as delay } from 'timers/promises';
import type { Clock } from './types';

/**
 * Waits `ms` on the real clock. When `signal` aborts (also when it already has), rejects at once with the signal's
 * reason and clears the timer. The registry client's backoff, its rate limiter and the Docker target's readiness
 * polling use it directly; {@link systemClock} wraps it for the loop.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(Math.max(0, ms), undefined, signal ? { signal } : undefined);
  } catch (e) {
    throw signal?.aborted ? signal.reason ?? e : e;
  }
}

/** `sleep` resolves early (does not throw) when `signal` aborts; callers check `signal.aborted`. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => sleep(ms, signal).catch((e: unknown) => {
    if (!signal?.aborted) throw e;
  }),
};
