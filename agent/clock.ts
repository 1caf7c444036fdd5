/** The real clock; tests inject a fake {@link Clock}. */
import type { Clock } from './types';

/** `sleep` resolves early (does not throw) when `signal` aborts; callers check `signal.aborted`. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  }),
};
