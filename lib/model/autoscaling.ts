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
