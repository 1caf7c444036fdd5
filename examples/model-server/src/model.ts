/**
 * The reference model: a binary logistic-regression classifier ("will this customer churn?") stored as JSON.
 * Features are standardised with the training mean/std, then `p = sigmoid(bias + Σ wᵢ·zᵢ)`.
 * Trained offline by `train/train.ts` from a data set it generates with a fixed seed; nothing is downloaded.
 */

export const MODEL_SCHEMA = 'modelpilot.logistic-regression/v1';

export type FeatureKind = 'number' | 'integer' | 'boolean';

export interface FeatureSpec {
  readonly name: string;
  readonly kind: FeatureKind;
  /** Smallest accepted value (booleans: 0). */
  readonly min: number;
  /** Largest accepted value (booleans: 1). */
  readonly max: number;
  /** Training mean, for standardisation. */
  readonly mean: number;
  /** Training standard deviation, for standardisation (> 0). */
  readonly std: number;
  readonly description: string;
}

export interface LogisticModel {
  readonly schema: typeof MODEL_SCHEMA;
  readonly name: string;
  readonly version: string;
  readonly features: readonly FeatureSpec[];
  /** One weight per feature, in `features` order, on the standardised scale. */
  readonly weights: readonly number[];
  readonly bias: number;
  /** Probability at or above which the positive label is predicted. */
  readonly threshold: number;
  /** `[negative, positive]` */
  readonly labels: readonly [string, string];
  /** How the model was trained and how well it scored on the held-out split. */
  readonly training: Record<string, unknown>;
}

export interface Prediction {
  /** Probability of the positive label, rounded to 6 decimals. */
  readonly probability: number;
  readonly label: string;
}

