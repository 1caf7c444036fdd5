import { ApiObject, Chart, Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { checkDnsName, checkPositive } from '../core/checks';
import { MODEL_SERVER_ENV } from '../core/contract/names';
import { Duration, toPromDuration } from '../core/duration';
import { ImageRef } from '../core/image-ref';
import { recommendedLabels, versionLabel } from '../core/labels';
import { Slo } from '../core/slo';
import { UpdatePolicy } from '../core/update-policy';
import { Autoscaling } from './autoscaling';
import { DisruptionBudget } from './disruption-budget';
import { ModelCache } from './model-cache';
import { DrainHook, ProbeOptions } from './probes';
import { ModelEnvVar, ModelResources, sizeQuantity } from './resources';
import { RolloutStrategy } from './rollout-strategy';

const k8s = kplus.k8s;

/** The value of `app.kubernetes.io/managed-by` on everything modelpilot makes. */
export { MANAGED_BY } from '../core/labels';

/** Environment variables the model-server contract reserves; they are set from the props. */
const RESERVED_ENV: readonly string[] = Object.values(MODEL_SERVER_ENV);

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
   * A HorizontalPodAutoscaler; when set, the Deployment leaves `replicas` to it.
   * @default - no autoscaling, `replicas` pods
   */
  readonly autoscaling?: Autoscaling;
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
  /** Name of the port that serves traffic and metrics, on both the container and the Service. */
  public readonly metricsPortName = 'http';
  /** Port number that serves metrics (the container port). */
  public readonly metricsPort: number;
  /** HTTP path of the metrics. */
  public readonly metricsPath: string;
  /** The SLO. */
  public readonly slo: Slo;
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
  /** The HorizontalPodAutoscaler, when autoscaling is set. */
  public readonly autoscaler?: ApiObject;

  private readonly podAnnotations: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: ModelDeploymentProps) {
    super(scope, id);
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

    this.port = checkPort('port', props.port ?? 8080);
    this.servicePort = checkPort('servicePort', props.servicePort ?? 80, 80);
    this.metricsPort = this.port;
    this.metricsPath = checkPath('metricsPath', props.metricsPath ?? '/metrics', '/metrics');
    this.slo = props.slo ?? Slo.DEFAULT;
    this.updatePolicy = props.updatePolicy ?? UpdatePolicy.semver('minor');
    this.deploymentName = props.name;
    this.serviceName = props.name;

    this.selectorLabels = {
      'app.kubernetes.io/name': props.name,
      'app.kubernetes.io/instance': instance,
    };
    this.labels = recommendedLabels(this.selectorLabels, { version: this.version, component: 'model-server', partOf });

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

    // Probes and the startup budget.
    const liveness = probe('liveness', props.liveness, '/health/live', Duration.seconds(10));
    const readiness = probe('readiness', props.readiness, '/health/ready', Duration.seconds(5));
    const startup = probe('startup', props.startup, '/health/ready', Duration.seconds(10));
    const loadMs = checkPositive('modelLoadTimeout', props.modelLoadTimeout ?? Duration.minutes(2));
    const startupPeriodS = startup.periodSeconds;
    const startupFailures = Math.max(1, Math.ceil(loadMs / 1000 / startupPeriodS));
    this.startupBudgetSeconds = startupFailures * startupPeriodS;

    // Drain and grace period.
    const drain = props.drain ?? Duration.seconds(10);
    const drainS = Math.ceil(drain.toMilliseconds() / 1000);
    const graceS = props.terminationGracePeriod !== undefined
      ? Math.ceil(props.terminationGracePeriod.toMilliseconds() / 1000)
      : drainS + 30;
    if (graceS <= drainS) {
      throw new Error(`'drain' value '${toPromDuration(drain)}' is not shorter than 'terminationGracePeriod' '${graceS}s', so the server would be killed `
        + `before it stops; make terminationGracePeriod longer than the drain (e.g. ${drainS + 30}s)`);
    }

    // Disruption budget vs. replicas.
    const budget = props.disruptionBudget ?? DisruptionBudget.maxUnavailable(1);
    const minReplicas = props.autoscaling?.minReplicas ?? replicas;
    if (budget.field === 'minAvailable' && typeof budget.value === 'number' && budget.value >= minReplicas) {
      throw new Error(`'disruptionBudget.minAvailable' value ${budget.value} is not below the ${minReplicas} replica(s), so no pod could ever be evicted; `
        + `use at most ${minReplicas - 1} or DisruptionBudget.maxUnavailable(1)`);
    }

    const strategy = props.strategy ?? RolloutStrategy.rollingUpdate();
    const resources = renderResources(props.resources ?? {});
    const gpus = props.resources?.gpus ?? 0;

    // Environment.
    const env: Array<Record<string, unknown>> = [
      { name: MODEL_SERVER_ENV.port, value: String(this.port) },
      { name: MODEL_SERVER_ENV.name, value: this.modelName },
      { name: MODEL_SERVER_ENV.version, value: this.version },
    ];
    const seen = new Set<string>();
    for (const e of props.env ?? []) {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(e.name ?? '')) {
        throw new Error(`'env' name '${e.name}' is not a valid variable name; use letters, digits and '_', not starting with a digit`);
      }
      if (RESERVED_ENV.includes(e.name)) {
        throw new Error(`'env' name '${e.name}' is set by modelpilot from the props; remove it (use 'port' for PORT, the image tag for MODEL_VERSION)`);
      }
      if (seen.has(e.name)) {
        throw new Error(`'env' name '${e.name}' is given twice; each variable may appear once`);
      }
      seen.add(e.name);
      if ((e.value === undefined) === (e.secretKeyRef === undefined)) {
        throw new Error(`'env' variable '${e.name}' needs exactly one of 'value' or 'secretKeyRef'`);
      }
      env.push(e.value !== undefined ? { name: e.name, value: e.value }
        : { name: e.name, valueFrom: { secretKeyRef: { name: e.secretKeyRef!.name, key: e.secretKeyRef!.key } } });
    }

    // Volumes: a writable /tmp always, the model cache when asked.
    const volumes: Array<Record<string, unknown>> = [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }];
    const mounts: Array<Record<string, unknown>> = [{ name: 'tmp', mountPath: '/tmp' }];
    if (props.modelCache) {
      volumes.push({ name: 'model-cache', ...props.modelCache.source });
      mounts.push({ name: 'model-cache', mountPath: props.modelCache.mountPath });
    }

    const runAsUser = props.runAsUser ?? 65532;
    if (!Number.isInteger(runAsUser) || runAsUser < 1) {
      throw new Error(`'runAsUser' value ${runAsUser} is not allowed; the server must run as a non-root UID such as 65532`);
    }

    for (const s of props.imagePullSecrets ?? []) checkDnsName('imagePullSecrets', s, 253);
    const tolerations = props.tolerations ?? (gpus > 0 ? [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] : undefined);

    const container = {
      name: this.containerName,
      image: this.image.toString(),
      imagePullPolicy: 'IfNotPresent',
      ports: [{ name: this.metricsPortName, containerPort: this.port, protocol: 'TCP' }],
      env,
      resources,
      startupProbe: httpProbe(startup, this.metricsPortName, startupFailures),
      livenessProbe: httpProbe(liveness, this.metricsPortName),
      readinessProbe: httpProbe(readiness, this.metricsPortName),
      // No drain, no hook: the server gets SIGTERM at once.
      lifecycle: drainS > 0 ? { preStop: (props.drainHook ?? DrainHook.sleepAction())._render(drainS, this.metricsPortName) } : undefined,
      securityContext: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: props.readOnlyRootFilesystem ?? true,
        runAsNonRoot: true,
        privileged: false,
        capabilities: { drop: ['ALL'] },
      },
      volumeMounts: mounts,
    };

    const meta = (name: string) => ({ name, namespace: this.namespace, labels: { ...this.labels } });

    this.deployment = new ApiObject(this, 'Resource', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(this.deploymentName),
      spec: {
        replicas: props.autoscaling ? undefined : replicas,
        revisionHistoryLimit,
        selector: { matchLabels: { ...this.selectorLabels } },
        strategy: strategy.type === 'Recreate' ? { type: 'Recreate' }
          : { type: 'RollingUpdate', rollingUpdate: { maxSurge: strategy.maxSurge, maxUnavailable: strategy.maxUnavailable } },
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
              runAsUser,
              runAsGroup: runAsUser,
              fsGroup: runAsUser,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            nodeSelector: props.nodeSelector && Object.keys(props.nodeSelector).length ? { ...props.nodeSelector } : undefined,
            tolerations,
            imagePullSecrets: props.imagePullSecrets?.length ? props.imagePullSecrets.map((name) => ({ name })) : undefined,
            containers: [container],
            volumes,
          },
        },
      },
    });

    this.service = new ApiObject(this, 'Service', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(this.serviceName),
      spec: {
        type: 'ClusterIP',
        selector: { ...this.selectorLabels },
        ports: [{ name: this.metricsPortName, port: this.servicePort, targetPort: this.metricsPortName, protocol: 'TCP' }],
      },
    });

    this.podDisruptionBudget = new k8s.KubePodDisruptionBudget(this, 'DisruptionBudget', {
      metadata: meta(this.deploymentName),
      spec: {
        selector: { matchLabels: { ...this.selectorLabels } },
        [budget.field]: typeof budget.value === 'number' ? k8s.IntOrString.fromNumber(budget.value) : k8s.IntOrString.fromString(budget.value),
      },
    });

    if (props.autoscaling) {
      this.autoscaler = new ApiObject(this, 'Autoscaler', {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: meta(this.deploymentName),
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: this.deploymentName },
          minReplicas: props.autoscaling.minReplicas,
          maxReplicas: props.autoscaling.maxReplicas,
          metrics: [props.autoscaling.metricSpec],
        },
      });
    }
  }

  /** Adds an annotation to the pod template (for example a checksum that forces a restart) and returns the model. */
  public addPodAnnotation(key: string, value: string): ModelDeployment {
    this.podAnnotations[key] = value;
    return this;
  }

  /** The `{ model, version }` selector of this model's series, for the `Slo` PromQL helpers. */
  public get sloSelector(): { model: string } {
    return { model: this.modelName };
  }
}

