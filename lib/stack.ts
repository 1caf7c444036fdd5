import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { AlertRouting, AlertRoutingProps } from './alerting/alert-routing';
import type { SingleHostOptions } from './compose/options';
import { Duration } from './core/duration';
import { ImageRef } from './core/image-ref';
import { Delivery } from './delivery/delivery';
import { DEFAULT_PROMETHEUS_URL, ProgressiveDelivery, ROLLOUT_HASH_LABEL } from './delivery/progressive-delivery';
import { annotateSyncWaves, GitOpsApplication, GitOpsApplicationProps } from './gitops/gitops-application';
import { ModelDeployment, ModelDeploymentProps } from './model/model-deployment';
import { ModelMonitoring, ModelMonitoringOptions, ScrapeTarget } from './monitoring/model-monitoring';
import { IModelRegistry, ModelRegistry, ModelRegistrySource } from './registry/model-registry';
import { ModelUpdater, ModelUpdaterOptions, updaterMetricLabels } from './updater/model-updater';

/**
 * Properties of a {@link SelfHealingModelStack}.
 *
 * Sections: `model` is required; every other section is an optional props object. When a section is given, the
 * stack creates the matching construct with the model (and the registry) passed in:
 *
 * | section      | construct it creates (owner)                         |
 * |--------------|------------------------------------------------------|
 * | `model`      | {@link ModelDeployment} (always)                     |
 * | `registry`   | in-cluster {@link ModelRegistry} or an external one  |
 * | `monitoring` | ServiceMonitor / PrometheusRule (lib/monitoring)     |
 * | `alerting`   | AlertmanagerConfig (lib/alerting)                    |
 * | `updater`    | the updater agent Deployment + RBAC (lib/updater)    |
 * | `delivery`   | Argo Rollouts Rollout + AnalysisTemplate (lib/delivery), for canary / blue-green |
 * | `gitops`     | an Argo CD Application, in its own chart (lib/gitops)|
 *
 * To add a section: declare `readonly <section>?: <Area>Props` here, add a `public readonly <section>?: <Construct>`
 * field to the stack, and one `if (props.<section>) this.<section> = new <Construct>(this, '<Section>', { model: this.model,
 * ...props.<section> });` line in the constructor, after the model is created.
 */
export interface SelfHealingModelStackProps {
  /**
   * Namespace of every object of the stack.
   * @default 'default'
   */
  readonly namespace?: string;
  /** The served model. Its `namespace` defaults to the stack's. */
  readonly model: ModelDeploymentProps;
  /**
   * Where model images come from: `ModelRegistry.inCluster({...})` or `ModelRegistry.external({ host, pullSecret })`.
   * When set, the model image must live on this registry, and its pull Secret is added to the pods.
   * @default - no registry is declared; the image may come from anywhere
   */
  readonly registry?: ModelRegistrySource;
  /**
   * Scrape the model (ServiceMonitor/PodMonitor) and alert on its SLO (PrometheusRule); `{}` for the defaults.
   * @default - no monitoring objects
   */
  readonly monitoring?: ModelMonitoringOptions;
  /**
   * Route alerts to people and rollback-worthy ones to the updater (AlertmanagerConfig + native alertmanager.yml Secret).
   * @default - no alerting objects
   */
  readonly alerting?: AlertRoutingProps;
  /**
   * Run the updater agent in the namespace, keeping the model up to date (RBAC limited to its Deployment); `{}` for
   * the defaults. With `alerting`, the Alertmanager route to the updater uses this updater's URL and token Secret.
   * @default - no updater agent
   */
  readonly updater?: ModelUpdaterOptions;
  /**
   * How a new version reaches production: `Delivery.rollingUpdate()` or `Delivery.recreate()` (the Deployment's own
   * strategies), or `Delivery.canary({...})` / `Delivery.blueGreen({...})`: an Argo Rollouts Rollout takes over the
   * model Deployment's pods (`workloadRef`), gated by an AnalysisTemplate generated from `model.slo`; a failed
   * analysis aborts back to the stable version. The updater keeps setting the image on the Deployment and follows
   * the Rollout's verdict. Replaces `model.strategy`.
   * @default - model.strategy (a rolling update)
   */
  readonly delivery?: Delivery;
  /**
   * Deliver the stack with Argo CD: an Application (and optionally an AppProject) in a chart of its own,
   * `<stack id>-gitops` (one more YAML file, applied once to Argo CD's namespace), syncing the stack's YAML from
   * `repoURL` + `path`. With an updater, the model image is ignored by Argo CD's diff and sync. The stack's objects
   * get sync waves: registry -2, monitoring and alerting -1, model 0, updater 1.
   * @default - no Argo CD objects
   */
  readonly gitops?: Omit<GitOpsApplicationProps, 'namespace' | 'updaterOwned'>;
  /**
   * Where the single-host bundle's services listen (`npx modelpilot synth app.ts --target compose`): the proxy's
   * public address, the model's two blue/green ports, the ports of Prometheus, Alertmanager and the agent, and the
   * images of the supporting services. Read only by the compose target; Kubernetes output does not change.
   * @default - the defaults of {@link SingleHostOptions}
   */
  readonly singleHost?: SingleHostOptions;
}

