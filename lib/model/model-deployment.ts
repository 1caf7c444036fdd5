import { ApiObject, Chart, Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { checkDnsName, checkProps } from '../core/checks';
import { K8S_LABELS, MODEL_SERVER_ENV } from '../core/contract/names';
import { Duration } from '../core/duration';
import { ImageRef } from '../core/image-ref';
import { recommendedLabels, versionLabel } from '../core/labels';
import { QualityGate } from '../core/quality';
import { Slo } from '../core/slo';
import { UpdatePolicy } from '../core/update-policy';
import { ingressPolicySpec, UpdaterPeer } from '../network/peers';
import { addWarning } from '../validation/warnings';
import { Autoscaling } from './autoscaling';
import { DisruptionBudget } from './disruption-budget';
import { ModelCache } from './model-cache';
import { DrainHook, ProbeOptions } from './probes';
import { checkPath, checkPort, httpProbe, renderEnv, renderResources, renderVolumes, resolveDrain, resolveProbes } from './render';
import { ModelEnvVar, ModelResources } from './resources';
import { RolloutStrategy } from './rollout-strategy';

const k8s = kplus.k8s;


/** Properties of a {@link ModelDeployment}. */
export interface ModelDeploymentProps {
  /** The model's name: the Deployment and Service name, the `model` label of its metrics. A DNS label (≤ 63 chars). */
  readonly name: string;
  /**
   * The model-server image. Its tag must be a semantic version or the reference must carry a digest.
   * @example 'registry.example.com/models/recsys:1.4.0'
   */
  readonly image: string | ImageRef;
  /**
   * Namespace of every object.
   * @default - the chart's namespace, else 'default'
   */
  readonly namespace?: string;
  /**
   * `app.kubernetes.io/instance`: tells apart two installations of the same model.
   * @default - the model name
   */
  readonly instance?: string;
  /**
   * `app.kubernetes.io/part-of`: the larger application the model belongs to.
   * @default - the model name
   */
  readonly partOf?: string;
  /**
   * Container port the server listens on (also passed as env `PORT`).
   * @default 8080
   */
  readonly port?: number;
  /**
   * Port of the Service.
   * @default 80
   */
  readonly servicePort?: number;
  /**
   * Path of the Prometheus metrics on the container port.
   * @default '/metrics'
   */
  readonly metricsPath?: string;
  /**
   * Replicas when no autoscaling is set.
   * @default 2
   */
  readonly replicas?: number;
  /**
   * Longest time the server may take to load the model before it is ready. The startup probe allows this long, so a
   * slow-loading model is not killed by its liveness probe.
   * @default Duration.minutes(2)
   */
  readonly modelLoadTimeout?: Duration;
  /**
   * Liveness probe settings.
   * @default - GET /health/live every 10s, 3 failures
   */
  readonly liveness?: ProbeOptions;
  /**
   * Readiness probe settings.
   * @default - GET /health/ready every 5s, 3 failures
   */
  readonly readiness?: ProbeOptions;
  /**
   * Startup probe path, period and timeout (its failure threshold is derived from `modelLoadTimeout`).
   * @default - GET /health/ready every 10s
   */
  readonly startup?: ProbeOptions;
  /**
   * How long the preStop hook waits before the server gets SIGTERM, so that endpoints and load balancers stop
   * sending traffic first.
   * @default Duration.seconds(10)
   */
  readonly drain?: Duration;
  /**
   * How the preStop hook waits for the drain.
   * @default DrainHook.sleepAction() (the kubelet's sleep action, Kubernetes 1.30+)
   */
  readonly drainHook?: DrainHook;
  /**
   * Time from the start of termination to SIGKILL; must be longer than `drain`.
   * @default - drain + 30s
   */
  readonly terminationGracePeriod?: Duration;
  /**
   * How a new version replaces the old one.
   * @default RolloutStrategy.rollingUpdate() (maxSurge 1, maxUnavailable 0)
   */
  readonly strategy?: RolloutStrategy;
  /**
   * Old ReplicaSets kept for `kubectl rollout undo`.
   * @default 5
   */
  readonly revisionHistoryLimit?: number;
  /**
   * The PodDisruptionBudget.
   * @default DisruptionBudget.maxUnavailable(1)
   */
  readonly disruptionBudget?: DisruptionBudget;
  /**
   * A HorizontalPodAutoscaler or a KEDA ScaledObject; when set, the Deployment leaves `replicas` to it.
   * @default - no autoscaling, `replicas` pods
   */
  readonly autoscaling?: Autoscaling;
  /**
   * An object that runs the pods from this Deployment's template in its place — an Argo Rollouts `Rollout` with a
   * `workloadRef` (set by `SelfHealingModelStack`'s `delivery` section). The autoscaler targets it, and the
   * Deployment's replica count is left to it (the Rollout scales the Deployment down).
   * @default - the Deployment runs its pods
   */
  readonly deliveredBy?: { readonly apiVersion: string; readonly kind: string; readonly name: string };
  /**
   * CPU, memory and GPUs.
   * @default - cpu 500m/2, memory 1Gi/2Gi, no GPU
   */
  readonly resources?: ModelResources;
  /**
   * Node labels the pods must run on, e.g. `{ 'nvidia.com/gpu.present': 'true' }`.
   * @default - none
   */
  readonly nodeSelector?: Record<string, string>;
  /**
   * Taints the pods tolerate.
   * @default - none (with GPUs: the `nvidia.com/gpu` NoSchedule taint)
   */
  readonly tolerations?: kplus.k8s.Toleration[];
  /**
   * Who may call the model (a NetworkPolicy on its pods, on the container port), beside the pods of its own
   * namespace and Prometheus: e.g. the ingress controller's `UpdaterPeer.namespace('ingress-nginx')`.
   * @default - only pods in the model's namespace and Prometheus
   */
  readonly ingressFrom?: UpdaterPeer[];
  /**
   * Prometheus' pods, which scrape `/metrics` through the model's NetworkPolicy.
   * @default UpdaterPeer.pods({ 'app.kubernetes.io/name': 'prometheus' }, 'monitoring')
   */
  readonly prometheusPeer?: UpdaterPeer;
  /**
   * Render the NetworkPolicy on the model's pods (`ingressFrom`). Turn it off only where another policy owns them.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * Names of Secrets used to pull the image.
   * @default - none
   */
  readonly imagePullSecrets?: string[];
  /**
   * Extra environment variables (`PORT`, `MODEL_NAME`, `MODEL_VERSION` are set for you).
   * @default - none
   */
  readonly env?: ModelEnvVar[];
  /**
   * A writable volume for downloaded model weights.
   * @default - none
   */
  readonly modelCache?: ModelCache;
  /**
   * UID the server runs as (never 0).
   * @default 65532
   */
  readonly runAsUser?: number;
  /**
   * Mount the root filesystem read-only (a writable emptyDir is mounted at /tmp either way).
   * @default true
   */
  readonly readOnlyRootFilesystem?: boolean;
  /**
   * The model's service-level objective, shared by alerts, delivery analysis and the updater's health gate.
   * @default Slo.DEFAULT
   */
  readonly slo?: Slo;
  /**
   * The quality gate: a golden set replayed against each new version before it takes users' traffic (the single-host
   * bundle's updater; lib/core/quality.ts). Catches a version that answers 200 with wrong predictions.
   * @default - none
   */
  readonly quality?: QualityGate;
  /**
   * Which new versions the updater may move the model to.
   * @default UpdatePolicy.semver('minor')
   */
  readonly updatePolicy?: UpdatePolicy;
}

/**
 * One served model: a Deployment and a Service, with probes, a drain on shutdown, a PodDisruptionBudget, an
 * optional HorizontalPodAutoscaler, and secure defaults (non-root, read-only root filesystem, no privilege
 * escalation, seccomp RuntimeDefault, no service-account token).
 */
export class ModelDeployment extends Construct {
  /** The model's name (also the `model` label of its metrics). */
  public readonly modelName: string;
  /** Namespace of every object. */
  public readonly namespace: string;
  /** The image that should run. */
  public readonly image: ImageRef;
  /** The version label: the image tag, or the digest's first 12 hex characters. */
  public readonly version: string;
  /** Every recommended label, version included; set on all objects. */
  public readonly labels: Readonly<Record<string, string>>;
  /** The stable subset of labels that selects the model's pods (no version, so it survives updates). */
  public readonly selectorLabels: Readonly<Record<string, string>>;
  /** Name of the Deployment. */
  public readonly deploymentName: string;
  /** Name of the Service. */
  public readonly serviceName: string;
  /** Name of the model container. */
  public readonly containerName = 'model';
  /** Container port number. */
  public readonly port: number;
  /** Service port number. */
  public readonly servicePort: number;
  /** Name of the port that serves traffic (and the probes), on both the container and the Service. */
  public readonly servingPortName = 'http';
  /** Name of the port that serves metrics: `http`, or `metrics` for a server with its own metrics port (Triton). */
  public readonly metricsPortName: string;
  /** Port number that serves metrics (the container port, or the server profile's metrics port). */
  public readonly metricsPort: number;
  /** HTTP path of the metrics. */
  public readonly metricsPath: string;
  /** The SLO. */
  public readonly slo: Slo;
  /** The quality gate, when the model has one. */
  public readonly quality?: QualityGate;
  /** The update policy. */
  public readonly updatePolicy: UpdatePolicy;
  /** Startup budget in seconds (period × failure threshold ≥ modelLoadTimeout). */
  public readonly startupBudgetSeconds: number;
  /** The Deployment (an L1 object: patch or label it through `metadata` / `addJsonPatch`). */
  public readonly deployment: ApiObject;
  /** The Service. */
  public readonly service: ApiObject;
  /** The PodDisruptionBudget. */
  public readonly podDisruptionBudget: ApiObject;
  /** The HorizontalPodAutoscaler or KEDA ScaledObject, when autoscaling is set. */
  public readonly autoscaler?: ApiObject;

  private readonly podAnnotations: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: ModelDeploymentProps) {
    super(scope, id);
    checkProps('ModelDeployment', props, "{ name: 'recsys', image: 'registry.example.com/models/recsys:1.4.0' }");
    checkDnsName('name', props.name);
    this.modelName = props.name;
    this.namespace = props.namespace ?? Chart.of(this).namespace ?? 'default';
    checkDnsName('namespace', this.namespace);
    this.image = typeof props.image === 'string' ? ImageRef.parse(props.image) : props.image;
    this.version = versionLabel(this.image);
    const instance = props.instance ?? props.name;
    checkDnsName('instance', instance);
    const partOf = props.partOf ?? props.name;
    checkDnsName('partOf', partOf);

    this.slo = props.slo ?? Slo.DEFAULT;
    const server = this.slo.server;
    this.port = checkPort('port', props.port ?? server.port);
    this.servicePort = checkPort('servicePort', props.servicePort ?? 80, 80);
    this.metricsPort = server.metricsPort ?? this.port;
    if (server.metricsPort === this.port) {
      throw new Error(`'port' value ${this.port} is the '${server.name}' server's metrics port; serve on another port, e.g. ${server.port}`);
    }
    this.metricsPortName = server.metricsPort ? 'metrics' : this.servingPortName;
    this.metricsPath = checkPath('metricsPath', props.metricsPath ?? server.metricsPath, '/metrics');
    this.quality = props.quality;
    this.updatePolicy = props.updatePolicy ?? UpdatePolicy.semver('minor');
    this.deploymentName = props.name;
    this.serviceName = props.name;

    this.selectorLabels = {
      [K8S_LABELS.name]: props.name,
      [K8S_LABELS.instance]: instance,
    };
    this.labels = recommendedLabels(this.selectorLabels, { version: this.version, component: 'model-server', partOf });

    const { replicas, revisionHistoryLimit } = checkReplicas(props);
    // Probes and the startup budget; drain and grace period.
    const probes = resolveProbes(props, server);
    this.startupBudgetSeconds = probes.startupBudgetSeconds;
    const { drainS, graceS } = resolveDrain(props.drain, props.terminationGracePeriod);
    const budget = props.disruptionBudget ?? DisruptionBudget.maxUnavailable(1);
    checkDisruptionBudget(this, budget, props.autoscaling?.minReplicas ?? replicas);
    const pod = checkPodSettings(this, props);

    const meta = (name: string) => ({ name, namespace: this.namespace, labels: { ...this.labels } });
    const cache = renderVolumes(props.modelCache);
    const container = this.renderContainer(props, probes, drainS, cache.mounts);
    this.deployment = this.addDeployment(props, { replicas, revisionHistoryLimit, graceS, pod, container, volumes: cache.volumes }, meta);

    this.service = new ApiObject(this, 'Service', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(this.serviceName),
      spec: {
        type: 'ClusterIP',
        selector: { ...this.selectorLabels },
        ports: [
          { name: this.servingPortName, port: this.servicePort, targetPort: this.servingPortName, protocol: 'TCP' },
          ...(server.metricsPort ? [{ name: this.metricsPortName, port: this.metricsPort, targetPort: this.metricsPortName, protocol: 'TCP' }] : []),
        ],
      },
    });

    this.podDisruptionBudget = new k8s.KubePodDisruptionBudget(this, 'DisruptionBudget', {
      metadata: meta(this.deploymentName),
      spec: {
        selector: { matchLabels: { ...this.selectorLabels } },
        [budget.field]: typeof budget.value === 'number' ? k8s.IntOrString.fromNumber(budget.value) : k8s.IntOrString.fromString(budget.value),
      },
    });

    if (props.networkPolicy !== false) {
      // Ingress only from the model's own namespace, Prometheus and what is declared; the port is the container's.
      const from = [
        { podSelector: {} },
        (props.prometheusPeer ?? UpdaterPeer.pods({ [K8S_LABELS.name]: 'prometheus' }, 'monitoring')).peer,
        ...(props.ingressFrom ?? []).map((p) => p.peer),
      ];
      new ApiObject(this, 'NetworkPolicy', {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: meta(this.deploymentName),
        spec: ingressPolicySpec(this.selectorLabels, from, this.metricsPort === this.port ? this.port : [this.port, this.metricsPort]),
      });
    }
    if (props.autoscaling) this.autoscaler = this.addAutoscaler(props.autoscaling, props.deliveredBy, meta(this.deploymentName));
  }

  /** The Deployment: replicas unless autoscaled or delivered by a Rollout, its strategy, the locked-down pod with the model container. */
  private addDeployment(props: ModelDeploymentProps, d: {
    replicas: number; revisionHistoryLimit: number; graceS: number; pod: ReturnType<typeof checkPodSettings>; container: Record<string, unknown>;
    volumes: ReturnType<typeof renderVolumes>['volumes'];
  }, meta: (name: string) => Record<string, unknown>): ApiObject {
    const { replicas, revisionHistoryLimit, graceS, pod, container, volumes } = d;
    return new ApiObject(this, 'Resource', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(this.deploymentName),
      spec: {
        replicas: props.autoscaling || props.deliveredBy ? undefined : replicas,
        revisionHistoryLimit,
        selector: { matchLabels: { ...this.selectorLabels } },
        strategy: renderStrategy(props.strategy ?? RolloutStrategy.rollingUpdate()),
        template: {
          metadata: {
            labels: { ...this.labels },
            annotations: Lazy.any({ produce: () => (Object.keys(this.podAnnotations).length ? { ...this.podAnnotations } : undefined) }),
          },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: graceS,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: pod.runAsUser,
              runAsGroup: pod.runAsUser,
              fsGroup: pod.runAsUser,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            nodeSelector: props.nodeSelector && Object.keys(props.nodeSelector).length ? { ...props.nodeSelector } : undefined,
            tolerations: pod.tolerations,
            imagePullSecrets: props.imagePullSecrets?.length ? props.imagePullSecrets.map((name) => ({ name })) : undefined,
            containers: [container],
            volumes,
          },
        },
      },
    });
  }

  /** The model container: image, port, env, resources, probes, drain hook, locked-down security context, cache mounts. */
  private renderContainer(props: ModelDeploymentProps, probes: ReturnType<typeof resolveProbes>, drainS: number,
    volumeMounts: ReturnType<typeof renderVolumes>['mounts']): Record<string, unknown> {
    const { liveness, readiness, startup, startupFailures } = probes;
    return {
      name: this.containerName,
      image: this.image.toString(),
      imagePullPolicy: 'IfNotPresent',
      ports: [
        { name: this.servingPortName, containerPort: this.port, protocol: 'TCP' },
        ...(this.metricsPort !== this.port ? [{ name: this.metricsPortName, containerPort: this.metricsPort, protocol: 'TCP' }] : []),
      ],
      env: renderEnv(props.env ?? [], [
        { name: MODEL_SERVER_ENV.port, value: String(this.port) },
        { name: MODEL_SERVER_ENV.name, value: this.modelName },
        { name: MODEL_SERVER_ENV.version, value: this.version },
      ]),
      resources: renderResources(props.resources ?? {}),
      startupProbe: httpProbe(startup, this.servingPortName, startupFailures),
      livenessProbe: httpProbe(liveness, this.servingPortName),
      readinessProbe: httpProbe(readiness, this.servingPortName),
      // No drain, no hook: the server gets SIGTERM at once.
      lifecycle: drainS > 0 ? { preStop: (props.drainHook ?? DrainHook.sleepAction())._render(drainS, this.servingPortName) } : undefined,
      securityContext: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: props.readOnlyRootFilesystem ?? true,
        runAsNonRoot: true,
        privileged: false,
        capabilities: { drop: ['ALL'] },
      },
      volumeMounts,
    };
  }

  /** The HorizontalPodAutoscaler, or with `keda` a KEDA ScaledObject on the request rate (which makes its own HPA). */
  private addAutoscaler(autoscaling: NonNullable<ModelDeploymentProps['autoscaling']>, deliveredBy: ModelDeploymentProps['deliveredBy'],
    metadata: Record<string, unknown>): ApiObject {
    const scaleTarget = deliveredBy ? { ...deliveredBy } : { apiVersion: 'apps/v1', kind: 'Deployment', name: this.deploymentName };
    const keda = autoscaling.keda;
    if (!keda) {
      return new ApiObject(this, 'Autoscaler', {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata,
        spec: {
          scaleTargetRef: scaleTarget, minReplicas: autoscaling.minReplicas, maxReplicas: autoscaling.maxReplicas, metrics: [autoscaling.metricSpec],
        },
      });
    }
    // KEDA's admission webhook (verifyName): the ScaledObject name is a label value and its HPA is 'keda-hpa-<name>',
    // both at most 63 characters
    if (this.deploymentName.length > 63 - 'keda-hpa-'.length) {
      throw new Error(`'model.name' value '${this.deploymentName}' is ${this.deploymentName.length} characters; with Autoscaling.keda() KEDA names its HPA `
        + `'keda-hpa-${this.deploymentName}', longer than the 63 characters a label value may have, and refuses the ScaledObject; `
        + `give a name of at most ${63 - 'keda-hpa-'.length} characters`);
    }
    const query = keda.metric.promql ?? this.slo.metricModelRequestRate(this.modelName, '2m');
    const scaled = new ApiObject(this, 'ScaledObject', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata,
      spec: {
        scaleTargetRef: scaleTarget,
        pollingInterval: keda.pollingIntervalSeconds,
        cooldownPeriod: keda.cooldownPeriodSeconds,
        ...(keda.scaleToZero ? { idleReplicaCount: 0 } : {}),
        minReplicaCount: autoscaling.minReplicas,
        maxReplicaCount: autoscaling.maxReplicas,
        triggers: [{
          type: 'prometheus',
          metadata: {
            serverAddress: keda.prometheusUrl,
            query,
            threshold: String(keda.metric.perReplica),
            ...(keda.scaleToZero ? { activationThreshold: String(keda.activationThreshold) } : {}),
          },
        }],
      },
    });
    // KEDA makes its own HPA for the target: any other HPA on it would fight over the replica count.
    this.node.addValidation({ validate: () => hpaConflicts(this, scaleTarget) });
    return scaled;
  }

  /** Adds an annotation to the pod template (for example a checksum that forces a restart) and returns the model. */
  public addPodAnnotation(key: string, value: string): ModelDeployment {
    this.podAnnotations[key] = value;
    return this;
  }

  /** The `{ model }` selector of this model's series, for the `Slo` PromQL helpers (add `version` to name one version). */
  public get sloSelector(): { model: string } {
    return { model: this.modelName };
  }
}

