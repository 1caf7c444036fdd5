import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Duration, toPromDuration } from '../core/duration';

/** Settings of one HTTP probe. */
export interface ProbeOptions {
  /**
   * HTTP path the kubelet requests.
   * @default - `/health/live` for liveness, `/health/ready` for readiness and startup
   */
  readonly path?: string;
  /**
   * Time between two probes.
   * @default - Duration.seconds(10) for liveness and startup, Duration.seconds(5) for readiness
   */
  readonly period?: Duration;
  /**
   * Time after which one probe counts as failed.
   * @default Duration.seconds(2)
   */
  readonly timeout?: Duration;
  /**
   * Consecutive failures after which the probe fails (liveness: restart; readiness: out of the Service).
   * Not used by the startup probe, whose budget comes from `modelLoadTimeout`.
   * @default 3
   */
  readonly failureThreshold?: number;
}

/**
 * The preStop hook that delays SIGTERM by the drain time, so endpoints and load balancers stop sending traffic
 * before the server starts shutting down.
 */
export class DrainHook {
  /**
   * The kubelet's own sleep action (`lifecycle.preStop.sleep`, Kubernetes 1.30 and later). Needs nothing in the
   * image, so it suits distroless and single-binary images.
   */
  public static sleepAction(): DrainHook {
    return new DrainHook('sleep', undefined);
  }

  /**
   * Runs a command in the container; by default `sleep <drain seconds>`, which needs a `sleep` binary in the image.
   * For clusters older than 1.30.
   */
  public static exec(command?: string[]): DrainHook {
    if (command !== undefined && (command.length === 0 || command.some((c) => typeof c !== 'string' || c === ''))) {
      throw new Error(`'drainHook' command ${JSON.stringify(command)} is empty or has an empty word; give e.g. ['sleep', '10'] or leave it out`);
    }
    return new DrainHook('exec', command);
  }

  /** Calls an HTTP endpoint of the server (on the serving port) that drains and returns when done. */
  public static httpGet(path: string): DrainHook {
    if (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path)) {
      throw new Error(`'drainHook' path '${path}' is not an HTTP path; start it with '/', e.g. '/drain'`);
    }
    return new DrainHook('httpGet', [path]);
  }

  private constructor(
    /** Which handler. */
    public readonly type: 'sleep' | 'exec' | 'httpGet',
    private readonly args: string[] | undefined,
  ) {}

  /** @internal The LifecycleHandler JSON for a drain of `seconds` on the port named `portName`. */
  public _render(seconds: number, portName: string): Record<string, unknown> {
    switch (this.type) {
      case 'sleep':
        return { sleep: { seconds } };
      case 'exec':
        return { exec: { command: this.args ?? ['sleep', String(seconds)] } };
      default:
        return { httpGet: { path: (this.args as string[])[0], port: portName } };
    }
  }
}

/** Sets how a new version replaces the old one. */
export class ModelUpdateStrategy {
  /**
   * Replaces pods gradually; the old ones serve until new ones are ready. With the defaults (surge 1,
   * unavailable 0) capacity never drops during an update.
   */
  public static rollingUpdate(options: RollingUpdateOptions = {}): ModelUpdateStrategy {
    const maxSurge = options.maxSurge ?? 1;
    const maxUnavailable = options.maxUnavailable ?? 0;
    checkIntOrPercent('strategy.maxSurge', maxSurge);
    checkIntOrPercent('strategy.maxUnavailable', maxUnavailable);
    if (isZero(maxSurge) && isZero(maxUnavailable)) {
      throw new Error('\'strategy.maxSurge\' and \'strategy.maxUnavailable\' are both 0, so no pod could ever be replaced; set maxSurge to 1 (the default)');
    }
    return new ModelUpdateStrategy('RollingUpdate', maxSurge, maxUnavailable);
  }

  /**
   * Stops every old pod before starting new ones. For models that cannot run twice at once (for example one GPU per
   * node, or a model that holds an exclusive lock); serving stops for the duration of the load.
   */
  public static recreate(): ModelUpdateStrategy {
    return new ModelUpdateStrategy('Recreate', undefined, undefined);
  }

  private constructor(
    /** `RollingUpdate` or `Recreate`. */
    public readonly type: 'RollingUpdate' | 'Recreate',
    /** For RollingUpdate: pods above the desired count during an update. */
    public readonly maxSurge: number | string | undefined,
    /** For RollingUpdate: pods that may be unavailable during an update. */
    public readonly maxUnavailable: number | string | undefined,
  ) {}
}

