import { SecretKeySelector, secretKeySelectorProblem } from '../core/contract/secrets';
import { CREDENTIAL_PARAM } from '../core/url';

export type { SecretKeySelector };

/** Common options of every receiver. */
export interface ReceiverOptions {
  /** Receiver name, unique within the routing tree; routes refer to it. */
  readonly name: string;
  /**
   * Also notify when the alert resolves.
   * @default true
   */
  readonly sendResolved?: boolean;
}

/** Options of {@link Receiver.slack}. */
export interface SlackReceiverOptions extends ReceiverOptions {
  /** Secret key holding the incoming-webhook URL. */
  readonly apiUrl: SecretKeySelector;
  /** Channel, e.g. `#ml-alerts`. */
  readonly channel: string;
}

/** Options of {@link Receiver.email}. */
export interface EmailReceiverOptions extends ReceiverOptions {
  /** Recipient address(es), comma-separated. */
  readonly to: string;
  /** Sender address. */
  readonly from: string;
  /** SMTP server as `host:port`. */
  readonly smarthost: string;
  /**
   * SMTP user name.
   * @default - no SMTP authentication
   */
  readonly authUsername?: string;
  /**
   * Secret key holding the SMTP password; needs `authUsername`.
   * @default - no SMTP authentication
   */
  readonly authPassword?: SecretKeySelector;
  /**
   * Require STARTTLS.
   * @default true
   */
  readonly requireTls?: boolean;
}

/** Options of {@link Receiver.pagerDuty}. */
export interface PagerDutyReceiverOptions extends ReceiverOptions {
  /** Secret key holding the Events API v2 integration (routing) key. */
  readonly routingKey: SecretKeySelector;
}

/** Options of {@link Receiver.webhook}. */
export interface WebhookReceiverOptions extends ReceiverOptions {
  /** URL the Alertmanager webhook payload is POSTed to. */
  readonly url: string;
  /**
   * Secret key holding a bearer token, sent as `Authorization: Bearer <token>`.
   * @default - no Authorization header
   */
  readonly bearerToken?: SecretKeySelector;
}

/** Query parameters that carry credentials (`?token=…`, `?api_key=…`, `?sig=…`). */

/**
 * One receiver's configs in one format: `secret` renders a Secret reference (a `*_file` path for the native
 * alertmanager.yml, a `{ name, key }` selector for the CRD). Returns the `<kind>_configs` entry.
 */
type Render = (secret: (ref: SecretKeySelector) => unknown, sendResolved: boolean) => Record<string, unknown>;

/**
 * Where notifications go. Create one with a static factory — `Receiver.slack(...)`, `.email(...)`,
 * `.pagerDuty(...)`, `.webhook(...)` — and use it in `AlertRouting` routes. Credentials are Secret references:
 * the AlertmanagerConfig refers to the Secret, the native `alertmanager.yml` to the file the Secret is mounted
 * as (`<secretsMountPath>/<secret>/<key>`, the prometheus-operator `Alertmanager.spec.secrets` layout).
 */
