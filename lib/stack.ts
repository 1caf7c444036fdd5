import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { AlertRouting, AlertRoutingProps } from './alerting/alert-routing';
import { ImageRef } from './core/image-ref';
import { annotateSyncWaves, GitOpsApplication, GitOpsApplicationProps } from './gitops/gitops-application';
import { ModelDeployment, ModelDeploymentProps } from './model/model-deployment';
import { ModelMonitoring, ModelMonitoringOptions } from './monitoring/model-monitoring';
import { IModelRegistry, ModelRegistry, ModelRegistrySource } from './registry/model-registry';
import { ModelUpdater, ModelUpdaterOptions } from './updater/model-updater';

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
   * Deliver the stack with Argo CD: an Application (and optionally an AppProject) in a chart of its own,
   * `<stack id>-gitops` (one more YAML file, applied once to Argo CD's namespace), syncing the stack's YAML from
   * `repoURL` + `path`. With an updater, the model image is ignored by Argo CD's diff and sync. The stack's objects
   * get sync waves: registry -2, monitoring and alerting -1, model 0, updater 1.
   * @default - no Argo CD objects
   */
  readonly gitops?: Omit<GitOpsApplicationProps, 'namespace' | 'updaterOwned'>;
}

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
  /** The Argo CD Application (in the sibling chart `<id>-gitops`), when the `gitops` section is set. */
  public readonly gitops?: GitOpsApplication;

  constructor(scope: Construct, id: string, props: SelfHealingModelStackProps) {
    super(scope, id, { namespace: props?.namespace ?? 'default', disableResourceNameHashes: true });
    if (!props || !props.model) {
      throw new Error(`'model' is missing from stack '${id}'; give at least { model: { name, image } }`);
    }
    if (props.registry) this.registry = props.registry.bind(this, 'Registry');
    let pullSecrets = props.model.imagePullSecrets;
    const image = typeof props.model.image === 'string' ? ImageRef.parse(props.model.image, { field: 'model.image' }) : props.model.image;
    if (this.registry) {
      if (image.registry !== this.registry.host) {
        throw new Error(`'model.image' registry '${image.registry}' is not the stack's registry '${this.registry.host}'; `
          + `push the model to '${this.registry.host}/${image.repository}' or drop the 'registry' section`);
      }
      if (this.registry.pullSecretName && !(pullSecrets ?? []).includes(this.registry.pullSecretName)) {
        pullSecrets = [...(pullSecrets ?? []), this.registry.pullSecretName];
      }
    }
    this.model = new ModelDeployment(this, 'Model', { ...props.model, image, imagePullSecrets: pullSecrets });
    if (props.monitoring) this.monitoring = new ModelMonitoring(this, 'Monitoring', { model: this.model, ...props.monitoring });
    if (props.updater) {
      this.updater = new ModelUpdater(this, 'Updater', { ...props.updater, models: [this.model], registry: this.registry });
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
      });
      annotateSyncWaves(this, [
        { scope: this.registry instanceof ModelRegistry ? this.registry : undefined, wave: -2 },
        { scope: this.monitoring, wave: -1 }, { scope: this.alerting, wave: -1 },
        { scope: this.model, wave: 0 }, { scope: this.updater, wave: 1 },
      ]);
    }
  }
}
