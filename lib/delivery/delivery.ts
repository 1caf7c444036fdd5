import { checkIntOrPercent, isZero } from '../core/checks';
import { Duration, toPromDuration } from '../core/duration';
import { RollingUpdateOptions, RolloutStrategy } from '../model/rollout-strategy';

/**
 * How the delivery analysis measures a new version against the model's `Slo`: an Argo Rollouts AnalysisTemplate
 * generated from the same PromQL as the alerts and the updater's health gate.
 */
export interface AnalysisOptions {
  /**
   * The Prometheus the analysis queries (Argo Rollouts' controller must reach it).
   * @default - the updater's `prometheusUrl` when the stack has an updater, else 'http://prometheus-operated.monitoring.svc:9090'
   */
  readonly prometheusUrl?: string;
  /**
   * Time between two measurements.
   * @default Duration.minutes(1)
   */
  readonly interval?: Duration;
  /**
   * Measurements of one analysis; it lasts `interval × measurements`.
   * @default 5
   */
  readonly measurements?: number;
  /**
   * Measurements above the SLO (error ratio or p99) tolerated before the analysis fails and the rollout aborts.
   * @default 0
   */
  readonly failureLimit?: number;
  /**
   * Requests the new version must have served before a measurement counts it as judged.
   * @default - the Slo's `minSamples`
   */
  readonly minSamples?: number;
  /**
   * Longest time the new version may have fewer than `minSamples` requests: after it the analysis fails, so the
   * rollout aborts and goes back to the stable version instead of promoting an untested one or waiting forever.
   * Must be shorter than `interval × measurements`.
   * @default - interval × (measurements − 1)
   */
  readonly maxIdle?: Duration;
}

/** The analysis options with their defaults applied. */
export interface ResolvedAnalysis {
  readonly prometheusUrl?: string;
  readonly intervalSeconds: number;
  readonly measurements: number;
  readonly failureLimit: number;
  readonly minSamples?: number;
  /** Idle measurements tolerated: the samples metric's failureLimit. */
  readonly idleLimit: number;
}

/** One step of a canary. */
export class CanaryStep {
  /** Sends `percent` % of the pods (no traffic router: of the replicas) to the new version. */
  public static setWeight(percent: number): CanaryStep {
    if (!Number.isInteger(percent) || percent < 1 || percent > 100) {
      throw new Error(`'delivery.steps' setWeight value ${percent} is not a whole percentage in 1..100; use for example 20`);
    }
    return new CanaryStep({ setWeight: percent });
  }

  /** Waits `duration` before the next step. */
  public static pause(duration: Duration): CanaryStep {
    const ms = duration.toMilliseconds();
    const s = Math.ceil(ms / 1000);
    if (!(ms >= 1000)) throw new Error(`'delivery.steps' pause value '${toPromDuration(duration)}' is shorter than 1s; use at least Duration.seconds(1)`);
    return new CanaryStep({ pause: { duration: `${s}s` } });
  }

  /** Waits until a person promotes (`kubectl argo rollouts promote <name>`). */
  public static pauseUntilPromoted(): CanaryStep {
    return new CanaryStep({ pause: {} });
  }

  /** Runs the SLO analysis on the new version's pods; a failed analysis aborts the rollout (automatic rollback). */
  public static analysis(): CanaryStep {
    return new CanaryStep({ analysis: true });
  }

  private constructor(
    /** The step as Argo Rollouts writes it; `analysis: true` is filled in with the template by the construct. */
    public readonly spec: Readonly<Record<string, unknown>>,
  ) {}
}

/** Options of {@link Delivery.canary}. */
export interface CanaryOptions {
  /**
   * The steps, in order; the rollout ends at 100 % after the last one. At least one `CanaryStep.analysis()`.
   * @default - setWeight 20, analysis, setWeight 50, analysis
   */
  readonly steps?: CanaryStep[];
  /** @default - the defaults of {@link AnalysisOptions} */
  readonly analysis?: AnalysisOptions;
  /** Pods above the desired count during the rollout. @default '25%' */
  readonly maxSurge?: number | string;
  /** Pods that may be unavailable during the rollout. @default 0 */
  readonly maxUnavailable?: number | string;
}

