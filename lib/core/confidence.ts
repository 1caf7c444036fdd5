/**
 * The Wilson score interval of a binomial proportion: with k errors in n requests, where the true error ratio lies
 * at the given confidence. Used by the health gate to call a version broken or healthy only on evidence.
 */

/** Two-sided normal quantile for a confidence level (0.5 … 0.999), by bisection over the error function. */
export function zFor(confidence: number): number {
  if (!(confidence >= 0.5 && confidence < 1)) throw new Error(`confidence ${confidence} must be in [0.5, 1)`);
  const target = 1 - (1 - confidence) / 2;
  let lo = 0;
  let hi = 10;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x / Math.SQRT2));
  const y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

export interface Interval {
  readonly lower: number;
  readonly upper: number;
}

/** Wilson score interval for k successes in n trials at normal quantile z. n = 0 is [0, 1]. */
export function wilson(k: number, n: number, z: number): Interval {
  if (!(n > 0)) return { lower: 0, upper: 1 };
  const p = Math.min(Math.max(k / n, 0), 1);
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { lower: k <= 0 ? 0 : Math.max(0, centre - half), upper: k >= n ? 1 : Math.min(1, centre + half) };
}
