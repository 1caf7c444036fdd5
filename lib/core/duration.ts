/**
 * A length of time, with no dependency on cdk8s (the agent loads this module and must not load cdk8s; docs/agent.md).
 *
 * `Duration` is an interface that cdk8s's own `Duration` satisfies, so every prop typed `Duration` accepts both a
 * `cdk8s.Duration` and one made with this module's factories (`Duration.seconds(30)`, or {@link parseDuration}).
 */

/** Options of the `toX()` conversions (as in cdk8s). */
export interface TimeConversionOptions {
  /**
   * Throw when the result is not a whole number.
   * @default true
   */
  readonly integral?: boolean;
}

/** A length of time (the shape of `cdk8s.Duration`). */
export interface Duration {
  toMilliseconds(opts?: TimeConversionOptions): number;
  toSeconds(opts?: TimeConversionOptions): number;
  toMinutes(opts?: TimeConversionOptions): number;
  toHours(opts?: TimeConversionOptions): number;
  toDays(opts?: TimeConversionOptions): number;
  toHumanString(): string;
}

const UNITS: ReadonlyArray<readonly [string, number]> = [['days', 86_400_000], ['hours', 3_600_000], ['minutes', 60_000], ['seconds', 1000]];

class Millis implements Duration {
  constructor(private readonly ms: number) {
    if (!(ms >= 0)) throw new Error(`Duration amounts cannot be negative. Received: ${ms}`);
  }
  public toMilliseconds(opts?: TimeConversionOptions): number { return convert(this.ms, 1, 'milliseconds', opts); }
  public toSeconds(opts?: TimeConversionOptions): number { return convert(this.ms, 1000, 'seconds', opts); }
  public toMinutes(opts?: TimeConversionOptions): number { return convert(this.ms, 60_000, 'minutes', opts); }
  public toHours(opts?: TimeConversionOptions): number { return convert(this.ms, 3_600_000, 'hours', opts); }
  public toDays(opts?: TimeConversionOptions): number { return convert(this.ms, 86_400_000, 'days', opts); }
  public toHumanString(): string {
    if (this.ms === 0) return '0 milliseconds';
    let left = this.ms;
    const parts: string[] = [];
    for (const [label, size] of UNITS) {
      const n = Math.floor(left / size);
      if (n > 0) {
        parts.push(`${n} ${n === 1 ? label.slice(0, -1) : label}`);
        left -= n * size;
      }
    }
    if (left > 0) parts.push(`${left} ${left === 1 ? 'millisecond' : 'milliseconds'}`);
    return parts.slice(0, 2).join(' ');
  }
  public toString(): string { return toPromDuration(this); }
}

function convert(ms: number, size: number, unit: string, opts: TimeConversionOptions = {}): number {
  const value = ms / size;
  if ((opts.integral ?? true) && !Number.isInteger(value)) {
    throw new Error(`'${ms} milliseconds' cannot be converted into a whole number of ${unit}.`);
  }
  return value;
}

/** Factories of {@link Duration} (the same names as cdk8s's). */
export const Duration = {
  millis: (amount: number): Duration => new Millis(amount),
  seconds: (amount: number): Duration => new Millis(amount * 1000),
  minutes: (amount: number): Duration => new Millis(amount * 60_000),
  hours: (amount: number): Duration => new Millis(amount * 3_600_000),
  days: (amount: number): Duration => new Millis(amount * 86_400_000),
};

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

/** A duration in milliseconds (what timers and the agent's options take). */
export function ms(d: { toMilliseconds(): number }): number {
  return d.toMilliseconds();
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