export class Receiver {
  /** Slack incoming webhook. */
  public static slack(options: SlackReceiverOptions): Receiver {
    checkSecretRef(options.name, 'apiUrl', options.apiUrl);
    if (!/^[#@]?[^\s]+$/.test(options.channel ?? '')) {
      throw new Error(`receiver '${options.name}': 'channel' value '${options.channel}' is not a Slack channel; write it like '#ml-alerts'`);
    }
    const o = options;
    return new Receiver(o, [o.apiUrl],
      (file, send_resolved) => ({ slack_configs: [{ api_url_file: file(o.apiUrl), channel: o.channel, send_resolved }] }),
      (ref, sendResolved) => ({ slackConfigs: [{ apiURL: ref(o.apiUrl), channel: o.channel, sendResolved }] }));
  }

  /** E-mail through an SMTP server. */
  public static email(options: EmailReceiverOptions): Receiver {
    for (const field of ['to', 'from'] as const) {
      if (!/^[^@\s]+@[^@\s]+$/.test((options[field] ?? '').split(',')[0].trim())) {
        throw new Error(`receiver '${options.name}': '${field}' value '${options[field]}' is not an e-mail address; write it like 'ml-oncall@example.com'`);
      }
    }
    if (!/^[^:\s]+:\d+$/.test(options.smarthost ?? '')) {
      throw new Error(`receiver '${options.name}': 'smarthost' value '${options.smarthost}' needs a port; write it like 'smtp.example.com:587'`);
    }
    if (options.authPassword) {
      checkSecretRef(options.name, 'authPassword', options.authPassword);
      if (!options.authUsername) {
        throw new Error(`receiver '${options.name}': 'authPassword' is set without 'authUsername'; give the SMTP user name too`);
      }
    }
    const o = options;
    return new Receiver(o, o.authPassword ? [o.authPassword] : [],
      (file, send_resolved) => ({
        email_configs: [{
          to: o.to, from: o.from, smarthost: o.smarthost, require_tls: o.requireTls ?? true, send_resolved,
          ...(o.authUsername ? { auth_username: o.authUsername } : {}),
          ...(o.authPassword ? { auth_password_file: file(o.authPassword) } : {}),
        }],
      }),
      (ref, sendResolved) => ({
        emailConfigs: [{
          to: o.to, from: o.from, smarthost: o.smarthost, requireTLS: o.requireTls ?? true, sendResolved,
          ...(o.authUsername ? { authUsername: o.authUsername } : {}),
          ...(o.authPassword ? { authPassword: ref(o.authPassword) } : {}),
        }],
      }));
  }

  /** PagerDuty Events API v2. */
  public static pagerDuty(options: PagerDutyReceiverOptions): Receiver {
    checkSecretRef(options.name, 'routingKey', options.routingKey);
    const o = options;
    return new Receiver(o, [o.routingKey],
      (file, send_resolved) => ({ pagerduty_configs: [{ routing_key_file: file(o.routingKey), send_resolved }] }),
      (ref, sendResolved) => ({ pagerdutyConfigs: [{ routingKey: ref(o.routingKey), sendResolved }] }));
  }

  /** Generic webhook (the Alertmanager webhook payload), optionally with a bearer token. */
  public static webhook(options: WebhookReceiverOptions): Receiver {
    let url: URL | undefined;
    try {
      url = new URL(options.url);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol)) {
      throw new Error(`receiver '${options.name}': 'url' value '${options.url}' is not an http(s) URL; write it like 'http://updater.ml.svc:8080/webhooks/alertmanager'`);
    }
    // The URL is rendered in plain text into the AlertmanagerConfig and alertmanager.yml: no credentials in it.
    const shown = `${url.protocol}//${url.host}${url.pathname}`;
    if (url.username || url.password) {
      throw new Error(`receiver '${options.name}': 'url' value '${shown}' carries ${url.password ? 'a user and password' : 'a user name'}, which would be rendered in plain text; `
        + "remove them from the URL and give the credential as 'bearerToken' (a Secret key)");
    }
    const secretParam = [...url.searchParams.keys()].find((k) => CREDENTIAL_PARAM.test(k));
    if (secretParam !== undefined) {
      throw new Error(`receiver '${options.name}': 'url' value '${shown}' carries the credential parameter '${secretParam}', which would be rendered in plain text; `
        + "remove it from the URL and give the credential as 'bearerToken' (a Secret key)");
    }
    if (options.bearerToken) checkSecretRef(options.name, 'bearerToken', options.bearerToken);
    const o = options;
    return new Receiver(o, o.bearerToken ? [o.bearerToken] : [],
      (file, send_resolved) => ({
        webhook_configs: [{
          url: o.url, send_resolved,
          ...(o.bearerToken ? { http_config: { authorization: { type: 'Bearer', credentials_file: file(o.bearerToken) } } } : {}),
        }],
      }),
      (ref, sendResolved) => ({
        webhookConfigs: [{
          url: o.url, sendResolved,
          ...(o.bearerToken ? { httpConfig: { authorization: { type: 'Bearer', credentials: ref(o.bearerToken) } } } : {}),
        }],
      }));
  }

  /** The receiver's name. */
  public readonly name: string;
  /** The Secret keys it reads. */
  public readonly secretRefs: readonly SecretKeySelector[];

  private constructor(private readonly options: ReceiverOptions, secretRefs: SecretKeySelector[],
    private readonly native: Render, private readonly crd: Render) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(options.name ?? '')) {
      throw new Error(`receiver 'name' value '${options.name}' is not valid; use letters, digits, '-', '_' and '.', e.g. 'ml-oncall'`);
    }
    this.name = options.name;
    this.secretRefs = secretRefs;
  }

  /** The receiver as the native `alertmanager.yml` writes it; secrets as `*_file` paths under `secretsMountPath`. */
  public renderNative(secretsMountPath: string): Record<string, unknown> {
    const file = (ref: SecretKeySelector) => `${secretsMountPath.replace(/\/+$/, '')}/${ref.name}/${ref.key}`;
    return { name: this.name, ...this.native(file, this.options.sendResolved ?? true) };
  }

  /** The receiver as an AlertmanagerConfig (`monitoring.coreos.com/v1alpha1`) writes it; secrets as references. */
  public renderCrd(): Record<string, unknown> {
    return { name: this.name, ...this.crd((r) => ({ name: r.name, key: r.key }), this.options.sendResolved ?? true) };
  }
}

function checkSecretRef(receiver: string, field: string, ref: SecretKeySelector | undefined): void {
  const problem = secretKeySelectorProblem(ref);
  if (problem) throw new Error(`receiver '${receiver}': '${field}' value ${JSON.stringify(ref)} ${problem}`);
}

