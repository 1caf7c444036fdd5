import { Duration, toPromDuration } from '../core/duration';
import { checkHttpUrl } from '../core/url';

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

/** What a KEDA Prometheus trigger scales on. */
export class KedaMetric {
  /**
   * Requests per second per replica, from the model's `Slo` request counter (`model_request_total` by default):
   * KEDA adds replicas when the model's total rate divided by the replicas exceeds `perReplica`.
   */
  public static requestsPerSecond(perReplica: number): KedaMetric {
    checkThreshold('autoscaling.metric.requestsPerSecond', perReplica);
    return new KedaMetric(undefined, perReplica);
  }

  /**
   * Any PromQL that returns one number (e.g. a queue depth), and the value per replica KEDA aims at. The query is
   * used as written: scope it to the model yourself (e.g. `{model="recsys"}`).
   */
  public static query(promql: string, perReplica: number): KedaMetric {
    if (typeof promql !== 'string' || promql.trim() === '') {
      throw new Error('\'autoscaling.metric.query\' is empty; give PromQL that returns one number, e.g. \'sum(model_queue_depth{model="recsys"})\'');
    }
    checkThreshold('autoscaling.metric.threshold', perReplica);
    return new KedaMetric(promql, perReplica);
  }

  private constructor(
    /** The PromQL; undefined: the model's request rate. */
    public readonly promql: string | undefined,
    /** The value per replica. */
    public readonly perReplica: number,
  ) {}
}

/** Options of {@link Autoscaling.keda}. */
export interface KedaAutoscalingOptions extends AutoscalingBounds {
  /** What to scale on. */
  readonly metric: KedaMetric;
  /**
   * The Prometheus KEDA queries.
   * @default 'http://prometheus-operated.monitoring.svc:9090'
   */
  readonly prometheusUrl?: string;
  /**
   * Scale to zero replicas when the metric is at or below `activationThreshold` (KEDA's `idleReplicaCount: 0`).
   * The first request after idle waits for a pod to start and load the model.
   * @default false
   */
  readonly scaleToZero?: boolean;
  /**
   * With `scaleToZero`: the metric value above which the model wakes up from zero.
   * @default 0
   */
  readonly activationThreshold?: number;
  /** How often KEDA reads the metric. @default Duration.seconds(30) */
  readonly pollingInterval?: Duration;
  /** With `scaleToZero`: how long the metric must stay idle before scaling to zero. @default Duration.minutes(5) */
  readonly cooldownPeriod?: Duration;
}

/** The KEDA ScaledObject settings of an {@link Autoscaling.keda}. */
export interface KedaSettings {
  readonly metric: KedaMetric;
  readonly prometheusUrl: string;
  readonly scaleToZero: boolean;
  readonly activationThreshold: number;
  readonly pollingIntervalSeconds: number;
  readonly cooldownPeriodSeconds: number;
}

/** A HorizontalPodAutoscaler (autoscaling/v2) or a KEDA ScaledObject for the model. */
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

  /**
   * A KEDA ScaledObject on a Prometheus trigger (KEDA creates and owns the HPA); with `scaleToZero`, an idle model
   * runs no pods. An HPA of its own on the same workload is a synth error (the two would fight over the replicas).
   */
  public static keda(options: KedaAutoscalingOptions): Autoscaling {
    if (!(options?.metric instanceof KedaMetric)) {
      throw new Error('\'autoscaling.metric\' is missing; give KedaMetric.requestsPerSecond(20) or KedaMetric.query(promql, perReplica)');
    }
    const [min, max] = bounds(options);
    const prometheusUrl = options.prometheusUrl ?? 'http://prometheus-operated.monitoring.svc:9090';
    checkHttpUrl('autoscaling.prometheusUrl', prometheusUrl, 'http://prometheus-operated.monitoring.svc:9090',
      "remove them; KEDA's prometheus scaler takes credentials from a TriggerAuthentication, not from serverAddress");
    const activationThreshold = options.activationThreshold ?? 0;
    if (!(activationThreshold >= 0) || !Number.isFinite(activationThreshold)) {
      throw new Error(`'autoscaling.activationThreshold' value ${activationThreshold} must be a non-negative number`);
    }
    if (options.activationThreshold !== undefined && !options.scaleToZero) {
      throw new Error('\'autoscaling.activationThreshold\' is set without \'scaleToZero: true\'; it only decides when a model at zero wakes up');
    }
    const seconds = (field: string, d: Duration | undefined, dflt: number) => {
      const s = d === undefined ? dflt : Math.ceil(d.toMilliseconds() / 1000);
      if (!(s >= 1)) throw new Error(`'autoscaling.${field}' value '${d ? toPromDuration(d) : s}' is shorter than 1s; use at least Duration.seconds(1)`);
      return s;
    };
    return new Autoscaling(min, max, {}, {
      metric: options.metric, prometheusUrl, scaleToZero: options.scaleToZero ?? false, activationThreshold,
      pollingIntervalSeconds: seconds('pollingInterval', options.pollingInterval, 30),
      cooldownPeriodSeconds: seconds('cooldownPeriod', options.cooldownPeriod, 300),
    });
  }

  private constructor(
    /** Fewest replicas (with KEDA's scale-to-zero: fewest while active). */
    public readonly minReplicas: number,
    /** Most replicas. */
    public readonly maxReplicas: number,
    /** The autoscaling/v2 MetricSpec, as JSON (empty for KEDA). */
    public readonly metricSpec: Record<string, unknown>,
    /** The KEDA settings, when this is a ScaledObject. */
    public readonly keda?: KedaSettings,
  ) {}
}

function checkThreshold(field: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new Error(`'${field}' value ${v} must be a positive number per replica; use for example 20`);
  }
}

function bounds(options: AutoscalingBounds): [number, number] {
  const min = options.minReplicas ?? 2;
  const max = options.maxReplicas;
  if (!Number.isInteger(min) || min < 1) {
    throw new Error(`'autoscaling.minReplicas' value ${min} must be a whole number of at least 1`);
  }
  if (!Number.isInteger(max)) {
    throw new Error(`'autoscaling.maxReplicas' value ${max} is not a whole number; give a number of pods such as ${Math.max(min, 4)}`);
  }
  if (max < min) {
    throw new Error(`'autoscaling.maxReplicas' value ${max} is below minReplicas ${min}; set maxReplicas to at least ${min}`);
  }
  return [min, max];
}
