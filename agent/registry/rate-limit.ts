/**
 * A token bucket: `burst` requests at once, refilled at `perSecond`. `take()` waits (with the injected sleep)
 * until a token is free, so a registry never sees more than its budget from this agent.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ) {
    if (!(perSecond > 0)) throw new Error(`rate limit 'requestsPerSecond' is ${perSecond}; give a number greater than 0`);
    if (!(burst >= 1)) throw new Error(`rate limit 'burst' is ${burst}; give a number of at least 1`);
    this.tokens = burst;
    this.last = now();
  }

  /** Waits for one token. Callers are served in order. */
  public take(signal?: AbortSignal): Promise<void> {
    const next = this.queue.then(() => this.takeNow(signal));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async takeNow(signal?: AbortSignal): Promise<void> {
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
      await this.sleep(waitMs, signal);
    }
  }

  private refill(): void {
    const t = this.now();
    const elapsed = Math.max(0, t - this.last) / 1000;
    this.last = t;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.perSecond);
  }
}
