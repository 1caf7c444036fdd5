/**
 * People hear about every decision: the agent posts its own events (a rollback, a quarantine, a failed update, a
 * restart, a rollback that failed) to Alertmanager's v2 API (`POST /api/v2/alerts`), so the routes declared once in
 * AlertRouting deliver them — on a single Docker host too, where no Prometheus rule watches the agent.
 *
 * Each event is one alert, `alertname="ModelpilotUpdater<Event>"` with `model`, `workload`, `version`, `severity`
 * and `source="modelpilot-updater"`, resolved after `resolveAfterMs` (Alertmanager needs an end). Posting never
 * blocks the loop: a bounded queue, one request at a time, each bounded by a timeout; what cannot be sent is
 * counted and logged, never retried forever.
 */
import { ImageRef } from '../../lib/core/image-ref';
import { HttpRequester, httpRequest } from '../http-client';
import type { AuditEntry } from '../state/audit';
import { Logger, nullLogger } from '../types';
import { SendQueue, SendResult } from './queue';

export interface AlertmanagerNotifierOptions {
  /** Alertmanager base URL, e.g. `http://alertmanager:9093`. */
  readonly url: string;
  /** Per-request timeout. @default 5000 */
  readonly timeoutMs?: number;
  /** How long each event alert stays firing. @default 15 min */
  readonly resolveAfterMs?: number;
  /** Most events waiting to be sent; older ones are dropped (and counted) beyond it. @default 100 */
  readonly maxQueue?: number;
  readonly logger?: Logger;
  /** Called with `sent` or `failed` for each event (the metric). */
  readonly onResult?: (result: SendResult) => void;
  readonly request?: HttpRequester;
  readonly now?: () => Date;
}

const EVENTS: Readonly<Record<string, { name: string; severity: string; summary: string }>> = {
  'rolled-back': { name: 'ModelpilotUpdaterRolledBack', severity: 'warning', summary: 'the updater rolled a version back' },
  quarantined: { name: 'ModelpilotUpdaterQuarantined', severity: 'warning', summary: 'the updater quarantined a version' },
  failed: { name: 'ModelpilotUpdaterUpdateFailed', severity: 'warning', summary: 'an update failed' },
  'rollback-failed': { name: 'ModelpilotUpdaterRollbackFailed', severity: 'critical', summary: 'a rollback failed; the in-flight record stays' },
  restarted: { name: 'ModelpilotUpdaterRestarted', severity: 'warning', summary: 'a crashed model container was started again' },
  refused: {
    name: 'ModelpilotUpdaterVersionRefused', severity: 'critical',
    summary: 'a version was refused (no valid signature, or no proof from the environments it must pass first): never applied',
  },
  available: { name: 'ModelpilotUpdaterUpdateAvailable', severity: 'info', summary: 'a newer version is available (monitorOnly: nothing was changed)' },
  attested: {
    name: 'ModelpilotUpdaterAttestationFailed', severity: 'warning',
    summary: 'proof of a promotion could not be written to the registry; environments that require it will not take this version',
  },
  'restart-failed': { name: 'ModelpilotUpdaterRestartFailed', severity: 'critical', summary: 'a crashed model container could not be started again' },
};

export class AlertmanagerNotifier {
  private readonly send: HttpRequester;
  private readonly queue: SendQueue<AuditEntry>;

  constructor(private readonly o: AlertmanagerNotifierOptions) {
    this.send = o.request ?? httpRequest;
    this.queue = new SendQueue((e) => this.post(e),
      (e, err) => (o.logger ?? nullLogger).warn('alertmanager notification failed', { event: e.event, target: e.target, error: err.message }),
      o.maxQueue ?? 100, o.onResult);
  }

  /** Whether an audit entry is one people must hear about. */
  public static notable(e: AuditEntry): boolean {
    if (!(e.event in EVENTS)) return false;
    if (e.event === 'failed' && e.result === 'backoff') return false; // a budgeted retry, not yet a decision
    if (e.event === 'rolled-back' && e.result !== 'ok') return false;
    if (e.event === 'attested' && e.result === 'ok') return false; // only a failure is news
    return true;
  }

  /** Queues the entry when it is notable; returns at once. */
  public notify(e: AuditEntry): void {
    if (AlertmanagerNotifier.notable(e)) this.queue.push(e);
  }

  /** Resolves when everything queued so far was sent or given up. */
  public async flush(): Promise<void> {
    await this.queue.flush();
  }

  private async post(e: AuditEntry): Promise<void> {
    const res = await this.send({
      url: `${this.o.url.replace(/\/+$/, '')}/api/v2/alerts`, method: 'POST',
      headers: { 'content-type': 'application/json' }, body: JSON.stringify([this.alertOf(e)]), timeoutMs: this.o.timeoutMs ?? 5000,
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${res.text().slice(0, 200)}`);
  }

  private alertOf(e: AuditEntry): object {
    const kind = EVENTS[e.event];
    const now = this.o.now?.() ?? new Date();
    const image = e.event === 'rolled-back' ? e.from : e.to;
    // a quarantine's reason starts with `<version>: `; otherwise the tag of the image concerned
    const version = e.event === 'quarantined' && e.reason?.includes(': ') ? e.reason.split(': ')[0]
      : image ? (ImageRef.tryParse(image, { allowMutableTag: true })?.tag ?? '') : '';
    const labels: Record<string, string> = {
      alertname: kind.name, severity: kind.severity, source: 'modelpilot-updater', workload: e.target,
      ...(e.model ? { model: e.model } : {}), ...(version ? { version } : {}),
    };
    return {
      labels,
      annotations: {
        summary: `${e.model ?? e.target}: ${kind.summary}`,
        description: `${e.event} ${e.from ? `${e.from} -> ` : ''}${e.to ?? ''}: ${e.reason ?? e.result}`.trim(),
      },
      startsAt: e.time ?? now.toISOString(),
      endsAt: new Date(now.getTime() + (this.o.resolveAfterMs ?? 15 * 60_000)).toISOString(),
    };
  }
}