interface ResolvedProbe {
  readonly path: string;
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly failureThreshold: number;
}

function probe(kind: string, options: ProbeOptions | undefined, path: string, period: Duration): ResolvedProbe {
  const periodMs = checkPositive(`${kind}.period`, options?.period ?? period);
  const timeoutMs = checkPositive(`${kind}.timeout`, options?.timeout ?? Duration.seconds(2));
  const periodSeconds = Math.ceil(periodMs / 1000);
  const timeoutSeconds = Math.ceil(timeoutMs / 1000);
  if (timeoutSeconds > periodSeconds) {
    throw new Error(`'${kind}.timeout' value '${timeoutSeconds}s' is longer than '${kind}.period' '${periodSeconds}s'; make the timeout at most the period`);
  }
  const failureThreshold = options?.failureThreshold ?? 3;
  if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
    throw new Error(`'${kind}.failureThreshold' value ${failureThreshold} must be a whole number of at least 1`);
  }
  return { path: checkPath(`${kind}.path`, options?.path ?? path, path), periodSeconds, timeoutSeconds, failureThreshold };
}

function httpProbe(p: ResolvedProbe, port: string, failureThreshold = p.failureThreshold): Record<string, unknown> {
  return { httpGet: { path: p.path, port }, periodSeconds: p.periodSeconds, timeoutSeconds: p.timeoutSeconds, failureThreshold };
}