const IS_STACK = Symbol.for('modelpilot.SelfHealingModelStack');

/**
 * The top-level construct: one chart (one YAML file) holding a model, its registry and, through the optional
 * sections, its monitoring, alerting and updater agent.
 */
export class SelfHealingModelStack extends Chart {
  /** The served model. */
  public readonly model: ModelDeployment;
  /** The registry, when the `registry` section is set. */
  public readonly registry?: IModelRegistry;
  /** The monitoring, when the `monitoring` section is set. */
  public readonly monitoring?: ModelMonitoring;
  /** The alert routing, when the `alerting` section is set. */
  public readonly alerting?: AlertRouting;
  /** The updater agent, when the `updater` section is set. */
  public readonly updater?: ModelUpdater;
  /** The Rollout and AnalysisTemplate, when `delivery` is a canary or blue-green. */
  public readonly delivery?: ProgressiveDelivery;
  /** The Argo CD Application (in the sibling chart `<id>-gitops`), when the `gitops` section is set. */
  public readonly gitops?: GitOpsApplication;
  /** The single-host options (`singleHost`), read by `synth --target compose`. */
  public readonly singleHost?: SingleHostOptions;

  /** Whether `x` is a stack (also across copies of this package). */
  public static isStack(x: unknown): x is SelfHealingModelStack {
    // not `instanceof`: cdk8s' Chart defines Symbol.hasInstance as Chart.isChart, so every Chart would count (#27)
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[IS_STACK] === true;
  }

