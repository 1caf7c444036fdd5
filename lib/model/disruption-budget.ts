import { checkIntOrPercent, isZero, show } from '../core/checks';

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
