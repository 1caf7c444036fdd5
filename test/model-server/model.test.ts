import * as fs from 'fs';
import * as path from 'path';
import { InputError, LogisticModel, MAX_INSTANCES, parseModel, parsePredictRequest, score, sigmoid, toVector } from '../../examples/model-server/src/model';
import { DEFAULT_TRAIN_OPTIONS, generateDataset, renderModel, trainModel } from '../../examples/model-server/train/train';
import { LOYAL, RISKY, SERVER_DIR } from './helpers';

const MODEL_FILE = path.join(SERVER_DIR, 'model', 'model.json');
const shippedText = fs.readFileSync(MODEL_FILE, 'utf8');
const model = parseModel(shippedText);

describe('shipped churn model', () => {
  test('is exactly what train/train.ts produces (reproducible offline training)', () => {
    // WHEN the training script runs again with its defaults
    const retrained = renderModel(trainModel());
    // THEN it writes the shipped file byte for byte
    expect(retrained).toBe(shippedText);
  });

  test('recovers the ground-truth coefficients of the generated data set', () => {
    // The generator's true raw-unit coefficients (train.ts): tenure -0.045, charges 0.018, calls 0.38, month-to-month 1.3.
    const truth = [-0.045, 0.018, 0.38, 1.3];
    const raw = model.weights.map((w, i) => w / model.features[i].std);
    raw.forEach((w, i) => {
      expect(Math.sign(w)).toBe(Math.sign(truth[i]));
      expect(Math.abs(w - truth[i]) / Math.abs(truth[i])).toBeLessThan(0.15);
    });
  });

  test('scores well on the held-out split, better than always guessing the majority label', () => {
    const training = model.training as { testAccuracy: number; positiveRate: number };
    expect(training.testAccuracy).toBeGreaterThan(Math.max(training.positiveRate, 1 - training.positiveRate) + 0.05);
  });

  test('held-out accuracy recorded in the file matches a fresh evaluation of the shipped weights', () => {
    const data = generateDataset(DEFAULT_TRAIN_OPTIONS.seed, DEFAULT_TRAIN_OPTIONS.samples);
    const test = data.slice(Math.floor(data.length * 0.8));
    const correct = test.filter((e) => (score(model, e.x).probability >= 0.5 ? 1 : 0) === e.y).length;
    expect(correct / test.length).toBeCloseTo((model.training as { testAccuracy: number }).testAccuracy, 2);
  });
});

describe('predictions on known inputs', () => {
  test('a new month-to-month customer with many support calls churns', () => {
    const p = score(model, toVector(model, RISKY, 'features'));
    expect(p.label).toBe('churns');
    expect(p.probability).toBeGreaterThan(0.8);
  });

  test('a long-standing contract customer without calls stays', () => {
    const p = score(model, toVector(model, LOYAL, 'features'));
    expect(p.label).toBe('stays');
    expect(p.probability).toBeLessThan(0.1);
  });

  test('the probability is the logistic function of the standardised features', () => {
    const x = [12, 64.5, 3, 1];
    const z = model.bias + model.features.reduce((s, f, i) => s + model.weights[i] * ((x[i] - f.mean) / f.std), 0);
    expect(score(model, x).probability).toBeCloseTo(1 / (1 + Math.exp(-z)), 6);
  });

  test.each([
    ['support_calls_90d', 0, 10],
    ['monthly_charges', 20, 200],
  ])('more %s means a higher churn probability', (feature, low, high) => {
    const base = { ...LOYAL, tenure_months: 12 };
    const pLow = score(model, toVector(model, { ...base, [feature]: low }, 'features')).probability;
    const pHigh = score(model, toVector(model, { ...base, [feature]: high }, 'features')).probability;
    expect(pHigh).toBeGreaterThan(pLow);
  });

  test('sigmoid is stable for large magnitudes', () => {
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(0)).toBe(0.5);
  });
});

