/**
 * Reads Prometheus text exposition (the recorded fixtures in test/fixtures/exposition) into samples, and computes
 * from them what Prometheus should answer — independently of the PromQL modelpilot renders: sums over samples
 * picked by plain predicates, and `histogram_quantile`'s linear interpolation.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export const EXPOSITION_DIR = path.join(__dirname, '..', 'fixtures', 'exposition');

/** The samples of one exposition text (comments and blank lines skipped). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The text with every sample value multiplied by `k` (the fixture's values are one scrape interval's increments). */
export function scaleExposition(text: string, k: number): string {
  return text.split('\n').map((line) => {
    if (!line.trim() || line.startsWith('#')) return line;
    const i = line.lastIndexOf(' ');
    return `${line.slice(0, i)} ${Number(line.slice(i + 1)) * k}`;
  }).join('\n');
}

export function readExposition(file: string): { text: string; samples: Sample[] } {
  const text = fs.readFileSync(path.join(EXPOSITION_DIR, file), 'utf8');
  return { text, samples: parseExposition(text) };
}

/** Sum of the samples named `name` whose labels pass `pick`. */
export function total(samples: readonly Sample[], name: string, pick: (l: Record<string, string>) => boolean = () => true): number {
  return samples.filter((s) => s.name === name && pick(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** `histogram_quantile(q, …)` of the histogram `name` (all its series summed per bucket), as Prometheus computes it. */
export function quantile(samples: readonly Sample[], name: string, q: number): number {
  const byLe = new Map<number, number>();
  for (const s of samples.filter((x) => x.name === `${name}_bucket`)) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe].sort((a, b) => a[0] - b[0]);
  const count = buckets[buckets.length - 1][1];
  const rank = q * count;
  const i = buckets.findIndex(([, c]) => c >= rank);
  if (buckets[i][0] === Infinity) return buckets[buckets.length - 2][0];
  const [upper, cUpper] = buckets[i];
  const [lower, cLower] = i === 0 ? [0, 0] : buckets[i - 1];
  return lower + (upper - lower) * ((rank - cLower) / (cUpper - cLower));
}