/** HPAs in the app (other than KEDA's own) on the same target as a ScaledObject, as validation errors. */
function hpaConflicts(model: ModelDeployment, target: { kind: string; name: string }): string[] {
  const ns = model.namespace;
  return model.node.root.node.findAll()
    .filter((c): c is ApiObject => ApiObject.isApiObject(c) && c.kind === 'HorizontalPodAutoscaler' && (c.metadata.namespace ?? ns) === ns)
    .filter((h) => {
      const ref = (h.toJson() as { spec?: { scaleTargetRef?: { kind?: string; name?: string } } }).spec?.scaleTargetRef;
      return ref?.kind === target.kind && ref?.name === target.name;
    })
    .map((h) => `HorizontalPodAutoscaler '${h.name}' (${h.node.path}) scales ${target.kind} '${target.name}', which the KEDA ScaledObject `
      + `'${model.deploymentName}' scales too; the two would fight over the replicas: remove the HPA (KEDA creates its own) or use Autoscaling.cpu() instead of keda()`);
}

/** The replica count (2 unless set; refused beside autoscaling, which owns it) and the revision history a rollback needs. */
function checkReplicas(props: ModelDeploymentProps): { replicas: number; revisionHistoryLimit: number } {
  if (props.replicas !== undefined && props.autoscaling) {
    throw new Error(`'replicas' value ${props.replicas} is set together with 'autoscaling', which owns the replica count; `
      + 'remove \'replicas\' and set \'autoscaling.minReplicas\' instead');
  }
  const replicas = props.replicas ?? 2;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new Error(`'replicas' value ${replicas} must be a whole number of at least 1`);
  }
  const revisionHistoryLimit = props.revisionHistoryLimit ?? 5;
  if (!Number.isInteger(revisionHistoryLimit) || revisionHistoryLimit < 1) {
    throw new Error(`'revisionHistoryLimit' value ${revisionHistoryLimit} must be a whole number of at least 1, or a rollback has nothing to go back to`);
  }
  return { replicas, revisionHistoryLimit };
}