/** Options of {@link Delivery.blueGreen}. */
export interface BlueGreenOptions {
  /**
   * Switch the active Service to the new version once it is ready (after the pre-promotion analysis, when set).
   * `false`: wait for a person (`kubectl argo rollouts promote <name>`).
   * @default true
   */
  readonly autoPromotion?: boolean;
  /**
   * Name of the Service that reaches the new version before promotion.
   * @default - '<model>-preview'
   */
  readonly previewService?: string;
  /** @default - the defaults of {@link AnalysisOptions} */
  readonly analysis?: AnalysisOptions;
  /**
   * Analyse the preview before promotion instead of the active version after it. The preview gets no user traffic:
   * send test traffic to the preview Service, or the analysis fails after `maxIdle` (the rollout aborts).
   * @default false: post-promotion analysis on real traffic; a failure switches back to the previous version
   */
  readonly analyzeBeforePromotion?: boolean;
  /**
   * How long the previous version keeps running after promotion (the instant way back).
   * @default - the analysis' duration plus 30 s
   */
  readonly scaleDownDelay?: Duration;
}

/**
 * How a new version of the model reaches production. `rollingUpdate()` and `recreate()` are the Deployment's own
 * strategies; `canary()` and `blueGreen()` hand the pods to an Argo Rollouts `Rollout` (with a `workloadRef` to the
 * model's Deployment) gated by an AnalysisTemplate generated from the model's `Slo`.
 */
export class Delivery {
  /** The Deployment replaces pods gradually (see {@link RolloutStrategy.rollingUpdate}). */
  public static rollingUpdate(options: RollingUpdateOptions = {}): Delivery {
    return new Delivery('rollingUpdate', RolloutStrategy.rollingUpdate(options));
  }

  /** The Deployment stops every old pod before starting new ones (see {@link RolloutStrategy.recreate}). */
  public static recreate(): Delivery {
    return new Delivery('recreate', RolloutStrategy.recreate());
  }

  /** An Argo Rollouts canary: weight steps with SLO analysis; a failed analysis aborts back to the stable version. */
  public static canary(options: CanaryOptions = {}): Delivery {
    const steps = options.steps ?? [CanaryStep.setWeight(20), CanaryStep.analysis(), CanaryStep.setWeight(50), CanaryStep.analysis()];
    if (!Array.isArray(steps) || steps.length === 0) {
      throw new Error('\'delivery.steps\' is empty; give at least [CanaryStep.setWeight(20), CanaryStep.analysis()]');
    }
    if (!steps.some((s) => s.spec.analysis === true)) {
      throw new Error('\'delivery.steps\' has no CanaryStep.analysis(), so the canary would be promoted without looking at the Slo; '
        + 'add CanaryStep.analysis() after a setWeight step');
    }
    const maxSurge = options.maxSurge ?? '25%';
    const maxUnavailable = options.maxUnavailable ?? 0;
    checkIntOrPercent('delivery.maxSurge', maxSurge);
    checkIntOrPercent('delivery.maxUnavailable', maxUnavailable);
    if (isZero(maxSurge) && isZero(maxUnavailable)) {
      // Argo Rollouts' own validation (invalidMaxSurgeMaxUnavailable): the Rollout would be marked InvalidSpec
      throw new Error(`'delivery.maxSurge' value ${JSON.stringify(maxSurge)} and 'delivery.maxUnavailable' value ${JSON.stringify(maxUnavailable)} are both zero, `
        + "so no pod could ever be replaced (Argo Rollouts marks such a Rollout InvalidSpec); give maxSurge at least 1 or '25%' (the default)");
    }
    return new Delivery('canary', undefined, resolveAnalysis(options.analysis), {
      steps: steps.map((s) => s.spec), maxSurge, maxUnavailable,
    });
  }

  /** An Argo Rollouts blue-green: a preview Service, a switch of the active Service, SLO analysis, instant way back. */
  public static blueGreen(options: BlueGreenOptions = {}): Delivery {
    const analysis = resolveAnalysis(options.analysis);
    const durationS = analysis.intervalSeconds * analysis.measurements;
    const delayS = options.scaleDownDelay === undefined ? durationS + 30 : Math.ceil(options.scaleDownDelay.toMilliseconds() / 1000);
    const before = options.analyzeBeforePromotion ?? false;
    if (!before && delayS <= durationS) {
      throw new Error(`'delivery.scaleDownDelay' value '${delayS}s' ends before the post-promotion analysis (${durationS}s), so a failed analysis `
        + `would have no previous version to switch back to; use at least Duration.seconds(${durationS + 30})`);
    }
    return new Delivery('blueGreen', undefined, analysis, undefined, {
      autoPromotion: options.autoPromotion ?? true, previewService: options.previewService,
      analyzeBeforePromotion: before, scaleDownDelaySeconds: delayS,
    });
  }

