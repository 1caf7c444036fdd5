import { createHash } from 'crypto';
import * as path from 'path';
import * as docker from '@pulumi/docker';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as bcrypt from 'bcryptjs';
import { App } from 'cdk8s';
import { AlertRoutingProps } from '../alerting/alert-routing';
import { Receiver } from '../alerting/receiver';
import { K8S_LABELS, MODEL_SERVER_ENV, MODELPILOT_VERSION, VERSION_LABEL } from '../core/contract/names';
import type { SecretKeySelector } from '../core/contract/secrets';
import { UPDATER_WEBHOOK_SECRET, WEBHOOK_SECRET_KEYS } from '../core/contract/secrets';
import { ImageRef } from '../core/image-ref';
import { ModelDeploymentProps } from '../model/model-deployment';
import { RolloutStrategy } from '../model/rollout-strategy';
import { Severity } from '../monitoring/model-alerts';
import { ModelRegistry, ModelRegistrySource } from '../registry/model-registry';
import { SelfHealingModelStack, SelfHealingModelStackProps } from '../stack';
import { assertValidManifests } from '../validation/validate';
import { apiGroup, isBuiltinGroup, KubeObject, PlannedObject, planApply, replaceContainerImage, synthObjects } from './apply-plan';
import { AlertReceiverConfig, StackConfig, StackSecrets } from './config';

/** Names and keys of the Kubernetes Secrets that {@link ModelEnvironment} creates from Pulumi config secrets. */
export interface SecretRefs {
  /** `kubernetes.io/dockerconfigjson` Secret for pulling from the registry, when it has credentials. */
  readonly registryPullSecret?: { readonly name: string };
  /** Slack incoming-webhook URL, when a Slack receiver is configured (key `url`). */
  readonly slackWebhookUrl?: { readonly name: string; readonly key: string };
  /** HMAC-SHA256 key of the updater's webhooks: Secret `modelpilot-updater-webhook`, key `hmac` (ModelUpdater's default). */
  readonly webhookHmacKey: { readonly name: string; readonly key: string };
  /** Bearer token of the updater's webhooks: Secret `modelpilot-updater-webhook`, key `token` (ModelUpdater's and AlertRouting's default). */
  readonly webhookToken: { readonly name: string; readonly key: string };
}

/** The Secret that ModelUpdater and AlertRouting read the updater's webhook credentials from by default. */
export { UPDATER_WEBHOOK_SECRET };

/** The stack sections other than namespace, model and registry (which {@link ModelEnvironment} fills from config). */
export type ModelEnvironmentSections = Omit<SelfHealingModelStackProps, 'namespace' | 'model' | 'registry'>;

/** Where and how to build the model server image. */
export interface ImageBuildArgs {
  /** Docker build context, relative to the working directory of `pulumi up` (the project root). */
  readonly context: string;
  /**
   * Dockerfile path.
   * @default - `Dockerfile` in the context
   */
  readonly dockerfile?: string;
  /**
   * Target platform, e.g. `linux/amd64`.
   * @default - the Docker engine's platform
   */
  readonly platform?: string;
}

/** Arguments of a {@link ModelEnvironment}. */
export interface ModelEnvironmentArgs {
  /** The validated stack configuration (`readStackConfig()`). */
  readonly config: StackConfig;
  /** The secret config values (`readStackConfig()`). */
  readonly secrets: StackSecrets;
  /** How to build the model server image. */
  readonly build: ImageBuildArgs;
  /**
   * How to build the updater image (agent/Dockerfile from a modelpilot checkout). When given, and neither
   * `modelpilot:updaterImage` nor `modelpilot:imageDigest` is set, it is built and pushed beside the model as
   * `<registry>/<repository's parent>/modelpilot-updater:<modelpilot version>` and the updater runs it by digest.
   * @default - the updater runs `modelpilot:updaterImage`, else the published default image
   */
  readonly updaterBuild?: ImageBuildArgs;
  /**
   * Extra model props (resources, autoscaling, …); name, image, replicas, namespace and strategy come from config.
   * @default - none
   */
  readonly model?: Partial<Omit<ModelDeploymentProps, 'name' | 'image' | 'replicas' | 'namespace' | 'strategy'>>;
  /**
   * The optional sections of the stack (monitoring, alerting, updater, …), given the Secrets this component creates
   * so that they can reference them by name and key.
   * @default - no further sections
   */
  readonly sections?: (refs: SecretRefs) => ModelEnvironmentSections;
}

