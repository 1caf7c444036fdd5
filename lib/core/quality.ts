/**
 * The quality gate: a golden set (inputs with expected outputs) replayed against a new version before it takes
 * users' traffic, and the verdict from what it answered — declared once here and read by the `ModelUpdater`
 * construct, the compose bundle and the agent. A version that answers every request with 200 and wrong predictions
 * passes every HTTP-level gate; this one sees it.
 *
 * The golden set is JSON lines, one sample per line: `{"input": <the request body>, "expected": <the right answer>}`
 * (`expected` may be left out for `agreement`, which compares with the version being replaced); blank lines and lines
 * starting with `#` are skipped. Its digest is the sha256 of its sample lines (comments left out), so the copy the
 * bundle ships under a generated-by header has the digest of the file it was made from. The answer is read from the
 * response at `prediction` (a dotted path such as `prediction.label`).
 *
 * Metrics and verdicts (k matches in n samples; the bounds are the Wilson interval at the gate's confidence):
 * - `accuracy`: the answer equals `expected`. Promoted only when the lower bound reaches `threshold`.
 * - `agreement`: the answer equals the serving version's answer to the same input. Same rule.
 * - `maxAbsoluteError`: |answer − expected| ≤ `threshold` for every sample (numbers).
 * An answer that is not 2xx, not JSON, or has nothing at `prediction` counts as wrong. When the bounds straddle the
 * threshold the set is too small to tell and the version is not promoted (never promoted without evidence).
 */
import { createHash } from 'crypto';
import { wilson, zFor } from './confidence';
import { Duration, toPromDuration } from './duration';

export const QUALITY_METRICS = ['accuracy', 'agreement', 'maxAbsoluteError'] as const;
export type QualityMetric = (typeof QUALITY_METRICS)[number];

export interface GoldenSample {
  /** 1-based line of the file. */
  readonly line: number;
  /** The request body sent. */
  readonly input: unknown;
  /** The right answer (absent: only `agreement` can use the sample). */
  readonly expected?: unknown;
}

/** A golden set, parsed and checked; `digest` is the sha256 of its sample lines (recorded in the audit and the attestation). */
export class GoldenSet {
  /** Parses JSON-lines text; `source` names it in errors (a file name). Blank lines and `#` comments are skipped. */
  public static parse(text: string, source: string, keep?: string): GoldenSet {
    const samples: GoldenSample[] = [];
    const hash = createHash('sha256');
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      hash.update(`${line}\n`);
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new Error(`golden set ${source} line ${i + 1} is not JSON (${(e as Error).message}); write one {"input": …, "expected": …} object per line`);
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !('input' in v)) {
        throw new Error(`golden set ${source} line ${i + 1} has no 'input'; write one {"input": <request body>, "expected": <answer>} object per line`);
      }
      const o = v as Record<string, unknown>;
      const extra = Object.keys(o).filter((k) => k !== 'input' && k !== 'expected');
      if (extra.length > 0) {
        throw new Error(`golden set ${source} line ${i + 1} has the key '${extra[0]}'; a sample has only 'input' and 'expected'`);
      }
      samples.push({ line: i + 1, input: o.input, ...('expected' in o ? { expected: o.expected } : {}) });
    });
    if (samples.length === 0) throw new Error(`golden set ${source} has no samples; write one {"input": …, "expected": …} object per line`);
    return new GoldenSet(source, samples, `sha256:${hash.digest('hex')}`, keep);
  }

  protected constructor(
    /** Where it was read from (a file name). */
    public readonly source: string,
    public readonly samples: readonly GoldenSample[],
    public readonly digest: string,
    /** The file's text, when read from a file by the constructs' `GoldenSet.fromFile` (what the bundle ships). */
    public readonly text?: string,
  ) {}

  /** Samples that carry an expected answer. */
  public get withExpected(): number {
    return this.samples.filter((s) => s.expected !== undefined).length;
  }
}

