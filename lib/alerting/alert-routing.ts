import { ApiObject, Chart, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import { ACTION_LABEL, K8S_LABELS, ROLLBACK_ACTION } from '../core/contract/names';
import { UPDATER_WEBHOOK_SECRET, WEBHOOK_SECRET_KEYS } from '../core/contract/secrets';
import { Duration, toPromDuration } from '../core/duration';
import { Severity } from '../monitoring/model-alerts';
import { Receiver, SecretKeySelector } from './receiver';

/** Timing and grouping of a route (Alertmanager's own terms). */
export interface RouteTiming {
  /** Labels that group alerts into one notification. @default - inherited (root: ['alertname', 'namespace', 'model', 'version']) */
  readonly groupBy?: string[];
  /** Wait before the first notification of a new group. @default - inherited (root: Duration.seconds(30)) */
  readonly groupWait?: Duration;
  /** Wait before notifying about changes to a group. @default - inherited (root: Duration.minutes(5)) */
  readonly groupInterval?: Duration;
  /** Wait before repeating an unchanged, still-firing group. @default - inherited (root: Duration.hours(4)) */
  readonly repeatInterval?: Duration;
}

/** A child route of the routing tree. */
export interface RouteOptions extends RouteTiming {
  /** Where matching alerts go. */
  readonly receiver: Receiver;
  /** Match these severities. @default - any severity */
  readonly severity?: Severity | Severity[];
  /** Match this model (the `model` label). @default - any model */
  readonly model?: string;
  /** Further exact label matches, e.g. `{ team: 'ml-platform' }`. @default {} */
  readonly labels?: Record<string, string>;
  /** Keep matching later routes after this one. @default false */
  readonly continue?: boolean;
}

/** The built-in route that sends rollback-worthy alerts to the updater agent. */
export interface UpdaterRouteOptions extends RouteTiming {
  /**
   * The updater's Alertmanager webhook.
   * @default 'http://modelpilot-updater.<namespace>.svc:8080/webhooks/alertmanager'
   */
  readonly url?: string;
  /**
   * Secret key holding the updater's webhook bearer token.
   * @default { name: 'modelpilot-updater-webhook', key: 'token' }
   */
  readonly bearerToken?: SecretKeySelector;
}

/** Properties of {@link AlertRouting}. */
export interface AlertRoutingProps extends RouteTiming {
  /** Receiver of every alert no child route takes. */
  readonly defaultReceiver: Receiver;
  /** Child routes, matched in order (after the updater route). @default [] */
  readonly routes?: RouteOptions[];
  /**
   * The updater route: alerts labelled `modelpilot_action: rollback` go to the updater's webhook (and, since the
   * route continues, to people as well). `false` leaves it out.
   * @default - the updater in this namespace, token from Secret `modelpilot-updater-webhook` key `token`
   */
  readonly updater?: UpdaterRouteOptions | false;
  /**
   * `ModelTargetDown` inhibits `ModelHighErrorRate` and `ModelHighLatencyP99` with equal namespace, model and version.
   * @default true
   */
  readonly inhibitOnTargetDown?: boolean;
  /**
   * Where the native alertmanager.yml expects each referenced Secret mounted (`<path>/<secret>/<key>`).
   * @default '/etc/alertmanager/secrets' (prometheus-operator's `Alertmanager.spec.secrets` layout)
   */
  readonly secretsMountPath?: string;
  /**
   * Base name of the AlertmanagerConfig and of the Secret holding the native config (`<name>-alertmanager`).
   * @default 'modelpilot'
   */
  readonly name?: string;
  /**
   * Namespace of both objects.
   * @default - the chart's namespace, else 'default'
   */
  readonly namespace?: string;
  /**
   * Labels on the AlertmanagerConfig that your Alertmanager's `alertmanagerConfigSelector` matches.
   * @default {}
   */
  readonly alertmanagerSelectorLabels?: Record<string, string>;
}

interface ResolvedRoute extends RouteTiming {
  readonly receiver: Receiver;
  readonly matchers: Array<{ name: string; value: string; regex: boolean }>;
  readonly continue: boolean;
}

/** Name of the built-in updater receiver. */
export const UPDATER_RECEIVER = 'modelpilot-updater';
/** Key of the native config inside the Secret. */
export const ALERTMANAGER_CONFIG_KEY = 'alertmanager.yaml';

/**
 * The alert routing tree, declared once and rendered twice: an `AlertmanagerConfig` (for prometheus-operator)
 * and a native `alertmanager.yml` in a Secret (for a plain Alertmanager). Routes go by severity and model; a
 * built-in first route sends rollback-worthy alerts to the updater agent; `ModelTargetDown` inhibits the error
 * and latency alerts of the same target. No secret value is ever rendered.
 */
export class AlertRouting extends Construct {
  /** The AlertmanagerConfig. */
  public readonly alertmanagerConfig: ApiObject;
  /** The Secret with the native config under key `alertmanager.yaml`. */
  public readonly configSecret: ApiObject;
  public readonly namespace: string;
  public readonly secretsMountPath: string;

  private readonly props: AlertRoutingProps;
  private readonly routes: ResolvedRoute[] = [];
  private readonly receivers = new Map<string, Receiver>();

  constructor(scope: Construct, id: string, props: AlertRoutingProps) {
    super(scope, id);
    if (!props || !props.defaultReceiver) {
      throw new Error('\'defaultReceiver\' is missing; give one, e.g. Receiver.slack({ name: \'ml-alerts\', ... })');
    }
    this.props = props;
    this.namespace = props.namespace ?? Chart.of(this).namespace ?? 'default';
    this.secretsMountPath = props.secretsMountPath ?? '/etc/alertmanager/secrets';
    if (!this.secretsMountPath.startsWith('/')) {
      throw new Error(`'secretsMountPath' value '${this.secretsMountPath}' is not an absolute path; use e.g. '/etc/alertmanager/secrets'`);
    }
    const name = props.name ?? 'modelpilot';
    this.addReceiver(props.defaultReceiver);

    if (props.updater !== false) {
      const u = props.updater ?? {};
      const receiver = Receiver.webhook({
        name: UPDATER_RECEIVER,
        url: u.url ?? `http://modelpilot-updater.${this.namespace}.svc:8080/webhooks/alertmanager`,
        bearerToken: u.bearerToken ?? { name: UPDATER_WEBHOOK_SECRET, key: WEBHOOK_SECRET_KEYS.bearerToken },
      });
      this.addReceiver(receiver);
      this.routes.push({
        receiver, continue: true,
        matchers: [{ name: ACTION_LABEL, value: ROLLBACK_ACTION, regex: false }],
        groupBy: u.groupBy ?? ['alertname', 'namespace', 'model', 'version'],
        groupWait: u.groupWait ?? Duration.seconds(10),
        groupInterval: u.groupInterval, repeatInterval: u.repeatInterval,
      });
    }
    for (const r of props.routes ?? []) this.addRoute(r);

    // Rendered lazily, at synth time, so routes added with addRoute() after construction are included.
    this.alertmanagerConfig = new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1alpha1',
      kind: 'AlertmanagerConfig',
      metadata: { name, namespace: this.namespace, labels: { ...labels(name), ...(props.alertmanagerSelectorLabels ?? {}) } },
      spec: Lazy.any({ produce: () => this.renderCrdSpec() }),
    });
    this.configSecret = new ApiObject(this, 'ConfigSecret', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${name}-alertmanager`, namespace: this.namespace, labels: labels(name) },
      type: 'Opaque',
      stringData: Lazy.any({ produce: () => ({ [ALERTMANAGER_CONFIG_KEY]: this.toAlertmanagerYaml() }) }),
    });
  }

  /** Names of the Secrets the receivers read (mount them into Alertmanager, e.g. `Alertmanager.spec.secrets`). */
  public get secretNames(): string[] {
    return [...new Set([...this.receivers.values()].flatMap((r) => r.secretRefs.map((s) => s.name)))].sort();
  }

  /** Adds a child route (matched after the earlier ones) and returns it. */
  public addRoute(route: RouteOptions): RouteOptions {
    if (!route || !route.receiver) throw new Error('route \'receiver\' is missing; give a Receiver, e.g. Receiver.pagerDuty({...})');
    this.addReceiver(route.receiver);
    const matchers: ResolvedRoute['matchers'] = [];
    if (route.severity !== undefined) {
      const sev = Array.isArray(route.severity) ? route.severity : [route.severity];
      for (const s of sev) {
        if (!Object.values(Severity).includes(s)) {
          throw new Error(`route 'severity' value '${s}' is not a severity; use Severity.CRITICAL, Severity.WARNING or Severity.INFO`);
        }
      }
      matchers.push(sev.length === 1 ? { name: 'severity', value: sev[0], regex: false } : { name: 'severity', value: sev.join('|'), regex: true });
    }
    if (route.model !== undefined) matchers.push({ name: 'model', value: route.model, regex: false });
    for (const [k, v] of Object.entries(route.labels ?? {})) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) {
        throw new Error(`route 'labels' key '${k}' is not a label name; use letters, digits and '_'`);
      }
      matchers.push({ name: k, value: v, regex: false });
    }
    if (matchers.length === 0) {
      throw new Error(`route to '${route.receiver.name}' matches every alert; give 'severity', 'model' or 'labels' (or make it the defaultReceiver)`);
    }
    this.routes.push({ ...route, matchers, continue: route.continue ?? false });
    return route;
  }

  /** The native Alertmanager configuration (what `amtool check-config` reads). */
  public toAlertmanagerConfig(): Record<string, unknown> {
    const p = this.props;
    const timing = (t: RouteTiming) => ({
      ...(t.groupBy ? { group_by: t.groupBy } : {}),
      ...(t.groupWait ? { group_wait: toPromDuration(t.groupWait) } : {}),
      ...(t.groupInterval ? { group_interval: toPromDuration(t.groupInterval) } : {}),
      ...(t.repeatInterval ? { repeat_interval: toPromDuration(t.repeatInterval) } : {}),
    });
    const quote = (v: string) => JSON.stringify(v);
    return {
      route: {
        receiver: p.defaultReceiver.name,
        ...timing(this.rootTiming()),
        routes: this.routes.map((r) => ({
          receiver: r.receiver.name,
          matchers: r.matchers.map((m) => `${m.name}${m.regex ? '=~' : '='}${quote(m.value)}`),
          ...timing(r),
          ...(r.continue ? { continue: true } : {}),
        })),
      },
      inhibit_rules: this.inhibitOnTargetDown ? [{
        source_matchers: ['alertname="ModelTargetDown"'],
        target_matchers: ['alertname=~"ModelHighErrorRate|ModelHighLatencyP99"'],
        equal: ['namespace', 'model', 'version'],
      }] : [],
      receivers: [...this.receivers.values()].map((r) => r.renderNative(this.secretsMountPath)),
    };
  }

  /** The native configuration as YAML. */
  public toAlertmanagerYaml(): string {
    return stringify(this.toAlertmanagerConfig(), { lineWidth: 0 });
  }

  private get inhibitOnTargetDown(): boolean {
    return this.props.inhibitOnTargetDown ?? true;
  }

  private rootTiming(): RouteTiming {
    const p = this.props;
    return {
      groupBy: p.groupBy ?? ['alertname', 'namespace', 'model', 'version'],
      groupWait: p.groupWait ?? Duration.seconds(30),
      groupInterval: p.groupInterval ?? Duration.minutes(5),
      repeatInterval: p.repeatInterval ?? Duration.hours(4),
    };
  }

  private renderCrdSpec(): Record<string, unknown> {
    const timing = (t: RouteTiming) => ({
      ...(t.groupBy ? { groupBy: t.groupBy } : {}),
      ...(t.groupWait ? { groupWait: toPromDuration(t.groupWait) } : {}),
      ...(t.groupInterval ? { groupInterval: toPromDuration(t.groupInterval) } : {}),
      ...(t.repeatInterval ? { repeatInterval: toPromDuration(t.repeatInterval) } : {}),
    });
    const matchers = (ms: ResolvedRoute['matchers']) => ms.map((m) => ({ name: m.name, value: m.value, matchType: m.regex ? '=~' : '=' }));
    return {
      route: {
        receiver: this.props.defaultReceiver.name,
        ...timing(this.rootTiming()),
        routes: this.routes.map((r) => ({
          receiver: r.receiver.name,
          matchers: matchers(r.matchers),
          ...timing(r),
          ...(r.continue ? { continue: true } : {}),
        })),
      },
      receivers: [...this.receivers.values()].map((r) => r.renderCrd()),
      ...(this.inhibitOnTargetDown ? {
        inhibitRules: [{
          sourceMatch: [{ name: 'alertname', value: 'ModelTargetDown', matchType: '=' }],
          targetMatch: [{ name: 'alertname', value: 'ModelHighErrorRate|ModelHighLatencyP99', matchType: '=~' }],
          equal: ['namespace', 'model', 'version'],
        }],
      } : {}),
    };
  }

  private addReceiver(r: Receiver): void {
    const existing = this.receivers.get(r.name);
    if (existing && existing !== r) {
      throw new Error(`receiver name '${r.name}' is used by two different receivers; give each a unique 'name'`);
    }
    this.receivers.set(r.name, r);
  }
}

function labels(name: string): Record<string, string> {
  return { [K8S_LABELS.name]: name, [K8S_LABELS.instance]: name, [K8S_LABELS.component]: 'alerting', [K8S_LABELS.partOf]: 'modelpilot', [K8S_LABELS.managedBy]: 'modelpilot' };
}
