/**
 * A key of a Kubernetes Secret in the namespace of the alerting objects (Kubernetes' `SecretKeySelector` shape).
 * Secret values are never rendered.
 */
export interface SecretKeySelector {
  /** Name of the Secret. */
  readonly name: string;
  /** Key inside the Secret. */
  readonly key: string;
}

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

type Kind = 'slack' | 'email' | 'pagerduty' | 'webhook';

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
    return new Receiver('slack', options, [options.apiUrl]);
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
    return new Receiver('email', options, options.authPassword ? [options.authPassword] : []);
  }

  /** PagerDuty Events API v2. */
  public static pagerDuty(options: PagerDutyReceiverOptions): Receiver {
    checkSecretRef(options.name, 'routingKey', options.routingKey);
    return new Receiver('pagerduty', options, [options.routingKey]);
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
    if (options.bearerToken) checkSecretRef(options.name, 'bearerToken', options.bearerToken);
    return new Receiver('webhook', options, options.bearerToken ? [options.bearerToken] : []);
  }

  /** The receiver's name. */
  public readonly name: string;
  /** The Secret keys it reads. */
  public readonly secretRefs: readonly SecretKeySelector[];

  private constructor(private readonly kind: Kind, private readonly options: ReceiverOptions, secretRefs: SecretKeySelector[]) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(options.name ?? '')) {
      throw new Error(`receiver 'name' value '${options.name}' is not valid; use letters, digits, '-', '_' and '.', e.g. 'ml-oncall'`);
    }
    this.name = options.name;
    this.secretRefs = secretRefs;
  }

  /** The receiver as the native `alertmanager.yml` writes it; secrets as `*_file` paths under `secretsMountPath`. */
  public renderNative(secretsMountPath: string): Record<string, unknown> {
    const file = (ref: SecretKeySelector) => `${secretsMountPath.replace(/\/+$/, '')}/${ref.name}/${ref.key}`;
    const sendResolved = this.options.sendResolved ?? true;
    switch (this.kind) {
      case 'slack': {
        const o = this.options as SlackReceiverOptions;
        return { name: this.name, slack_configs: [{ api_url_file: file(o.apiUrl), channel: o.channel, send_resolved: sendResolved }] };
      }
      case 'email': {
        const o = this.options as EmailReceiverOptions;
        return {
          name: this.name,
          email_configs: [{
            to: o.to, from: o.from, smarthost: o.smarthost, require_tls: o.requireTls ?? true, send_resolved: sendResolved,
            ...(o.authUsername ? { auth_username: o.authUsername } : {}),
            ...(o.authPassword ? { auth_password_file: file(o.authPassword) } : {}),
          }],
        };
      }
      case 'pagerduty': {
        const o = this.options as PagerDutyReceiverOptions;
        return { name: this.name, pagerduty_configs: [{ routing_key_file: file(o.routingKey), send_resolved: sendResolved }] };
      }
      case 'webhook': {
        const o = this.options as WebhookReceiverOptions;
        return {
          name: this.name,
          webhook_configs: [{
            url: o.url, send_resolved: sendResolved,
            ...(o.bearerToken ? { http_config: { authorization: { type: 'Bearer', credentials_file: file(o.bearerToken) } } } : {}),
          }],
        };
      }
    }
  }

  /** The receiver as an AlertmanagerConfig (`monitoring.coreos.com/v1alpha1`) writes it; secrets as references. */
  public renderCrd(): Record<string, unknown> {
    const ref = (r: SecretKeySelector) => ({ name: r.name, key: r.key });
    const sendResolved = this.options.sendResolved ?? true;
    switch (this.kind) {
      case 'slack': {
        const o = this.options as SlackReceiverOptions;
        return { name: this.name, slackConfigs: [{ apiURL: ref(o.apiUrl), channel: o.channel, sendResolved }] };
      }
      case 'email': {
        const o = this.options as EmailReceiverOptions;
        return {
          name: this.name,
          emailConfigs: [{
            to: o.to, from: o.from, smarthost: o.smarthost, requireTLS: o.requireTls ?? true, sendResolved,
            ...(o.authUsername ? { authUsername: o.authUsername } : {}),
            ...(o.authPassword ? { authPassword: ref(o.authPassword) } : {}),
          }],
        };
      }
      case 'pagerduty': {
        const o = this.options as PagerDutyReceiverOptions;
        return { name: this.name, pagerdutyConfigs: [{ routingKey: ref(o.routingKey), sendResolved }] };
      }
      case 'webhook': {
        const o = this.options as WebhookReceiverOptions;
        return {
          name: this.name,
          webhookConfigs: [{
            url: o.url, sendResolved,
            ...(o.bearerToken ? { httpConfig: { authorization: { type: 'Bearer', credentials: ref(o.bearerToken) } } } : {}),
          }],
        };
      }
    }
  }
}

function checkSecretRef(receiver: string, field: string, ref: SecretKeySelector | undefined): void {
  const dns = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  if (!ref || typeof ref !== 'object' || !dns.test(ref.name ?? '') || !/^[-._a-zA-Z0-9]+$/.test(ref.key ?? '')) {
    throw new Error(`receiver '${receiver}': '${field}' value ${JSON.stringify(ref)} is not a Secret reference; `
      + 'give { name: \'<secret>\', key: \'<key>\' } (the value itself never goes into the config)');
  }
}

/** The same as {@link SecretKeySelector} (the updater construct names its Secret references so). */
export type SecretKeyRef = SecretKeySelector;