type KubeResourceClass = new (name: string, args: Record<string, unknown>, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

/** The built-in kinds the stack may emit, mapped to their typed @pulumi/kubernetes classes. */
const BUILTIN_KINDS = {
  'v1/ConfigMap': k8s.core.v1.ConfigMap,
  'v1/Namespace': k8s.core.v1.Namespace,
  'v1/PersistentVolumeClaim': k8s.core.v1.PersistentVolumeClaim,
  'v1/Secret': k8s.core.v1.Secret,
  'v1/Service': k8s.core.v1.Service,
  'v1/ServiceAccount': k8s.core.v1.ServiceAccount,
  'apps/v1/Deployment': k8s.apps.v1.Deployment,
  'apps/v1/StatefulSet': k8s.apps.v1.StatefulSet,
  'batch/v1/Job': k8s.batch.v1.Job,
  'batch/v1/CronJob': k8s.batch.v1.CronJob,
  'policy/v1/PodDisruptionBudget': k8s.policy.v1.PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': k8s.autoscaling.v2.HorizontalPodAutoscaler,
  'rbac.authorization.k8s.io/v1/Role': k8s.rbac.v1.Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': k8s.rbac.v1.RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRole': k8s.rbac.v1.ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': k8s.rbac.v1.ClusterRoleBinding,
  'networking.k8s.io/v1/NetworkPolicy': k8s.networking.v1.NetworkPolicy,
  'networking.k8s.io/v1/Ingress': k8s.networking.v1.Ingress,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': k8s.apiextensions.v1.CustomResourceDefinition,
} as unknown as Record<string, KubeResourceClass>;

/**
 * One environment of a self-healing model: `pulumi up` of this component
 *
 * 1. creates the namespace (optional) and, from Pulumi config secrets, the Kubernetes Secrets the stack references
 *    (registry pull credentials, Slack webhook URL, the updater's webhook HMAC key) — the secret values never enter
 *    the cdk8s manifests, which only name the Secrets;
 * 2. builds the model server image with @pulumi/docker (semver tag, OCI labels through build args) and pushes it;
 * 3. synthesizes the cdk8s {@link SelfHealingModelStack} in process with the pushed image's digest-pinned reference,
 *    and applies each object as its own typed @pulumi/kubernetes resource through one Kubernetes provider bound to
 *    the environment's kubeconfig context and namespace; CRDs before their custom resources, the registry before
 *    the image push and the model.
 *
 * Why one resource per object instead of `yaml/v2.ConfigGroup({ objs })`: the v2 ConfigGroup is a provider-side
 * component, so its children, their inputs and their order are invisible to the program and to
 * `pulumi.runtime.setMocks` tests; per-object resources let the program state the dependencies it needs (registry
 * before model, image before Deployment, CRD before CR), give stable resource names (`<name>-<section>-<kind>-<object>`)
 * and let tests check every input without a cluster.
 */
export class ModelEnvironment extends pulumi.ComponentResource {
  /** `http://<service>.<namespace>.svc.cluster.local:<port>` of the model. */
  public readonly serviceEndpoint: pulumi.Output<string>;
  /** The deployed model version (the image's semver tag). */
  public readonly modelVersion: pulumi.Output<string>;
  /** The digest-pinned image reference the model Deployment runs. */
  public readonly imageRef: pulumi.Output<string>;
  /** The updater's in-cluster `/webhooks/model` URL (`modelpilot:updater`, default on); otherwise undefined. */
  public readonly updaterWebhookUrl: pulumi.Output<string | undefined>;
  /** The Kubernetes provider of this environment. */
  public readonly provider: k8s.Provider;
  /** The image build. */
  /** The image built and pushed by this stack; undefined with `modelpilot:imageDigest` (an image already pushed). */
  public readonly image?: docker.Image;
  /** The updater image, when this program builds it (`updaterBuild`). */
  public readonly updaterImage?: docker.Image;
  /** The objects of the synthesized stack in apply order (plain values: no secrets, image not yet pinned). */
  public readonly plan: readonly PlannedObject[];
  /** The Kubernetes resource of each planned object, by plan key. */
  public readonly objects: Readonly<Record<string, pulumi.CustomResource>>;
  /** The Secrets created from config secrets. */
  public readonly secretRefs: SecretRefs;

  constructor(name: string, args: ModelEnvironmentArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // The type token keeps the component's first name: renaming it would change every child's URN, and `pulumi up`
    // would replace the whole environment.
    super('modelpilot:index:ModelStack', name, {}, opts);
    const { config, secrets } = args;
    const ns = config.namespace;
    const labels = {
      [K8S_LABELS.partOf]: config.model,
      [K8S_LABELS.managedBy]: 'modelpilot',
    };
    checkRegistryConfig(config);

    this.provider = new k8s.Provider(`${name}-provider`, {
      context: config.kubeContext,
      namespace: ns,
    }, { parent: this });
    const child = (deps: pulumi.Resource[] = []): pulumi.CustomResourceOptions => ({ parent: this, provider: this.provider, dependsOn: deps });

    const namespace = config.createNamespace
      ? [new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: ns, labels } }, child())]
      : [];
    const made = configSecrets(config, secrets, (id, secretName, component, stringData, type = 'Opaque') => new k8s.core.v1.Secret(`${name}-${id}`, {
      metadata: { name: secretName, namespace: ns, labels: { ...labels, [K8S_LABELS.component]: component } }, type, stringData,
    }, child(namespace)));
    const secretResources = made.resources;
    this.secretRefs = made.refs;
    const pushHost = config.registry.pushHost ?? config.registry.host;

    // The cdk8s stack, synthesized in process. The model image is its semver-tagged reference here; the digest is
    // only known after the push and is put in below.
    const deployImage = ImageRef.parse(`${config.registry.host}/${config.registry.repository}:${config.version}`, { field: 'modelpilot:version' });
    const registry: ModelRegistrySource = config.registry.inCluster
      ? ModelRegistry.inCluster({
        nodePort: config.registry.nodePort, htpasswdSecret: made.htpasswdSecret, pullSecret: made.refs.registryPullSecret?.name,
      })
      : ModelRegistry.external({ host: config.registry.host, pullSecret: made.refs.registryPullSecret?.name });
    const sections = args.sections ? args.sections(this.secretRefs) : {};
    // The updater image: given, built here (a checkout, images built), or the published default.
    const updaterRepo = (host: string) => {
      const parent = path.posix.dirname(config.registry.repository);
      return `${host}/${parent === '.' ? '' : `${parent}/`}modelpilot-updater:${MODELPILOT_VERSION}`;
    };
    const buildUpdater = config.updater && !config.updaterImage && !config.imageDigest && args.updaterBuild !== undefined;
    const updaterPlaceholder = buildUpdater ? updaterRepo(config.registry.host) : undefined;
    const updaterImage = config.updaterImage ?? updaterPlaceholder;
    const updater = config.updater ? {
      ...(updaterImage ? { image: updaterImage } : {}),
      webhookHmacSecret: made.refs.webhookHmacKey,
      webhookBearerToken: made.refs.webhookToken,
      ...promotionProps(config, secrets, made.names),
      ...sections.updater,
    } : sections.updater;
    const app = new App();
    const chart = new SelfHealingModelStack(app, name, {
      monitoring: config.monitoring ? {} : undefined,
      namespace: ns,
      registry,
      model: {
        ...args.model,
        name: config.model,
        image: deployImage,
        replicas: config.replicas,
        strategy: config.deliveryStrategy === 'recreate' ? RolloutStrategy.recreate() : RolloutStrategy.rollingUpdate(),
      },
      ...sections,
      // After the spread: these merge the program's sections with what config asks for.
      alerting: alertingSection(config.alertReceivers, this.secretRefs, updater !== undefined, sections.alerting),
      updater,
    });
    this.plan = planApply(synthObjects(chart));
    // The same schema checks as `modelpilot synth`: nothing invalid reaches the cluster.
    assertValidManifests(this.plan.map((p) => p.object));

    const objects: Record<string, pulumi.CustomResource> = {};
    const base = [...namespace, ...secretResources];
    const applyObject = (p: PlannedObject, object: KubeObject, extra: pulumi.Resource[] = []) => {
      const deps = [...base, ...p.dependsOn.map((k) => objects[k]), ...extra];
      const ignoreChanges = chart.updater ? updaterOwnedPaths(p.object, placeholder) : [];
      objects[p.key] = kubeResource(`${name}-${p.key}`, object, { ...child(deps), ...(ignoreChanges.length ? { ignoreChanges } : {}) });
      if (ignoreChanges.length) {
        // said on every preview and up, so nobody waits for `pulumi up` to change the running version
        void pulumi.log.info(`the model's image, MODEL_VERSION and version label belong to the updater once it runs (ignoreChanges: ${ignoreChanges.join(', ')}); `
          + 'a new modelpilot:version is pushed to the registry and rolled out by the updater after its health gate, not by this update', objects[p.key]);
      }
    };
    const placeholder = chart.model.image.toString();

    // Registry (and CRDs) first: with an in-cluster registry the push needs it to be up.
    const early = this.plan.filter((p) => p.object.kind === 'CustomResourceDefinition' || p.section === 'registry');
    early.forEach((p) => applyObject(p, p.object));
    const registryObjects = () => early.filter((p) => p.section === 'registry').map((p) => objects[p.key]);

    if (config.imageDigest) {
      // Already pushed (by CI, or where no Docker engine runs): deployed by the digest the config names.
      this.imageRef = pulumi.output(deployImage.withDigest(config.imageDigest).toString());
    } else {
      const build = modelImageBuild(config, args.build);
      const pushRef = ImageRef.parse(`${pushHost}/${config.registry.repository}:${config.version}`, { field: 'modelpilot:version' });
      this.image = pushImage(`${name}-image`, pushRef.toString(), build, config, secrets, { parent: this, dependsOn: registryObjects() });
      this.imageRef = this.image.repoDigest.apply((repoDigest: string | undefined) => pinnedReference(deployImage, repoDigest));
    }
    if (buildUpdater && updaterPlaceholder) {
      this.updaterImage = pushImage(`${name}-updater-image`, updaterRepo(pushHost), {
        context: args.updaterBuild!.context, dockerfile: args.updaterBuild!.dockerfile, platform: args.updaterBuild!.platform,
        args: { VERSION: MODELPILOT_VERSION },
      }, config, secrets, { parent: this, dependsOn: registryObjects() });
    }
    const updaterRef = this.updaterImage && updaterPlaceholder
      ? this.updaterImage.repoDigest.apply((d: string | undefined) => pinnedReference(ImageRef.parse(updaterPlaceholder), d))
      : undefined;
    for (const p of this.plan) {
      if (objects[p.key]) continue;
      let pinned = replaceContainerImage(p.object, placeholder, this.imageRef);
      let built: pulumi.Resource | undefined = pinned === p.object ? undefined : this.image;
      if (pinned === p.object && updaterRef && updaterPlaceholder) {
        pinned = replaceContainerImage(p.object, updaterPlaceholder, updaterRef);
        built = pinned === p.object ? undefined : this.updaterImage;
      }
      applyObject(p, pinned, built ? [built] : []);
    }
    this.objects = objects;

    this.serviceEndpoint = serviceEndpoint(this.plan, objects, chart);
    this.modelVersion = pulumi.output(config.version);
    this.updaterWebhookUrl = updaterWebhookUrl(this.plan, objects, chart);

    this.registerOutputs({
      serviceEndpoint: this.serviceEndpoint,
      modelVersion: this.modelVersion,
      imageRef: this.imageRef,
      updaterWebhookUrl: this.updaterWebhookUrl,
    });
  }
}

