/**
 * Trains the reference churn model offline and writes `model/model.json`.
 *
 *   npx ts-node --transpile-only examples/model-server/train/train.ts [--variant reference|shuffled-labels|drift] \
 *     [--version 1.0.0] [--out model.json]
 *   npx ts-node --transpile-only examples/model-server/train/train.ts --golden examples/model-server/golden/churn.jsonl
 *
 * The data set is generated here from a fixed seed (a synthetic telco-churn population with a known ground truth
 * plus label noise), split 80/20, and fitted with full-batch gradient descent on the L2-regularised log-loss.
 * Everything is deterministic: the same seed gives the same file byte for byte (a unit test checks this).
 */
import * as fs from 'fs';
import * as path from 'path';
import { FeatureSpec, LogisticModel, MODEL_SCHEMA, sigmoid } from '../src/model';

export interface Example {
  readonly x: number[];
  readonly y: 0 | 1;
}

export const FEATURES: ReadonlyArray<Omit<FeatureSpec, 'mean' | 'std'>> = [
  { name: 'tenure_months', kind: 'integer', min: 0, max: 120, description: 'months as a customer' },
  { name: 'monthly_charges', kind: 'number', min: 0, max: 500, description: 'monthly bill in EUR' },
  { name: 'support_calls_90d', kind: 'integer', min: 0, max: 50, description: 'support calls in the last 90 days' },
  { name: 'month_to_month', kind: 'boolean', min: 0, max: 1, description: 'on a month-to-month contract' },
];

/** mulberry32: a tiny, well-known seeded PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Synthetic customers; churn follows a logistic ground truth in raw units. */
export function generateDataset(seed: number, n: number): Example[] {
  const rand = prng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
  const out: Example[] = [];
  for (let i = 0; i < n; i++) {
    const tenure = Math.round(clamp(-Math.log(1 - rand()) * 30, 0, 120));
    const monthToMonth = rand() < 0.55 ? 1 : 0;
    const charges = Math.round(clamp(45 + 25 * normal() + (monthToMonth ? 10 : 0), 5, 500) * 100) / 100;
    const calls = Math.round(clamp(-Math.log(1 - rand()) * 2.5, 0, 50));
    const z = -1.2 - 0.045 * tenure + 0.018 * (charges - 45) + 0.38 * calls + 1.3 * monthToMonth;
    const y = rand() < sigmoid(z) ? 1 : 0;
    out.push({ x: [tenure, charges, calls, monthToMonth], y });
  }
  return out;
}

export interface TrainOptions {
  readonly seed: number;
  readonly samples: number;
  readonly epochs: number;
  readonly learningRate: number;
  readonly l2: number;
  /**
   * Train on labels shuffled across the training rows (a broken join or preprocessing step): the model learns no
   * signal, answers every request with 200 and valid outputs, and is wrong — what an HTTP-level gate cannot see.
   */
  readonly shuffleLabels?: boolean;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = { seed: 20260101, samples: 5000, epochs: 1500, learningRate: 0.5, l2: 0.001 };

/** The model versions the tests and docs train: what each one is. */
export const VARIANTS = {
  /** The reference model (model/model.json). */
  reference: DEFAULT_TRAIN_OPTIONS,
  /** Trained on shuffled labels: valid outputs, 200 OK, predictions no better than a constant. */
  'shuffled-labels': { ...DEFAULT_TRAIN_OPTIONS, shuffleLabels: true },
  /** Retrained on a fresh sample of the same population: a small, acceptable drift in its answers. */
  drift: { ...DEFAULT_TRAIN_OPTIONS, seed: 20260202 },
} as const satisfies Record<string, TrainOptions>;
export type Variant = keyof typeof VARIANTS;

const round = (v: number, digits = 6): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** Generates the data, fits the model and returns it with its held-out scores. */
export function trainModel(opts: TrainOptions = DEFAULT_TRAIN_OPTIONS, name = 'churn', version = '1.0.0'): LogisticModel {
  const data = generateDataset(opts.seed, opts.samples);
  const split = Math.floor(data.length * 0.8);
  const trainSet = opts.shuffleLabels ? shuffledLabels(data.slice(0, split), opts.seed) : data.slice(0, split);
  const testSet = data.slice(split);
  const d = FEATURES.length;
  const mean = Array.from({ length: d }, (_, j) => trainSet.reduce((s, e) => s + e.x[j], 0) / trainSet.length);
  const std = Array.from({ length: d }, (_, j) =>
    Math.sqrt(trainSet.reduce((s, e) => s + (e.x[j] - mean[j]) ** 2, 0) / trainSet.length) || 1,
  );
  const z = (x: number[]): number[] => x.map((v, j) => (v - mean[j]) / std[j]);
  const zs = trainSet.map((e) => z(e.x));
  const w = new Array<number>(d).fill(0);
  let b = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const gw = new Array<number>(d).fill(0);
    let gb = 0;
    for (let i = 0; i < zs.length; i++) {
      let s = b;
      for (let j = 0; j < d; j++) s += w[j] * zs[i][j];
      const err = sigmoid(s) - trainSet[i].y;
      for (let j = 0; j < d; j++) gw[j] += err * zs[i][j];
      gb += err;
    }
    for (let j = 0; j < d; j++) w[j] -= opts.learningRate * (gw[j] / zs.length + opts.l2 * w[j]);
    b -= opts.learningRate * (gb / zs.length);
  }
  let correct = 0;
  let logLoss = 0;
  for (const e of testSet) {
    const xz = z(e.x);
    let s = b;
    for (let j = 0; j < d; j++) s += w[j] * xz[j];
    const p = Math.min(1 - 1e-12, Math.max(1e-12, sigmoid(s)));
    if ((p >= 0.5 ? 1 : 0) === e.y) correct++;
    logLoss -= e.y * Math.log(p) + (1 - e.y) * Math.log(1 - p);
  }
  const positives = data.filter((e) => e.y === 1).length;
  return {
    schema: MODEL_SCHEMA,
    name,
    version,
    features: FEATURES.map((f, j) => ({ ...f, mean: round(mean[j]), std: round(std[j]) })),
    weights: w.map((v) => round(v)),
    bias: round(b),
    threshold: 0.5,
    labels: ['stays', 'churns'],
    training: {
      algorithm: 'logistic regression, full-batch gradient descent, L2',
      dataset: 'synthetic telco churn generated by train/train.ts',
      seed: opts.seed, samples: opts.samples, epochs: opts.epochs, learningRate: opts.learningRate, l2: opts.l2,
      ...(opts.shuffleLabels ? { shuffleLabels: true } : {}),
      trainSamples: trainSet.length,
      testSamples: testSet.length,
      positiveRate: round(positives / data.length, 4),
      testAccuracy: round(correct / testSet.length, 4),
      testLogLoss: round(logLoss / testSet.length, 4),
    },
  };
}