/** A bad request body: `field` is the JSON path of the offending value (e.g. `instances[2].tenure_months`). */
export class InputError extends Error {
  constructor(
    public readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

/** Parses and checks a model file; the error names the bad key and the fix. */
export function parseModel(text: string, source = 'model file'): LogisticModel {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source} is not valid JSON (${(err as Error).message}); regenerate it with train/train.ts`);
  }
  const m = raw as Partial<LogisticModel>;
  const fail = (key: string, why: string): never => {
    throw new Error(`${source}: '${key}' ${why}; regenerate the model with train/train.ts`);
  };
  if (typeof raw !== 'object' || raw === null) fail('(root)', 'must be a JSON object');
  if (m.schema !== MODEL_SCHEMA) fail('schema', `is '${String(m.schema)}', expected '${MODEL_SCHEMA}'`);
  if (typeof m.name !== 'string' || m.name === '') fail('name', 'must be a non-empty string');
  if (typeof m.version !== 'string' || m.version === '') fail('version', 'must be a non-empty string');
  if (!Array.isArray(m.features) || m.features.length === 0) fail('features', 'must be a non-empty array');
  const features = m.features as FeatureSpec[];
  if (!Array.isArray(m.weights) || m.weights.length !== features.length) {
    fail('weights', `must hold one number per feature (${features.length})`);
  }
  (m.weights as number[]).forEach((w, i) => {
    if (!Number.isFinite(w)) fail(`weights[${i}]`, `is ${String(w)}, not a finite number`);
  });
  if (!Number.isFinite(m.bias)) fail('bias', 'must be a finite number');
  if (!Number.isFinite(m.threshold) || (m.threshold as number) <= 0 || (m.threshold as number) >= 1) {
    fail('threshold', 'must be a number between 0 and 1 (exclusive)');
  }
  if (!Array.isArray(m.labels) || m.labels.length !== 2 || !m.labels.every((l) => typeof l === 'string')) {
    fail('labels', 'must be two strings [negative, positive]');
  }
  features.forEach((f, i) => {
    if (typeof f.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(f.name)) fail(`features[${i}].name`, 'must be snake_case');
    if (!['number', 'integer', 'boolean'].includes(f.kind)) fail(`features[${i}].kind`, "must be 'number', 'integer' or 'boolean'");
    for (const k of ['min', 'max', 'mean'] as const) {
      if (!Number.isFinite(f[k])) fail(`features[${i}].${k}`, 'must be a finite number');
    }
    if (!Number.isFinite(f.std) || f.std <= 0) fail(`features[${i}].std`, 'must be a number > 0');
    if (f.min > f.max) fail(`features[${i}].min`, 'must not exceed max');
  });
  return m as LogisticModel;
}

/**
 * Checks one instance (an object keyed by feature name) and returns its feature vector.
 * @param at JSON path of the instance, used in error messages (e.g. `features` or `instances[3]`).
 */
export function toVector(model: LogisticModel, instance: unknown, at: string): number[] {
  const expected = model.features.map((f) => f.name).join(', ');
  if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) {
    throw new InputError(at, `'${at}' must be an object with the features ${expected}`);
  }
  const obj = instance as Record<string, unknown>;
  const known = new Set(model.features.map((f) => f.name));
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) throw new InputError(`${at}.${key}`, `'${at}.${key}' is not a feature of model '${model.name}'; expected ${expected}`);
  }
  return model.features.map((f) => {
    const field = `${at}.${f.name}`;
    const v = obj[f.name];
    if (v === undefined) throw new InputError(field, `'${field}' is missing; expected ${describe(f)}`);
    if (f.kind === 'boolean') {
      if (typeof v !== 'boolean') throw new InputError(field, `'${field}' is ${JSON.stringify(v)}; expected ${describe(f)}`);
      return v ? 1 : 0;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InputError(field, `'${field}' is ${JSON.stringify(v)}; expected ${describe(f)}`);
    }
    if (f.kind === 'integer' && !Number.isInteger(v)) {
      throw new InputError(field, `'${field}' is ${v}; expected ${describe(f)}`);
    }
    if (v < f.min || v > f.max) throw new InputError(field, `'${field}' is ${v}, out of range; expected ${describe(f)}`);
    return v;
  });
}

function describe(f: FeatureSpec): string {
  if (f.kind === 'boolean') return 'true or false';
  return `${f.kind === 'integer' ? 'an integer' : 'a number'} from ${f.min} to ${f.max} (${f.description})`;
}

/** Scores a feature vector (already checked by `toVector`). */
export function score(model: LogisticModel, x: readonly number[]): Prediction {
  let z = model.bias;
  model.features.forEach((f, i) => {
    z += model.weights[i] * ((x[i] - f.mean) / f.std);
  });
  const p = sigmoid(z);
  return { probability: Math.round(p * 1e6) / 1e6, label: p >= model.threshold ? model.labels[1] : model.labels[0] };
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Most instances accepted in one request. */
export const MAX_INSTANCES = 100;

/**
 * Validates a `/predict` body — `{"features": {...}}` for one prediction or `{"instances": [{...}, ...]}` for a
 * batch — and returns the feature vectors.
 */
export function parsePredictRequest(model: LogisticModel, body: unknown): { vectors: number[][]; batch: boolean } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InputError('(body)', `the request body must be a JSON object like {"features": {${exampleFeatures(model)}}}`);
  }
  const b = body as Record<string, unknown>;
  const hasOne = 'features' in b;
  const hasBatch = 'instances' in b;
  if (hasOne === hasBatch) {
    throw new InputError(
      '(body)',
      `the request body must have exactly one of 'features' (one prediction) or 'instances' (a batch); got ${
        hasOne ? 'both' : `keys [${Object.keys(b).join(', ')}]`
      }`,
    );
  }
  for (const key of Object.keys(b)) {
    if (key !== 'features' && key !== 'instances') throw new InputError(key, `'${key}' is not a request field; use 'features' or 'instances'`);
  }
  if (hasOne) return { vectors: [toVector(model, b.features, 'features')], batch: false };
  const instances = b.instances;
  if (!Array.isArray(instances) || instances.length === 0) {
    throw new InputError('instances', "'instances' must be a non-empty array of feature objects");
  }
  if (instances.length > MAX_INSTANCES) {
    throw new InputError('instances', `'instances' has ${instances.length} items; send at most ${MAX_INSTANCES} per request`);
  }
  return { vectors: instances.map((inst, i) => toVector(model, inst, `instances[${i}]`)), batch: true };
}

function exampleFeatures(model: LogisticModel): string {
  return model.features.map((f) => `"${f.name}": ${f.kind === 'boolean' ? 'true' : f.min}`).join(', ');
}
