/**
 * A bounded send queue for notifications: never blocks the caller, sends one item at a time, drops the oldest
 * beyond `max` (counted), and gives each result to `onResult`. What fails is logged and counted, never retried
 * forever. Shared by the Alertmanager notifier and the Kubernetes Event recorder.
 */
export type SendResult = 'sent' | 'failed' | 'dropped';

export class SendQueue<T> {
  private readonly items: T[] = [];
  private sending = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    /** Sends one item; false: it was not for this sink (not counted). */
    private readonly send: (item: T) => Promise<boolean | void>,
    private readonly onFailure: (item: T, error: Error) => void,
    private readonly max = 100,
    private readonly onResult?: (result: SendResult) => void,
  ) {}

  /** Queues `item`; returns at once. */
  public push(item: T): void {
    if (this.items.length >= this.max) {
      this.items.shift();
      this.onResult?.('dropped');
    }
    this.items.push(item);
    if (!this.sending) this.idle = this.drain();
  }

  /** Resolves when everything queued so far was sent or given up. */
  public async flush(): Promise<void> {
    await this.idle;
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.items.length > 0) {
        const item = this.items.shift() as T;
        try {
          if ((await this.send(item)) !== false) this.onResult?.('sent');
        } catch (err) {
          this.onResult?.('failed');
          this.onFailure(item, err as Error);
        }
      }
    } finally {
      this.sending = false;
    }
  }
}