/** A disruption budget that leaves no pod evictable is refused (a number) or warned about (a percentage that rounds up). */
function checkDisruptionBudget(scope: Construct, budget: DisruptionBudget, minReplicas: number): void {
  if (budget.field === 'minAvailable' && typeof budget.value === 'number' && budget.value >= minReplicas) {
    throw new Error(`'disruptionBudget.minAvailable' value ${budget.value} is not below the ${minReplicas} replica(s), so no pod could ever be evicted; `
      + `use at most ${minReplicas - 1} or DisruptionBudget.maxUnavailable(1)`);
  }
  if (typeof budget.value === 'string' && budget.value.endsWith('%')) {
    // the API server rounds a percentage up: minAvailable '50%' of 1 pod is 1, so that pod can never be evicted
    const pct = Number(budget.value.slice(0, -1));
    const scaled = Math.ceil((pct * minReplicas) / 100);
    if (budget.field === 'minAvailable' && scaled >= minReplicas) {
      addWarning(scope, `'disruptionBudget.minAvailable' value '${budget.value}' of ${minReplicas} replica(s) rounds up to ${scaled}, so no pod can ever be evicted `
        + `and node drains hang; use DisruptionBudget.maxUnavailable(1) or run at least ${Math.max(2, minReplicas + 1)} replicas`);
    }
  }
}