/**
 * The alerting section from `modelpilot:alertReceivers`: each receiver gets a route for its severity and above
 * (`warning` also takes `critical`), continuing so that several receivers can get one alert; the first receiver is
 * also the default. The built-in route to the updater is kept only when the stack has an updater section to receive it.
 */
export function alertingSection(
  receivers: readonly AlertReceiverConfig[], refs: SecretRefs, hasUpdater: boolean, programAlerting: AlertRoutingProps | undefined,
): AlertRoutingProps | undefined {
  if (receivers.length === 0) return programAlerting;
  if (programAlerting) {
    throw new pulumi.RunError("'modelpilot:alertReceivers' and the program's own 'alerting' section are both set; keep one of them");
  }
  const levels = [Severity.CRITICAL, Severity.WARNING, Severity.INFO];
  const built = receivers.map((r, i) => {
    const receiverName = `${r.type}-${i}`;
    const receiver = r.type === 'slack'
      ? Receiver.slack({ name: receiverName, channel: r.channel, apiUrl: refs.slackWebhookUrl as SecretKeySelector })
      : Receiver.webhook({ name: receiverName, url: r.url });
    return { receiver, severity: levels.slice(0, levels.indexOf(r.severity as Severity) + 1), continue: true };
  });
  return {
    defaultReceiver: built[0].receiver,
    routes: built,
    // With an updater, the stack points the route at it (its URL and token Secret); without one there is nobody to heal.
    updater: hasUpdater ? undefined : false,
  };
}