/** Settings of the quality gate (agent.yaml `images[].quality`; the `ModelUpdater`'s `quality`). */
export interface QualitySettings {
  /** The golden set's path as the agent reads it (a file the image or a volume ships). */
  readonly goldenSet: string;
  readonly metric: QualityMetric;
  /** accuracy/agreement: the lowest acceptable ratio in (0, 1]; maxAbsoluteError: the largest acceptable error. */
  readonly threshold: number;
  /** Where the answer is in the response body, a dotted path. */
  readonly prediction: string;
  /** The request's path on the model server. */
  readonly path: string;
  /** Fewest samples a verdict needs (checked against the golden set when it is read). */
  readonly minSamples: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Longest one request may take, in ms. */
  readonly timeoutMs: number;
}

/**
 * Why a golden set is too small for a gate (the one rule of the construct, the agent and `modelpilot eval`), or
 * undefined: the samples it can use for `metric` (all for agreement, those with an expected answer otherwise) against
 * `minSamples`, named as the caller spells it.
 */
export function tooFewSamples(set: GoldenSet, metric: QualityMetric, minSamples: number, minSamplesName: string): string | undefined {
  const usable = metric === 'agreement' ? set.samples.length : set.withExpected;
  if (usable >= minSamples) return undefined;
  return `has ${usable} sample(s) usable for ${metric}, fewer than ${minSamplesName} ${minSamples}; `
    + `add samples${metric === 'agreement' ? '' : " with an 'expected' answer"} or lower ${minSamplesName}`;
}

/** What is wrong with a threshold for a metric (the one rule of the construct and agent.yaml), or undefined. */
export function thresholdProblem(metric: QualityMetric, threshold: number): string | undefined {
  if (metric !== 'maxAbsoluteError') return threshold > 0 && threshold <= 1 ? undefined : `must be a ratio in (0, 1] for ${metric}, such as 0.7`;
  return threshold >= 0 && Number.isFinite(threshold) ? undefined : 'must be a non-negative error such as 0.05 for maxAbsoluteError';
}

/** Properties of a {@link QualityGate}. */
export interface QualityGateProps {
  /** The golden set: `GoldenSet.fromFile('golden/churn.jsonl')` (lib/model/golden-set.ts). */
  readonly goldenSet: GoldenSet;
  /** @default 'accuracy' */
  readonly metric?: QualityMetric;
  /** accuracy/agreement: the lowest acceptable ratio in (0, 1], e.g. 0.7; maxAbsoluteError: the largest acceptable error. */
  readonly threshold: number;
  /** Where the answer is in the response body, a dotted path. @default 'prediction' */
  readonly prediction?: string;
  /** The request's path on the model server. @default '/predict' */
  readonly path?: string;
  /** Fewest samples a verdict needs. @default 30 */
  readonly minSamples?: number;
  /** Requests in flight at once. @default 4 */
  readonly concurrency?: number;
  /** Longest one request may take. @default Duration.seconds(5) */
  readonly timeout?: Duration;
}

/**
 * A model's quality gate, declared once on the model (`ModelDeployment`'s `quality`) and carried to the agent's
 * `images[].quality` with its golden set. Checked when constructed: every error names the field, the value and the fix.
 */
export class QualityGate {
  public readonly goldenSet: GoldenSet;
  public readonly metric: QualityMetric;
  public readonly threshold: number;
  public readonly prediction: string;
  public readonly path: string;
  public readonly minSamples: number;
  public readonly concurrency: number;
  public readonly timeout: Duration;