/** Options of {@link ModelUpdateStrategy.rollingUpdate}. */
export interface RollingUpdateOptions {
  /**
   * Pods created above the desired count during an update: a whole number or a percentage such as `'25%'`.
   * @default 1
   */
  readonly maxSurge?: number | string;
  /**
   * Pods that may be unavailable during an update: a whole number or a percentage.
   * @default 0
   */
  readonly maxUnavailable?: number | string;
}

/** How many pods a voluntary disruption (node drain, cluster upgrade) may take down at once. */
export class DisruptionBudget {
  /** At most `value` pods (a whole number or a percentage) may be evicted at once. */
  public static maxUnavailable(value: number | string): DisruptionBudget {
    checkIntOrPercent('disruptionBudget.maxUnavailable', value);
    if (isZero(value)) {
      throw new Error(`'disruptionBudget.maxUnavailable' value ${show(value)} blocks every eviction, so nodes can never be drained; allow at least 1`);
    }
    return new DisruptionBudget('maxUnavailable', value);
  }

  /** At least `value` pods (a whole number or a percentage) stay up during a voluntary disruption. */
  public static minAvailable(value: number | string): DisruptionBudget {
    checkIntOrPercent('disruptionBudget.minAvailable', value);
    if (value === '100%') {
      throw new Error('\'disruptionBudget.minAvailable\' value \'100%\' blocks every eviction, so nodes can never be drained; use a lower value or DisruptionBudget.maxUnavailable(1)');
    }
    return new DisruptionBudget('minAvailable', value);
  }

  private constructor(
    /** Which field of the PodDisruptionBudget is set. */
    public readonly field: 'maxUnavailable' | 'minAvailable',
    /** Its value. */
    public readonly value: number | string,
  ) {}
}

/** Options shared by every {@link Autoscaling} choice. */
export interface AutoscalingBounds {
  /**
   * Fewest replicas.
   * @default 2
   */
  readonly minReplicas?: number;
  /** Most replicas. */
  readonly maxReplicas: number;
}

/** Options of {@link Autoscaling.cpu}. */
export interface CpuAutoscalingOptions extends AutoscalingBounds {
  /**
   * Average CPU use, in percent of the CPU request, that the autoscaler aims at.
   * @default 70
   */
  readonly targetUtilizationPercent?: number;
}

/** Options of {@link Autoscaling.podsMetric}. */
export interface PodsMetricAutoscalingOptions extends AutoscalingBounds {
  /** Name of the per-pod custom metric served by the custom-metrics API, e.g. `model_requests_per_second`. */
  readonly metric: string;
  /** Average value per pod the autoscaler aims at, as a quantity string such as `'20'` or `'500m'`. */
  readonly targetAverageValue: string;
}

/** A HorizontalPodAutoscaler (autoscaling/v2) for the model. */
export class Autoscaling {
  /** Scales on average CPU utilisation. */
  public static cpu(options: CpuAutoscalingOptions): Autoscaling {
    const target = options.targetUtilizationPercent ?? 70;
    if (!Number.isInteger(target) || target < 1 || target > 100) {
      throw new Error(`'autoscaling.targetUtilizationPercent' value ${target} is not a whole percentage in 1..100; use for example 70`);
    }
    const [min, max] = bounds(options);
    return new Autoscaling(min, max, {
      type: 'Resource',
      resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } },
    });
  }

  /** Scales on a per-pod custom metric, for example requests per second (needs a custom-metrics adapter). */
  public static podsMetric(options: PodsMetricAutoscalingOptions): Autoscaling {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(options.metric ?? '')) {
      throw new Error(`'autoscaling.metric' value '${options.metric}' is not a metric name; use letters, digits, '_' and ':', e.g. 'model_requests_per_second'`);
    }
    if (!/^\d+(\.\d+)?(m|k|M|G)?$/.test(options.targetAverageValue ?? '') || /^0+(\.0+)?[mkMG]?$/.test(options.targetAverageValue)) {
      throw new Error(`'autoscaling.targetAverageValue' value '${options.targetAverageValue}' is not a positive quantity; write it like '20' or '500m'`);
    }
    const [min, max] = bounds(options);
    return new Autoscaling(min, max, {
      type: 'Pods',
      pods: { metric: { name: options.metric }, target: { type: 'AverageValue', averageValue: options.targetAverageValue } },
    });
  }

  private constructor(
    /** Fewest replicas. */
    public readonly minReplicas: number,
    /** Most replicas. */
    public readonly maxReplicas: number,
    /** The autoscaling/v2 MetricSpec, as JSON. */
    public readonly metricSpec: Record<string, unknown>,
  ) {}
}