/** Creates the typed @pulumi/kubernetes resource for one object (a CustomResource for CRD-defined kinds). */
function kubeResource(name: string, object: KubeObject, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
  const gvk = `${object.apiVersion}/${object.kind}`;
  const cls = BUILTIN_KINDS[gvk];
  if (cls) return new cls(name, { ...object }, opts);
  if (!isBuiltinGroup(apiGroup(object.apiVersion))) {
    return new k8s.apiextensions.CustomResource(name, { ...object } as k8s.apiextensions.CustomResourceArgs, opts);
  }
  throw new pulumi.RunError(`kind '${gvk}' of object '${object.metadata.name}' has no resource class in ModelEnvironment; add it to BUILTIN_KINDS in lib/pulumi/model-environment.ts`);
}

/**
 * The fields of a model Deployment the updater owns once it runs: the model container's image, its `MODEL_VERSION`
 * env value and the pod template's `app.kubernetes.io/version` label unless the selector uses it (the updater patches
 * them, as field manager `modelpilot`: agent/targets/kubernetes/index.ts templatePatch). Pulumi sets them when it
 * creates the Deployment and leaves them to the updater after that (`ignoreChanges`), so a later `pulumi up` or
 * `pulumi up --refresh` neither puts the old version back nor fails on a server-side-apply conflict; a new
 * `modelpilot:version` reaches the cluster through the registry and the updater's health gate.
 */
