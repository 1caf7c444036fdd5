import { checkIntOrPercent, isZero } from '../core/checks';

/** Sets how a new version replaces the old one. */
export class RolloutStrategy {
  /**
   * Replaces pods gradually; the old ones serve until new ones are ready. With the defaults (surge 1,
   * unavailable 0) capacity never drops during an update.
   */
  public static rollingUpdate(options: RollingUpdateOptions = {}): RolloutStrategy {
    const maxSurge = options.maxSurge ?? 1;
    const maxUnavailable = options.maxUnavailable ?? 0;
    checkIntOrPercent('strategy.maxSurge', maxSurge);
    checkIntOrPercent('strategy.maxUnavailable', maxUnavailable);
    if (isZero(maxSurge) && isZero(maxUnavailable)) {
      throw new Error('\'strategy.maxSurge\' and \'strategy.maxUnavailable\' are both 0, so no pod could ever be replaced; set maxSurge to 1 (the default)');
    }
    return new RolloutStrategy('RollingUpdate', maxSurge, maxUnavailable);
  }

  /**
   * Stops every old pod before starting new ones. For models that cannot run twice at once (for example one GPU per
   * node, or a model that holds an exclusive lock); serving stops for the duration of the load.
   */
  public static recreate(): RolloutStrategy {
    return new RolloutStrategy('Recreate', undefined, undefined);
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

/** Options of {@link RolloutStrategy.rollingUpdate}. */
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

/**
 * The earlier name of {@link RolloutStrategy}.
 * @deprecated use `RolloutStrategy`: "update" is the update policy's word (which version), "rollout" how pods are replaced.
 */
export const ModelUpdateStrategy = RolloutStrategy;
/** @deprecated use `RolloutStrategy`. */
export type ModelUpdateStrategy = RolloutStrategy;
