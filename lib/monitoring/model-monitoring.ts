import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { checkProps } from '../core/checks';
import { VERSION_LABEL } from '../core/contract/names';
import { Duration, toPromDuration } from '../core/duration';
import { Slo } from '../core/slo';
import { ModelAlerts, ModelAlertsOptions } from './model-alerts';
import { MonitoredModel, objectLabels } from './monitored-model';

/** How Prometheus finds the model's pods. */
export enum ScrapeTarget {
  /** A ServiceMonitor selecting the model's Service (the metrics port is a Service port). */
  SERVICE = 'service',
  /** A PodMonitor selecting the model's pods directly (the metrics port is a container port). */
  POD = 'pod',
}

/** Options of {@link ModelMonitoring} (everything but the model). */
export interface ModelMonitoringOptions {
  /**
   * Scrape through a ServiceMonitor or a PodMonitor.
   * @default ScrapeTarget.SERVICE
   */
  readonly target?: ScrapeTarget;
  /**
   * How often Prometheus scrapes the model. `ModelTargetDown` waits `scrapeInterval × (slo.maxFailedScrapes − 1)`.
   * @default Duration.seconds(30)
   */
  readonly scrapeInterval?: Duration;
  /**
   * Per-scrape timeout; at most `scrapeInterval`.
   * @default - Prometheus' default (10s, capped at the interval)
   */
  readonly scrapeTimeout?: Duration;
  /**
   * Labels on the ServiceMonitor/PodMonitor/PrometheusRule that your Prometheus' `serviceMonitorSelector`,
   * `podMonitorSelector` and `ruleSelector` match, e.g. `{ release: 'kube-prometheus-stack' }`.
   * @default {}
   */
  readonly prometheusSelectorLabels?: Record<string, string>;
  /**
   * The alert rules. Set `false` to create only the scrape object.
   * @default - a ModelAlerts with its defaults and this scrape interval
   */
  readonly alerts?: ModelAlertsOptions | false;
  /**
   * Pod labels copied onto every series of the model, under their Prometheus names (`-` and `.` become `_`). The
   * stack adds `rollouts-pod-template-hash` with a canary or blue-green delivery, so the analysis can tell the new
   * pods' series from the stable ones'.
   * @default - none
   */
  readonly podTargetLabels?: string[];
}

/** Properties of {@link ModelMonitoring}. */
export interface ModelMonitoringProps extends ModelMonitoringOptions {
  /** The model to monitor: a `ModelDeployment` or any {@link MonitoredModel}. */
  readonly model: MonitoredModel;
}

/**
 * Scrapes one model's `/metrics` with a ServiceMonitor (or PodMonitor) and, unless `alerts: false`, creates its
 * {@link ModelAlerts}. Every target gets the labels `model` (the model name) and `version` (from the pod label
 * `app.kubernetes.io/version`), so `up` carries them too; `honorLabels` keeps the server's own `model`/`version`
 * labels on its samples.
 */
export class ModelMonitoring extends Construct {
  /** The ServiceMonitor or PodMonitor. */
  public readonly resource: ApiObject;
  /** Which kind of scrape object `resource` is. */
  public readonly target: ScrapeTarget;
  /** The scrape interval. */
  public readonly scrapeInterval: Duration;
  /** The alert rules, unless `alerts: false`. */
  public readonly alerts?: ModelAlerts;

  constructor(scope: Construct, id: string, props: ModelMonitoringProps) {
    super(scope, id);
    checkProps('ModelMonitoring', props, '{ model } (a ModelDeployment)');
    const model = props.model;
    this.target = props.target ?? ScrapeTarget.SERVICE;
    this.scrapeInterval = props.scrapeInterval ?? Duration.seconds(30);
    if (this.scrapeInterval.toMilliseconds() < 1000) {
      throw new Error(`'scrapeInterval' value '${toPromDuration(this.scrapeInterval)}' is shorter than 1s; use at least Duration.seconds(1)`);
    }
    if (props.scrapeTimeout && props.scrapeTimeout.toMilliseconds() > this.scrapeInterval.toMilliseconds()) {
      throw new Error(`'scrapeTimeout' value '${toPromDuration(props.scrapeTimeout)}' is longer than 'scrapeInterval' `
        + `'${toPromDuration(this.scrapeInterval)}'; Prometheus rejects that, shorten the timeout`);
    }
    const selectorLabels = props.prometheusSelectorLabels ?? {};

    const endpoint: Record<string, unknown> = {
      port: model.metricsPortName,
      path: model.metricsPath,
      interval: toPromDuration(this.scrapeInterval),
      ...(props.scrapeTimeout ? { scrapeTimeout: toPromDuration(props.scrapeTimeout) } : {}),
      // The modelpilot server labels its series `model`/`version` itself; any other server's clashing labels (Triton's
      // repository model and numeric version) give way to the target's and are kept as exported_model/exported_version.
      honorLabels: (model.slo ?? Slo.DEFAULT).server.ownsModelLabels,
      relabelings: [
        { action: 'replace', targetLabel: 'model', replacement: model.modelName },
        // the pod's version label becomes the `version` target label, so `up` (and ModelTargetDown) names the version
        { action: 'replace', sourceLabels: [`__meta_kubernetes_pod_label_${VERSION_LABEL.replace(/[^a-zA-Z0-9_]/g, '_')}`], targetLabel: 'version' },
        ...(props.podTargetLabels ?? []).map((l) => {
          if (typeof l !== 'string' || !/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(l)) {
            throw new Error(`'podTargetLabels' value '${l}' is not a Kubernetes label key; use for example 'rollouts-pod-template-hash'`);
          }
          const name = l.replace(/[^a-zA-Z0-9_]/g, '_');
          return { action: 'replace', sourceLabels: [`__meta_kubernetes_pod_label_${name}`], targetLabel: name };
        }),
      ],
    };
    const isService = this.target === ScrapeTarget.SERVICE;
    this.resource = new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: isService ? 'ServiceMonitor' : 'PodMonitor',
      metadata: {
        name: model.deploymentName,
        namespace: model.namespace,
        labels: { ...objectLabels(model, 'monitoring'), ...selectorLabels },
      },
      spec: {
        selector: { matchLabels: { ...model.selectorLabels } },
        namespaceSelector: { matchNames: [model.namespace] },
        ...(isService ? { endpoints: [endpoint] } : { podMetricsEndpoints: [endpoint] }),
      },
    });

    if (props.alerts !== false) {
      this.alerts = new ModelAlerts(this, 'Alerts', {
        model,
        scrapeInterval: this.scrapeInterval,
        ...props.alerts,
        prometheusSelectorLabels: { ...selectorLabels, ...(props.alerts?.prometheusSelectorLabels ?? {}) },
      });
    }
  }
}