/** Options of {@link ModelCache}. */
export interface ModelCacheOptions {
  /**
   * Where the cache is mounted in the model container.
   * @default '/models'
   */
  readonly mountPath?: string;
}

/** A writable volume where the server keeps downloaded model weights. */
export class ModelCache {
  /** A pod-local emptyDir capped at `sizeLimit`; lost when the pod goes. */
  public static emptyDir(sizeLimit: Size, options: ModelCacheOptions = {}): ModelCache {
    const mib = sizeLimit.toMebibytes();
    if (!(mib > 0)) {
      throw new Error(`'modelCache' size ${mib}Mi must be positive; give a limit such as Size.gibibytes(10)`);
    }
    return new ModelCache(mountPath(options), { emptyDir: { sizeLimit: sizeQuantity(sizeLimit) } });
  }

  /** An existing PersistentVolumeClaim, shared by every replica (it must allow ReadWriteMany or ReadOnlyMany). */
  public static fromClaim(claimName: string, options: ModelCacheOptions & { readonly readOnly?: boolean } = {}): ModelCache {
    checkDnsName('modelCache.claimName', claimName, 253);
    return new ModelCache(mountPath(options), { persistentVolumeClaim: { claimName, readOnly: options.readOnly ?? false } });
  }

  private constructor(
    /** Where it is mounted. */
    public readonly mountPath: string,
    /** The Volume source as JSON. */
    public readonly source: Record<string, unknown>,
  ) {}
}

/** CPU, memory and GPUs of the model container. */
export interface ModelResources {
  /**
   * CPU request and limit.
   * @default - request 500m, limit 2
   */
  readonly cpu?: { readonly request?: kplus.Cpu; readonly limit?: kplus.Cpu };
  /**
   * Memory request and limit.
   * @default - request 1Gi, limit 2Gi
   */
  readonly memory?: { readonly request?: Size; readonly limit?: Size };
  /**
   * Whole NVIDIA GPUs (`nvidia.com/gpu`), set as request and limit.
   * @default 0
   */
  readonly gpus?: number;
}

/** One environment variable of the model container. */
export interface ModelEnvVar {
  /** Variable name. */
  readonly name: string;
  /** Literal value (give this or `secretKeyRef`). */
  readonly value?: string;
  /** Take the value from a key of a Secret in the same namespace. */
  readonly secretKeyRef?: { readonly name: string; readonly key: string };
}

function mountPath(options: ModelCacheOptions): string {
  const p = options.mountPath ?? '/models';
  if (!p.startsWith('/') || p === '/' || p === '/tmp') {
    throw new Error(`'modelCache.mountPath' value '${p}' is not usable; give an absolute path other than '/' and '/tmp', such as '/models'`);
  }
  return p;
}

function bounds(options: AutoscalingBounds): [number, number] {
  const min = options.minReplicas ?? 2;
  const max = options.maxReplicas;
  if (!Number.isInteger(min) || min < 1) {
    throw new Error(`'autoscaling.minReplicas' value ${min} must be a whole number of at least 1`);
  }
  if (!Number.isInteger(max) || max < min) {
    throw new Error(`'autoscaling.maxReplicas' value ${max} is below minReplicas ${min}; set maxReplicas to at least ${min}`);
  }
  return [min, max];
}

/** @internal */
export function isZero(value: number | string): boolean {
  return value === 0 || value === '0%' || value === '0';
}

/** @internal */
export function checkIntOrPercent(field: string, value: number | string): void {
  const ok = typeof value === 'number'
    ? Number.isInteger(value) && value >= 0
    : /^(100|[1-9]?\d)%$/.test(value);
  if (!ok) {
    throw new Error(`'${field}' value ${show(value)} is neither a whole number >= 0 nor a percentage such as '25%'`);
  }
}

/** @internal */
export function checkDnsName(field: string, value: string, max = 63): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value)) {
    throw new Error(`'${field}' value '${value}' is not a valid Kubernetes name; use at most ${max} lowercase letters, digits and '-', starting and ending with a letter or digit`);
  }
}

/** @internal */
export function checkPositive(field: string, d: Duration): number {
  const ms = d.toMilliseconds();
  if (!(ms > 0)) {
    throw new Error(`'${field}' value '${toPromDuration(d)}' must be positive; give for example Duration.seconds(10)`);
  }
  return ms;
}

/** @internal Renders a Size as a Kubernetes quantity, in Gi when whole, else Mi. */
export function sizeQuantity(size: Size): string {
  const mib = size.toMebibytes();
  return mib % 1024 === 0 ? `${mib / 1024}Gi` : `${mib}Mi`;
}

/** @internal Shows a prop value in an error: numbers bare, strings in single quotes. */
export function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}
