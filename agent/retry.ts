/** The agent's retry helpers, in one place: exponential backoff, a per-attempt timeout, a bounded retry. */
import type { Clock, Outcome } from './types';

/** Exponential backoff: `initial * factor^(attempt-1)`, at most `max`. */
export interface BackoffSettings {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
}

/** The delay before retry number `attempt` (1-based): `initial * factor^(attempt-1)`, at most `max`. */
export function backoffDelay(attempt: number, b: BackoffSettings): number {
  return Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, Math.max(0, attempt - 1)));
}

/**
 * Runs one operation with a timeout; a throw or a timeout is a failed Outcome (the operation's signal aborts
 * when the timeout fires). `what` names the setting in the timeout's reason.
 */
export async function withTimeout<T = void>(op: (signal: AbortSignal) => Promise<Outcome<T>>, ms: number, what = 'rollback.attemptTimeout'): Promise<Outcome<T>> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => {
      ctl.abort(new Error(`timed out after ${ms} ms`));
      resolve({ ok: false, reason: `timed out after ${ms} ms (${what})` });
    }, ms);
  });
  try {
    const run = op(ctl.signal).catch((e: unknown): Outcome<T> => ({ ok: false, reason: (e as Error)?.message ?? String(e) }));
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An operation, each attempt under `attemptTimeoutMs`, retried with backoff up to `maxAttempts` times. */
export async function retrying(op: (signal: AbortSignal) => Promise<Outcome>,
  s: { readonly maxAttempts: number; readonly attemptTimeoutMs: number; readonly backoff: BackoffSettings }, clock: Clock): Promise<Outcome> {
  let r: Outcome = { ok: false, reason: 'not attempted' };
  for (let attempt = 1; attempt <= s.maxAttempts; attempt++) {
    r = await withTimeout(op, s.attemptTimeoutMs);
    if (r.ok) return r;
    if (attempt < s.maxAttempts) await clock.sleep(backoffDelay(attempt, s.backoff));
  }
  return r;
}

/**
 * Calls `op` again after each delay while `retryable(error)` says so; the last error is thrown. Sleeps through
 * `clock` so tests run it on a fake clock.
 */
export async function retryOn<T>(op: () => Promise<T>, retryable: (e: unknown) => boolean, delaysMs: readonly number[], clock: Clock,
  onRetry?: (e: unknown, delayMs: number) => void, signal?: AbortSignal): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await op();
    } catch (e) {
      if (!retryable(e) || retry >= delaysMs.length || signal?.aborted) throw e;
      onRetry?.(e, delaysMs[retry]);
      await clock.sleep(delaysMs[retry], signal);
    }
  }
}
