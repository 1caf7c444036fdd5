// The module, not the package index: the index loads all of cdk8s (~5 MB of RSS the updater agent does not need).
// It is the same class the index exports, so constructs and the agent share one Duration.
import { Duration } from 'cdk8s/lib/duration';

export { Duration };

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a Prometheus/Go-style duration such as `30s`, `5m`, `1h30m` or `250ms` into a `Duration`.
 * Used by the agent's config and the CLI, where durations arrive as strings.
 *
 * @param value the text to parse
 * @param field the config key being parsed, named in the error
 */
export function parseDuration(value: string, field = 'duration'): Duration {
  const text = String(value).trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  let consumed = '';
  let total = 0;
  for (const m of text.matchAll(re)) {
    consumed += m[0];
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  if (text === '' || consumed !== text) {
    throw new Error(`'${field}' value '${value}' is not a duration; write it like '30s', '5m', '1h30m' or '250ms'`);
  }
  return Duration.millis(Math.round(total));
}

/** Renders a Duration the way Prometheus and Alertmanager write it (`5m`, `90s`, `1h`, `250ms`). */
export function toPromDuration(d: Duration): string {
  const ms = d.toMilliseconds();
  if (ms === 0) return '0s';
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]];
  for (const [u, size] of units) {
    if (ms % size === 0) {
      // Prometheus accepts compound forms too, but one unit reads best when it divides evenly.
      return `${ms / size}${u}`;
    }
  }
  return `${ms}ms`;
}