export function updaterOwnedPaths(object: KubeObject, modelImage: string): string[] {
  if (object.kind !== 'Deployment') return [];
  const spec = object.spec as {
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: Array<{ image?: string; env?: Array<{ name: string }> }> } };
  } | undefined;
  const paths: string[] = [];
  (spec?.template?.spec?.containers ?? []).forEach((c, i) => {
    if (c.image !== modelImage) return;
    paths.push(`spec.template.spec.containers[${i}].image`);
    const env = (c.env ?? []).findIndex((e) => e.name === MODEL_SERVER_ENV.version);
    if (env >= 0) paths.push(`spec.template.spec.containers[${i}].env[${env}].value`);
  });
  if (paths.length > 0 && VERSION_LABEL in (spec?.template?.metadata?.labels ?? {}) && !(VERSION_LABEL in (spec?.selector?.matchLabels ?? {}))) {
    paths.push(`spec.template.metadata.labels["${VERSION_LABEL}"]`);
  }
  return paths;
}

/** `deployImage` pinned to the digest that the push returned (`repo@sha256:…`). */
export function pinnedReference(deployImage: ImageRef, repoDigest: string | undefined): string {
  const digest = repoDigest === undefined ? undefined : ImageRef.tryParse(repoDigest)?.digest;
  if (digest === undefined) {
    throw new Error(`the image push returned '${repoDigest ?? ''}' instead of a 'repository@sha256:<digest>' reference; `
      + `check that the push to '${deployImage.name}' succeeded (the model is only ever deployed by digest)`);
  }
  return deployImage.withDigest(digest).toString();
}