  private constructor(
    /** `rollingUpdate`, `recreate`, `canary` or `blueGreen`. */
    public readonly kind: 'rollingUpdate' | 'recreate' | 'canary' | 'blueGreen',
    /** The Deployment strategy, for `rollingUpdate` and `recreate`. */
    public readonly strategy?: RolloutStrategy,
    /** The analysis, for `canary` and `blueGreen`. */
    public readonly analysis?: ResolvedAnalysis,
    /** The canary's steps and surge. */
    public readonly canary?: {
      readonly steps: ReadonlyArray<Readonly<Record<string, unknown>>>; readonly maxSurge: number | string; readonly maxUnavailable: number | string;
    },
    /** The blue-green settings. */
    public readonly blueGreen?: {
      readonly autoPromotion: boolean; readonly previewService?: string;
      readonly analyzeBeforePromotion: boolean; readonly scaleDownDelaySeconds: number;
    },
  ) {}

  /**
   * Seconds a whole progressive rollout may take beyond starting pods: pauses, and every analysis run to its end
   * (`interval × measurements` each), plus `startupSeconds` per canary weight step; one hour per manual pause. The
   * stack makes the updater's default readiness timeout this plus the model's startup budget and two minutes.
   */
  public budgetSeconds(startupSeconds: number): number {
    const a = this.analysis;
    if (!a) return 0;
    const run = a.intervalSeconds * a.measurements;
    if (this.blueGreen) return startupSeconds + run + (this.blueGreen.autoPromotion ? 0 : 3600);
    return (this.canary?.steps ?? []).reduce((sum, s) => {
      if (s.analysis === true) return sum + run;
      if (s.setWeight !== undefined) return sum + startupSeconds;
      const pause = s.pause as { duration?: string } | undefined;
      if (pause) return sum + (pause.duration ? parseInt(pause.duration, 10) : 3600);
      return sum;
    }, 0);
  }

  /** Whether an Argo Rollouts Rollout runs the pods (canary, blue-green). */
  public get progressive(): boolean {
    return this.kind === 'canary' || this.kind === 'blueGreen';
  }
}

function resolveAnalysis(o: AnalysisOptions = {}): ResolvedAnalysis {
  const intervalMs = o.interval?.toMilliseconds() ?? 60_000;
  if (!(intervalMs >= 1000)) {
    throw new Error(`'delivery.analysis.interval' value '${o.interval ? toPromDuration(o.interval) : intervalMs}' is shorter than 1s; use at least Duration.seconds(1)`);
  }
  const intervalSeconds = Math.ceil(intervalMs / 1000);
  const measurements = o.measurements ?? 5;
  if (!Number.isInteger(measurements) || measurements < 1 || measurements > 1000) {
    throw new Error(`'delivery.analysis.measurements' value ${measurements} must be a whole number in 1..1000; use for example 5`);
  }
  const failureLimit = o.failureLimit ?? 0;
  if (!Number.isInteger(failureLimit) || failureLimit < 0 || failureLimit >= measurements) {
    throw new Error(`'delivery.analysis.failureLimit' value ${failureLimit} must be a whole number below measurements (${measurements}); use 0 to abort on the first breach`);
  }
  if (o.minSamples !== undefined && (!Number.isInteger(o.minSamples) || o.minSamples < 1)) {
    throw new Error(`'delivery.analysis.minSamples' value ${o.minSamples} must be a whole number of requests, at least 1; use for example 30`);
  }
  const idleS = o.maxIdle === undefined ? intervalSeconds * (measurements - 1) : Math.floor(o.maxIdle.toMilliseconds() / 1000);
  const idleLimit = Math.floor(idleS / intervalSeconds);
  if (!(idleS >= 0) || idleLimit >= measurements) {
    throw new Error(`'delivery.analysis.maxIdle' value '${idleS}s' is not shorter than the analysis (${measurements} × ${intervalSeconds}s), so an idle version `
      + `would pass; use at most Duration.seconds(${intervalSeconds * (measurements - 1)}) or raise 'measurements'`);
  }
  return { prometheusUrl: o.prometheusUrl, intervalSeconds, measurements, failureLimit, minSamples: o.minSamples, idleLimit };
}