function checkPort(field: string, port: number, example = 8080): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`'${field}' value ${port} is out of range; use a whole number in 1..65535 such as ${example}`);
  }
  return port;
}

function checkPath(field: string, path: string, example: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path)) {
    throw new Error(`'${field}' value '${path}' is not an HTTP path; start it with '/' and leave out spaces, e.g. '${example}'`);
  }
  return path;
}

function renderResources(r: ModelResources): Record<string, Record<string, string | number>> {
  const gpus = r.gpus ?? 0;
  if (!Number.isInteger(gpus) || gpus < 0) {
    throw new Error(`'resources.gpus' value ${gpus} is not a whole number; GPUs cannot be shared by fractions, use 0, 1, 2, …`);
  }
  const cpuReq = r.cpu?.request?.amount ?? '500m';
  const cpuLim = r.cpu?.limit?.amount ?? '2';
  const memReq = r.memory?.request ?? Size.gibibytes(1);
  const memLim = r.memory?.limit ?? Size.gibibytes(2);
  if (memReq.toMebibytes() > memLim.toMebibytes()) {
    throw new Error(`'resources.memory.request' value '${sizeQuantity(memReq)}' is above the limit '${sizeQuantity(memLim)}'; raise the limit or lower the request`);
  }
  if (cpuMillis(cpuReq) > cpuMillis(cpuLim)) {
    throw new Error(`'resources.cpu.request' value '${cpuReq}' is above the limit '${cpuLim}'; raise the limit or lower the request`);
  }
  const requests: Record<string, string | number> = { 'cpu': cpuReq, 'memory': sizeQuantity(memReq) };
  const limits: Record<string, string | number> = { 'cpu': cpuLim, 'memory': sizeQuantity(memLim) };
  if (gpus > 0) {
    requests['nvidia.com/gpu'] = String(gpus);
    limits['nvidia.com/gpu'] = String(gpus);
  }
  return { requests, limits };
}

function cpuMillis(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000;
}