describe('request validation', () => {
  const expectInputError = (body: unknown, field: string, message: string): void => {
    let caught: unknown;
    try {
      parsePredictRequest(model, body);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as InputError).field).toBe(field);
    expect((caught as InputError).message).toBe(message);
  };

  test('accepts one instance under "features" and a batch under "instances"', () => {
    expect(parsePredictRequest(model, { features: RISKY })).toEqual({ vectors: [[1, 120, 8, 1]], batch: false });
    expect(parsePredictRequest(model, { instances: [RISKY, LOYAL] }).vectors).toHaveLength(2);
  });

  test.each<[string, unknown, string, string]>([
    [
      'a missing feature',
      { features: { tenure_months: 1, monthly_charges: 5, month_to_month: true } },
      'features.support_calls_90d',
      "'features.support_calls_90d' is missing; expected an integer from 0 to 50 (support calls in the last 90 days)",
    ],
    [
      'a string where a number belongs',
      { features: { ...RISKY, monthly_charges: '120' } },
      'features.monthly_charges',
      "'features.monthly_charges' is \"120\"; expected a number from 0 to 500 (monthly bill in EUR)",
    ],
    [
      'a fractional integer feature',
      { features: { ...RISKY, tenure_months: 2.5 } },
      'features.tenure_months',
      "'features.tenure_months' is 2.5; expected an integer from 0 to 120 (months as a customer)",
    ],
    [
      'an out-of-range value',
      { features: { ...RISKY, tenure_months: 500 } },
      'features.tenure_months',
      "'features.tenure_months' is 500, out of range; expected an integer from 0 to 120 (months as a customer)",
    ],
    [
      'a number where a boolean belongs',
      { features: { ...RISKY, month_to_month: 1 } },
      'features.month_to_month',
      "'features.month_to_month' is 1; expected true or false",
    ],
    [
      'an unknown feature',
      { features: { ...RISKY, age: 40 } },
      'features.age',
      "'features.age' is not a feature of model 'churn'; expected tenure_months, monthly_charges, support_calls_90d, month_to_month",
    ],
    [
      'a bad instance in a batch',
      { instances: [RISKY, { ...LOYAL, support_calls_90d: -1 }] },
      'instances[1].support_calls_90d',
      "'instances[1].support_calls_90d' is -1, out of range; expected an integer from 0 to 50 (support calls in the last 90 days)",
    ],
    ['an empty batch', { instances: [] }, 'instances', "'instances' must be a non-empty array of feature objects"],
    [
      'both forms at once',
      { features: RISKY, instances: [RISKY] },
      '(body)',
      "the request body must have exactly one of 'features' (one prediction) or 'instances' (a batch); got both",
    ],
    [
      'neither form',
      { inputs: [1, 2] },
      '(body)',
      "the request body must have exactly one of 'features' (one prediction) or 'instances' (a batch); got keys [inputs]",
    ],
    ['an extra top-level key', { features: RISKY, debug: true }, 'debug', "'debug' is not a request field; use 'features' or 'instances'"],
    ['features that are not an object', { features: [1, 120, 8, true] }, 'features', "'features' must be an object with the features tenure_months, monthly_charges, support_calls_90d, month_to_month"],
  ])('rejects %s, naming the field', (_case, body, field, message) => {
    expectInputError(body, field, message);
  });

  test('rejects a body that is not an object', () => {
    expect(() => parsePredictRequest(model, [RISKY])).toThrow(/^the request body must be a JSON object like \{"features": \{"tenure_months": 0/);
  });

  test(`rejects a batch larger than ${MAX_INSTANCES}`, () => {
    expectInputError(
      { instances: new Array(MAX_INSTANCES + 1).fill(LOYAL) },
      'instances',
      `'instances' has ${MAX_INSTANCES + 1} items; send at most ${MAX_INSTANCES} per request`,
    );
  });
});

describe('parseModel', () => {
  const good = JSON.parse(shippedText) as LogisticModel;

  test.each<[string, unknown, string]>([
    ['the schema is unknown', { ...good, schema: 'x/v0' }, "'schema' is 'x/v0', expected 'modelpilot.logistic-regression/v1'"],
    ['weights and features differ in length', { ...good, weights: [1, 2] }, "'weights' must hold one number per feature (4)"],
    ['a std is zero', { ...good, features: good.features.map((f, i) => (i === 2 ? { ...f, std: 0 } : f)) }, "'features[2].std' must be a number > 0"],
    ['the threshold is 1', { ...good, threshold: 1 }, "'threshold' must be a number between 0 and 1 (exclusive)"],
  ])('throws if %s', (_case, json, message) => {
    expect(() => parseModel(JSON.stringify(json), 'm.json')).toThrow(`m.json: ${message}; regenerate the model with train/train.ts`);
  });

  test('throws if the file is not JSON', () => {
    expect(() => parseModel('{', 'm.json')).toThrow(/^m\.json is not valid JSON \(.*\); regenerate it with train\/train\.ts$/);
  });
});