/** The pod's user (non-root), pull Secret names, tolerations (GPU nodes' taint by default) and limits that are no limits. */
function checkPodSettings(scope: Construct, props: ModelDeploymentProps): { runAsUser: number; tolerations: ModelDeploymentProps['tolerations'] } {
  const gpus = props.resources?.gpus ?? 0;
  const runAsUser = props.runAsUser ?? 65532;
  if (!Number.isInteger(runAsUser) || runAsUser < 1) {
    throw new Error(`'runAsUser' value ${runAsUser} is not allowed; the server must run as a non-root UID such as 65532`);
  }
  for (const s of props.imagePullSecrets ?? []) checkDnsName('imagePullSecrets', s, 253);
  const tolerations = props.tolerations ?? (gpus > 0 ? [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] : undefined);
  if (props.tolerations && gpus > 0 && !props.tolerations.some((t) => t.key === 'nvidia.com/gpu' || (t.key === undefined && t.operator === 'Exists'))) {
    addWarning(scope, "'tolerations' replace the default 'nvidia.com/gpu' toleration and none of them tolerates that taint, so the pods cannot land on tainted GPU nodes; "
      + "add { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' } to 'tolerations'");
  }
  if (props.resources?.memory?.limit?.toKibibytes() === 0) {
    addWarning(scope, "'resources.memory.limit' value '0' means no limit at all, so one model can take the node's whole memory; give a real limit such as Size.gibibytes(2)");
  }
  if (props.resources?.cpu?.limit !== undefined && /^0+(\.0*)?m?$/.test(String(props.resources.cpu.limit.amount))) {
    addWarning(scope, "'resources.cpu.limit' value '0' means no limit at all; give a real limit such as Cpu.units(2)");
  }
  return { runAsUser, tolerations };
}

/** `Deployment.spec.strategy` of a {@link RolloutStrategy}. */
function renderStrategy(strategy: RolloutStrategy): Record<string, unknown> {
  return strategy.type === 'Recreate' ? { type: 'Recreate' }
    : { type: 'RollingUpdate', rollingUpdate: { maxSurge: strategy.maxSurge, maxUnavailable: strategy.maxUnavailable } };
}