  constructor(scope: Construct, id: string, props: SelfHealingModelStackProps) {
    super(scope, id, { namespace: props?.namespace ?? 'default', disableResourceNameHashes: true });
    if (!props || !props.model) {
      throw new Error(`'model' is missing from stack '${id}'; give at least { model: { name, image } }`);
    }
    Object.defineProperty(this, IS_STACK, { value: true });
    this.singleHost = props.singleHost;
    if (props.registry) this.registry = props.registry.bind(this, 'Registry');
    let pullSecrets = props.model.imagePullSecrets;
    const image = typeof props.model.image === 'string' ? ImageRef.parse(props.model.image, { field: 'model.image' }) : props.model.image;
    refuseClusterOnlyHost(image, this.registry);
    if (this.registry) {
      if (image.registry !== this.registry.host) {
        throw new Error(`'model.image' registry '${image.registry}' is not the stack's registry '${this.registry.host}'; `
          + `push the model to '${this.registry.host}/${image.repository}' or drop the 'registry' section`);
      }
      if (this.registry.pullSecretName && !(pullSecrets ?? []).includes(this.registry.pullSecretName)) {
        pullSecrets = [...(pullSecrets ?? []), this.registry.pullSecretName];
      }
    }
    const delivery = props.delivery;
    if (delivery !== undefined && !(delivery instanceof Delivery)) {
      throw new Error('\'delivery\' is not a Delivery; give Delivery.rollingUpdate(), Delivery.recreate(), Delivery.canary({...}) or Delivery.blueGreen({...})');
    }
    if (delivery && props.model.strategy) {
      throw new Error(`'model.strategy' and 'delivery' (Delivery.${delivery.kind}()) are both given; keep 'delivery' (Delivery.rollingUpdate() takes the same options)`);
    }
    const rolloutRef = delivery?.progressive ? { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: props.model.name } : undefined;
    this.model = new ModelDeployment(this, 'Model', {
      ...props.model, image, imagePullSecrets: pullSecrets, strategy: delivery?.strategy ?? props.model.strategy, deliveredBy: rolloutRef,
    });
    let monitoring = props.monitoring;
    if (delivery?.progressive && !monitoring) {
      // the AnalysisTemplate counts the new pods' requests by the pod label that only this stack's monitor copies onto
      // the series: without it every analysis measures nothing and every rollout aborts (#27)
      throw new Error(`'delivery' Delivery.${delivery.kind}() has no 'monitoring' section: its analysis counts the new version's requests by the `
        + `label ${ROLLOUT_HASH_LABEL}, which only the stack's monitor puts on the series, so every analysis would find no requests and abort; `
        + "add 'monitoring: {}' (a ServiceMonitor/PodMonitor and the alerts) or use Delivery.rollingUpdate()");
    }
    if (monitoring && delivery?.progressive) {
      if (delivery.kind === 'blueGreen' && monitoring.target === ScrapeTarget.SERVICE) {
        throw new Error('\'monitoring.target\' ScrapeTarget.SERVICE with Delivery.blueGreen() scrapes only the pods the active Service selects, so the '
          + 'preview is never measured (and after promotion both Services count the same pods twice); use ScrapeTarget.POD (the default with blue-green)');
      }
      monitoring = {
        ...monitoring,
        target: monitoring.target ?? (delivery.kind === 'blueGreen' ? ScrapeTarget.POD : undefined),
        podTargetLabels: [...new Set([...(monitoring.podTargetLabels ?? []), ROLLOUT_HASH_LABEL])],
      };
    }
    if (monitoring && props.updater && monitoring.alerts !== false && !monitoring.alerts?.updaterSelector) {
      // the updater alerts read this stack's updater only
      monitoring = { ...monitoring, alerts: { ...monitoring.alerts, updaterSelector: updaterMetricLabels(props.updater, this.model.namespace) } };
    }
    if (monitoring) this.monitoring = new ModelMonitoring(this, 'Monitoring', { model: this.model, ...monitoring });
    if (delivery?.progressive) {
      this.delivery = new ProgressiveDelivery(this, 'Delivery', {
        model: this.model, delivery,
        replicas: props.model.autoscaling ? undefined : props.model.replicas ?? 2,
        revisionHistoryLimit: props.model.revisionHistoryLimit,
        prometheusUrl: props.updater?.prometheusUrl ?? DEFAULT_PROMETHEUS_URL,
      });
    }
    if (props.updater) {
      // With a canary or blue-green, the updater waits for the Rollout's verdict: its readiness timeout covers the
      // steps and analyses (unless given).
      const readinessTimeout = props.updater.readinessTimeout ?? (delivery?.progressive
        ? Duration.seconds(this.model.startupBudgetSeconds + 120 + delivery.budgetSeconds(this.model.startupBudgetSeconds)) : undefined);
      this.updater = new ModelUpdater(this, 'Updater', { ...props.updater, readinessTimeout, models: [this.model], registry: this.registry });
      // An in-cluster registry notifies the updater's webhook of every push (token from the updater's Secret),
      // unless its own props name another endpoint.
      if (this.registry instanceof ModelRegistry && this.registry.notifications === undefined) this.registry.notify(this.updater);
    }
    if (props.alerting) {
      const u = this.updater;
      const route = u && props.alerting.updater !== false ? {
        url: u.webhookUrl('alertmanager'), bearerToken: u.webhookBearerToken, ...props.alerting.updater,
      } : props.alerting.updater;
      this.alerting = new AlertRouting(this, 'Alerting', { name: this.model.modelName, ...props.alerting, updater: route });
    }
    if (props.gitops) {
      // Argo CD reads the Application from its own namespace, not from the path it syncs: a chart of its own.
      const chart = new Chart(scope, `${id}-gitops`, { disableResourceNameHashes: true });
      this.gitops = new GitOpsApplication(chart, 'Application', {
        name: this.model.modelName, ...props.gitops, namespace: this.model.namespace,
        updaterOwned: this.updater ? [{ deploymentName: this.model.deploymentName, containerName: this.model.containerName }] : [],
        rolloutServices: this.delivery?.previewServiceName ? [this.model.serviceName, this.delivery.previewServiceName] : [],
      });
      annotateSyncWaves(this, [
        { scope: this.registry instanceof ModelRegistry ? this.registry : undefined, wave: -2 },
        { scope: this.monitoring, wave: -1 }, { scope: this.alerting, wave: -1 },
        { scope: this.model, wave: 0 }, { scope: this.delivery, wave: 0 }, { scope: this.updater, wave: 1 },
      ]);
    }
  }
}

/**
 * The kubelet pulls through the node's container runtime, which resolves names on the node: a cluster DNS name
 * (`*.svc`, `*.svc.cluster.local`) cannot be pulled from on most clusters. Refused, with the pattern that works.
 */
function refuseClusterOnlyHost(image: ImageRef, registry: IModelRegistry | undefined): void {
  const host = image.registry;
  if (!/\.svc(\.cluster\.local)?(:\d+)?$/.test(host)) return;
  const port = 30500;
  const inCluster = registry?.inCluster === true;
  throw new Error(`'model.image' host '${host}' is a cluster DNS name, which the nodes cannot pull from: the kubelet's container runtime `
    + 'resolves names and connects on the node, not in the cluster network. '
    + (inCluster
      ? `Expose the in-cluster registry on a NodePort — ModelRegistry.inCluster({ nodePort: ${port} }) — and reference the model as `
        + `'localhost:${port}/${image.repository}${image.tag ? `:${image.tag}` : ''}'; give each node's containerd a hosts.toml for localhost:${port} (docs/registry.md)`
      : 'Use a registry host the nodes resolve (a public name with TLS, or an in-cluster registry on a NodePort: docs/registry.md)'));
}