/** `model-registry` of `model-registry.ml.svc:5000`. */
function hostName(host: string): string {
  return host.split('.')[0].split(':')[0];
}

/** The model image's build: the reference Dockerfile (examples/model-server) turns these args into its OCI labels
 * (org.opencontainers.image.version, .source) and the MODEL_NAME / MODEL_VERSION env defaults. */
function modelImageBuild(config: StackConfig, build: ImageBuildArgs): docker.types.input.DockerBuild {
  return {
    context: build.context,
    dockerfile: build.dockerfile,
    platform: build.platform,
    args: { MODEL_NAME: config.model, VERSION: config.version, SOURCE: config.gitRepository ?? '' },
  };
}

/** `http://<service>.<namespace>.svc.cluster.local:<port>` of the model, from its Service resource. */
function serviceEndpoint(plan: readonly PlannedObject[], objects: Readonly<Record<string, pulumi.CustomResource>>,
  chart: SelfHealingModelStack): pulumi.Output<string> {
  const modelService = plan.find((p) => p.section === 'model' && p.object.kind === 'Service' && p.object.metadata.name === chart.model.serviceName);
  if (!modelService) {
    throw new Error(`the synthesized stack has no Service '${chart.model.serviceName}' in its model section; the model cannot be reached`);
  }
  const svc = objects[modelService.key] as k8s.core.v1.Service;
  return pulumi.interpolate`http://${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local:${chart.model.servicePort}`;
}

/** The updater's `/webhooks/model` URL, derived from its Service resource (known only once the Service exists). */
function updaterWebhookUrl(plan: readonly PlannedObject[], objects: Readonly<Record<string, pulumi.CustomResource>>,
  chart: SelfHealingModelStack): pulumi.Output<string | undefined> {
  const url = chart.updater?.webhookUrl('model');
  const service = chart.updater && plan.find((p) => p.section === 'updater' && p.object.kind === 'Service' && p.object.metadata.name === chart.updater?.name);
  return service && url ? (objects[service.key] as k8s.core.v1.Service).metadata.apply(() => url) : pulumi.output(undefined);
}

/** Makes one Secret of the component (`<name>-<id>`, labelled with its component) in the environment's namespace. */
type MakeSecret = (id: string, secretName: string, component: string, stringData: pulumi.Input<Record<string, pulumi.Input<string>>>,
  type?: string) => k8s.core.v1.Secret;

/** Names of the Secrets {@link configSecrets} may create that the updater's props point at. */
interface PromotionSecretNames {
  readonly promotionKeys: string;
  readonly attestKey: string;
  readonly mlflowToken: string;
}

/**
 * The Kubernetes Secrets made from Pulumi config secrets, in this order: registry htpasswd and pull credentials,
 * Slack URL, the updater's webhook credentials, the promotion keys, the attest key, the MLflow token. `stringData`
 * is a secret Output: the engine encrypts it in state and masks it.
 */