/** The rows with their labels permuted among them (Fisher–Yates from a seeded PRNG): same label balance, no signal. */
function shuffledLabels(rows: Example[], seed: number): Example[] {
  const rand = prng(seed ^ 0x5eed);
  const labels = rows.map((r) => r.y);
  for (let i = labels.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [labels[i], labels[j]] = [labels[j], labels[i]];
  }
  return rows.map((r, i) => ({ x: r.x, y: labels[i] }));
}

/** The seed of the golden set: customers none of the models was trained on. */
export const GOLDEN_SEED = 20261207;

/**
 * A golden set for the quality gate, as JSON lines: `{"input": <a /predict body>, "expected": <the true label>}`,
 * `perClass` customers of each true label (balanced, so a model that answers a constant scores 0.5), drawn from the
 * same population with a seed no model was trained on.
 */
export function goldenSet(perClass = 200, seed = GOLDEN_SEED): string {
  const labels = ['stays', 'churns'];
  const taken = [0, 0];
  const lines: string[] = [];
  for (const e of generateDataset(seed, perClass * 20)) {
    if (taken[e.y] >= perClass) continue;
    taken[e.y]++;
    const features = Object.fromEntries(FEATURES.map((f, j) => [f.name, f.kind === 'boolean' ? e.x[j] === 1 : e.x[j]]));
    lines.push(JSON.stringify({ input: { features }, expected: labels[e.y] }));
    if (taken[0] >= perClass && taken[1] >= perClass) break;
  }
  if (taken[0] < perClass || taken[1] < perClass) throw new Error(`the population gave only ${taken.join('/')} customers per class; lower perClass`);
  return `${lines.join('\n')}\n`;
}

export function renderModel(model: LogisticModel): string {
  return `${JSON.stringify(model, null, 2)}\n`;
}

if (require.main === module) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const golden = arg('--golden');
  if (golden) {
    fs.mkdirSync(path.dirname(golden), { recursive: true });
    fs.writeFileSync(golden, goldenSet());
    process.stdout.write(`wrote ${golden}\n`);
  } else {
    const variant = (arg('--variant') ?? 'reference') as Variant;
    if (!(variant in VARIANTS)) throw new Error(`'--variant' value '${variant}' is not one of ${Object.keys(VARIANTS).join(', ')}`);
    const out = arg('--out') ?? path.join(__dirname, '..', 'model', 'model.json');
    const model = trainModel(VARIANTS[variant], 'churn', arg('--version') ?? '1.0.0');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, renderModel(model));
    process.stdout.write(`wrote ${out}: ${JSON.stringify(model.training)}\n`);
  }
}