  constructor(props: QualityGateProps) {
    this.goldenSet = props.goldenSet;
    this.metric = props.metric ?? 'accuracy';
    this.threshold = props.threshold;
    this.prediction = props.prediction ?? 'prediction';
    this.path = props.path ?? '/predict';
    this.minSamples = props.minSamples ?? 30;
    this.concurrency = props.concurrency ?? 4;
    this.timeout = props.timeout ?? Duration.seconds(5);
    if (!(QUALITY_METRICS as readonly string[]).includes(this.metric)) {
      throw new Error(`'quality.metric' value '${this.metric}' is not one of ${QUALITY_METRICS.map((m) => `'${m}'`).join(', ')}`);
    }
    const bad = thresholdProblem(this.metric, this.threshold);
    if (bad) throw new Error(`'quality.threshold' value ${this.threshold} ${bad}`);
    if (!this.path.startsWith('/')) throw new Error(`'quality.path' value '${this.path}' must start with '/', such as '/predict'`);
    for (const [key, v] of [['minSamples', this.minSamples], ['concurrency', this.concurrency]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`'quality.${key}' value ${v} must be a whole number of at least 1`);
    }
    const few = tooFewSamples(this.goldenSet, this.metric, this.minSamples, 'quality.minSamples');
    if (few) throw new Error(`'quality.goldenSet' ${this.goldenSet.source} ${few}`);
  }

  /** agent.yaml's `images[].quality`, reading the golden set at `goldenSetPath` (where the bundle mounts it). */
  public toAgentConfig(goldenSetPath: string): Record<string, unknown> {
    return {
      goldenSet: goldenSetPath, metric: this.metric, threshold: this.threshold, prediction: this.prediction, path: this.path,
      minSamples: this.minSamples, concurrency: this.concurrency, timeout: toPromDuration(this.timeout),
    };
  }
}

/** Whether two answers are the same (deep equality of JSON values). */
export function sameAnswer(a: unknown, b: unknown): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

export interface QualityVerdict {
  readonly status: 'Healthy' | 'Unhealthy';
  readonly reason: string;
  readonly evidence: Readonly<Record<string, number>>;
}

/**
 * The verdict from replayed samples. accuracy/agreement: `matches` of `n`; maxAbsoluteError: `worst` error and the
 * number of samples within the threshold. `confidence` is the gate's (health.confidence).
 */
export function qualityVerdict(s: Pick<QualitySettings, 'metric' | 'threshold' | 'minSamples'>, r: { n: number; matches: number; worst?: number },
  confidence: number, what: string): QualityVerdict {
  if (r.n < s.minSamples) {
    return { status: 'Unhealthy', reason: `${what}: only ${r.n} sample(s) answered, fewer than minSamples ${s.minSamples}; not promoted without evidence`,
      evidence: { qualitySamples: r.n, qualityMatches: r.matches } };
  }
  if (s.metric === 'maxAbsoluteError') {
    const worst = r.worst ?? Infinity;
    const evidence = { qualitySamples: r.n, qualityMatches: r.matches, qualityWorstError: worst, qualityThreshold: s.threshold };
    return worst <= s.threshold
      ? { status: 'Healthy', reason: `${what}: every one of ${r.n} answers within ${s.threshold} (largest error ${round(worst)})`, evidence }
      : { status: 'Unhealthy', reason: `${what}: ${r.n - r.matches} of ${r.n} answers off by more than ${s.threshold} (largest error ${round(worst)})`, evidence };
  }
  const { lower, upper } = wilson(r.matches, r.n, zFor(confidence));
  const ratio = r.matches / r.n;
  const evidence = {
    qualitySamples: r.n, qualityMatches: r.matches, qualityRatio: ratio, qualityLower: lower, qualityUpper: upper, qualityThreshold: s.threshold,
  };
  const stated = `${s.metric} ${round(ratio)} (${r.matches}/${r.n}, ${Math.round(confidence * 100)} % interval [${round(lower)}, ${round(upper)}])`;
  if (lower >= s.threshold) return { status: 'Healthy', reason: `${what}: ${stated} at or above the floor ${s.threshold}`, evidence };
  if (upper < s.threshold) return { status: 'Unhealthy', reason: `${what}: ${stated} below the floor ${s.threshold}`, evidence };
  return { status: 'Unhealthy', reason: `${what}: ${stated} cannot be told apart from the floor ${s.threshold}; `
    + 'not promoted without evidence (add samples to the golden set or lower the threshold)', evidence };
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