function configSecrets(config: StackConfig, secrets: StackSecrets, make: MakeSecret): {
  resources: k8s.core.v1.Secret[]; refs: SecretRefs; htpasswdSecret?: string; names: PromotionSecretNames;
} {
  const resources: k8s.core.v1.Secret[] = [];
  let registryPullSecret: SecretRefs['registryPullSecret'];
  let htpasswdSecret: string | undefined;
  if (config.registry.username !== undefined && secrets.registryPassword) {
    // in the cluster: the names ModelRegistry.inCluster() expects, and the htpasswd file its registry checks
    const regName = config.registry.inCluster ? 'model-registry' : hostName(config.registry.host);
    const secretName = config.registry.inCluster ? `${regName}-pull` : `${config.model}-registry-credentials`;
    const username = config.registry.username;
    const dockerConfig = secrets.registryPassword.apply((password) => JSON.stringify({
      auths: { [config.registry.host]: { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') } },
    }));
    if (config.registry.inCluster) {
      htpasswdSecret = `${regName}-htpasswd`;
      resources.push(make('registry-htpasswd', htpasswdSecret, 'model-registry',
        { htpasswd: pulumi.secret(secrets.registryPassword.apply((password) => htpasswdLine(username, password))) }));
    }
    resources.push(make('registry-credentials', secretName, 'model-registry', { '.dockerconfigjson': pulumi.secret(dockerConfig) }, 'kubernetes.io/dockerconfigjson'));
    registryPullSecret = { name: secretName };
  }
  let slackWebhookUrl: SecretRefs['slackWebhookUrl'];
  if (secrets.slackWebhookUrl) {
    slackWebhookUrl = { name: `${config.model}-alerting-slack`, key: 'url' };
    resources.push(make('alerting-slack', slackWebhookUrl.name, 'alerting', { [slackWebhookUrl.key]: pulumi.secret(secrets.slackWebhookUrl) }));
  }
  const webhookHmacKey = { name: UPDATER_WEBHOOK_SECRET, key: WEBHOOK_SECRET_KEYS.hmac };
  const webhookToken = { name: UPDATER_WEBHOOK_SECRET, key: WEBHOOK_SECRET_KEYS.bearerToken };
  resources.push(make('updater-webhook', UPDATER_WEBHOOK_SECRET, 'updater', pulumi.secret(pulumi.all([secrets.webhookHmacKey, secrets.webhookToken])
    .apply(([hmac, token]) => ({ [webhookHmacKey.key]: hmac, [webhookToken.key]: token })))));

  // modelpilot:promotion: the public keys in one Secret (`<model>-promotion-keys`), the attest private key (a config
  // secret) in another; the MLflow token in a third
  const p = config.promotion;
  const names: PromotionSecretNames = {
    promotionKeys: `${config.model}-promotion-keys`, attestKey: `${config.model}-attest-key`, mlflowToken: `${config.model}-mlflow-token`,
  };
  const keyData: Record<string, string> = {
    ...(p.signaturePublicKey ? { 'cosign.pub': p.signaturePublicKey } : {}),
    ...Object.fromEntries(Object.entries(p.requireVerifiedIn).map(([env, pem]) => [`${env}.pub`, pem])),
  };
  if (config.updater && Object.keys(keyData).length > 0) resources.push(make('promotion-keys', names.promotionKeys, 'updater', keyData));
  if (config.updater && p.attestAs && secrets.attestPrivateKey) {
    resources.push(make('attest-key', names.attestKey, 'updater', { 'attest.key': pulumi.secret(secrets.attestPrivateKey) }));
  }
  if (config.updater && config.mlflow && secrets.mlflowToken) {
    resources.push(make('mlflow-token', names.mlflowToken, 'updater', { token: pulumi.secret(secrets.mlflowToken) }));
  }
  return { resources, refs: { registryPullSecret, slackWebhookUrl, webhookHmacKey, webhookToken }, htpasswdSecret, names };
}

/** modelpilot:promotion and modelpilot:mlflow → the updater's minImageAge, requireSignature, requireVerifiedIn, attest and mlflow. */
function promotionProps(config: StackConfig, secrets: StackSecrets, names: PromotionSecretNames) {
  const p = config.promotion;
  const { url: mlflowUrl, tagPrefix, ...follow } = config.mlflow ?? { url: '' };
  return {
    ...(config.mlflow ? { mlflow: {
      url: mlflowUrl, ...(tagPrefix ? { tagPrefix } : {}), ...(secrets.mlflowToken ? { token: { name: names.mlflowToken, key: 'token' } } : {}),
      models: { [config.model]: follow },
    } } : {}),
    ...(p.minImageAge ? { minImageAge: p.minImageAge } : {}),
    ...(p.signaturePublicKey ? { requireSignature: { publicKey: { name: names.promotionKeys, key: 'cosign.pub' } } } : {}),
    ...(Object.keys(p.requireVerifiedIn).length
      ? { requireVerifiedIn: Object.keys(p.requireVerifiedIn).map((environment) => ({ environment, publicKey: { name: names.promotionKeys, key: `${environment}.pub` } })) }
      : {}),
    ...(p.attestAs ? { attest: { environment: p.attestAs, privateKey: { name: names.attestKey, key: 'attest.key' } } } : {}),
  };
}

/** What the registry config must say before anything is created: credentials and the NodePort of an in-cluster registry, and its host. */
function checkRegistryConfig(config: StackConfig): void {
  if (!config.registry.inCluster) return;
  if (config.registry.username === undefined) {
    throw new pulumi.RunError('\'modelpilot:registry.username\' is not set but the in-cluster registry requires credentials for pushes and pulls; '
      + 'set it with `pulumi config set --path modelpilot:registry.username ci` and the password with `pulumi config set --secret modelpilot:registryPassword <password>`');
  }
  if (config.registry.nodePort === undefined) {
    throw new pulumi.RunError("'modelpilot:registry.nodePort' is not set but the nodes pull the model from the in-cluster registry through a NodePort; "
      + 'set it with `pulumi config set --path modelpilot:registry.nodePort 30500` and the host with `pulumi config set --path modelpilot:registry.host localhost:30500` '
      + '(docs/registry.md: containerd on each node needs a hosts.toml for localhost:30500)');
  }
  const expected = ModelRegistry.hostOf({ namespace: config.namespace, nodePort: config.registry.nodePort });
  if (expected !== config.registry.host) {
    throw new pulumi.RunError(`'modelpilot:registry.host' value '${config.registry.host}' is not the in-cluster registry's host '${expected}'; `
      + `set it with \`pulumi config set --path modelpilot:registry.host ${expected}\``);
  }
}

/** Builds and pushes an image to the stack's push host, with the registry's credentials when it has a user. */
function pushImage(name: string, imageName: string, build: docker.types.input.DockerBuild, config: StackConfig, secrets: StackSecrets,
  opts: pulumi.CustomResourceOptions): docker.Image {
  const pushHost = config.registry.pushHost ?? config.registry.host;
  return new docker.Image(name, {
    imageName,
    build,
    registry: config.registry.username !== undefined
      ? { server: pushHost, username: config.registry.username, password: secrets.registryPassword }
      : undefined,
  }, opts);
}

/**
 * The earlier name of {@link ModelEnvironment}.
 * @deprecated use `ModelEnvironment` ("stack" is Pulumi's word for an environment's state, and a cdk8s chart here).
 */
export const ModelStack = ModelEnvironment;
/** @deprecated use `ModelEnvironment`. */
export type ModelStack = ModelEnvironment;
/** @deprecated use `ModelEnvironmentArgs`. */
export type ModelStackArgs = ModelEnvironmentArgs;

/**
 * @internal The htpasswd line of the in-cluster registry: bcrypt (what distribution accepts) with a salt derived from
 * the user and password, so the same password gives the same line and a second `pulumi up` changes nothing.
 */
export function htpasswdLine(username: string, password: string): string {
  const seed = createHash('sha256').update(`modelpilot-registry-htpasswd\0${username}\0${password}`).digest();
  return `${username}:${bcrypt.hashSync(password, `$2b$10$${bcrypt.encodeBase64(seed.subarray(0, 16), 16)}`)}\n`;
}
