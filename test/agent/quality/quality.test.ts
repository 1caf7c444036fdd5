/**
 * The quality gate's replay and verdict against the reference model server (in-process, 127.0.0.1) serving real
 * models trained by examples/model-server/train/train.ts: the reference, one trained on shuffled labels (200 OK,
 * valid outputs, no signal) and one retrained on a fresh sample (a small, acceptable drift). The golden set is the
 * one the repository ships (examples/model-server/golden/churn.jsonl).
 */
import * as fs from 'fs';
import { QualityCheck } from '../../../agent/health/quality';
import type { HttpRequester } from '../../../agent/http-client';
import { readAuditFile } from '../../../agent/state/audit';
import type { UpdatePlan } from '../../../agent/types';
import { goldenSet, Variant } from '../../../examples/model-server/train/train';
import { parseConfig } from '../../../lib/core/contract/agent-config';
import { GoldenSet, QualitySettings, qualityVerdict } from '../../../lib/core/quality';
import { GOLDEN_FILE, startTrainedServers, TrainedServers } from '../../support/trained-servers';
import { harness, REPO } from '../fakes';

let servers: TrainedServers;
const urls: Partial<Record<Variant, string>> = {};

beforeAll(async () => {
  servers = await startTrainedServers();
  Object.assign(urls, servers.url);
});

afterAll(() => servers?.stop());

const settings = (o: Partial<QualitySettings> = {}): QualitySettings => ({
  goldenSet: GOLDEN_FILE, metric: 'accuracy', threshold: 0.65, prediction: 'prediction.label', path: '/predict',
  minSamples: 100, concurrency: 4, timeoutMs: 5000, ...o,
});
const plan = { workload: { model: 'churn' }, to: 'registry.example.com/models/churn:1.1.0' } as unknown as UpdatePlan;
const check = (s: QualitySettings) => new QualityCheck({ qualityFor: () => ({ settings: s, set: GoldenSet.parse(fs.readFileSync(GOLDEN_FILE, 'utf8'), 'churn.jsonl') }), confidence: 0.95 })
  .forPlan(plan)!;

test('the shipped golden set is what train.ts generates: 400 samples, 200 of each label', () => {
  const text = fs.readFileSync(GOLDEN_FILE, 'utf8');
  expect(text).toBe(goldenSet());
  const set = GoldenSet.parse(text, 'churn.jsonl');
  expect(set.samples).toHaveLength(400);
  expect(set.samples.filter((s) => s.expected === 'churns')).toHaveLength(200);
  expect(set.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
});

test('accuracy: the reference and the drifted version pass the floor, the shuffled-labels version fails it', async () => {
  const s = settings();
  const ref = await check(s)({ url: urls.reference! });
  const drift = await check(s)({ url: urls.drift! });
  const shuffled = await check(s)({ url: urls['shuffled-labels']! });
  expect([ref.status, drift.status, shuffled.status]).toEqual(['Healthy', 'Healthy', 'Unhealthy']);
  expect(shuffled.reason).toMatch(/accuracy 0\.5 \(200\/400, 95 % interval \[0\.45\d*, 0\.54\d*\]\) below the floor 0\.65/);
  expect(ref.evidence).toMatchObject({ qualitySamples: 400, qualityMatches: 289 });
  expect(shuffled.goldenSet).toEqual({ source: 'churn.jsonl', digest: expect.stringMatching(/^sha256:/), samples: 400 });
});

test('agreement with the serving version: the drift agrees, the shuffled labels do not; without the old address it refuses', async () => {
  const s = settings({ metric: 'agreement', threshold: 0.9 });
  const drift = await check(s)({ url: urls.drift!, previousUrl: urls.reference! });
  const shuffled = await check(s)({ url: urls['shuffled-labels']!, previousUrl: urls.reference! });
  expect([drift.status, shuffled.status]).toEqual(['Healthy', 'Unhealthy']);
  expect(drift.evidence?.qualityRatio).toBeCloseTo(0.98, 2);
  const alone = await check(s)({ url: urls.drift! });
  expect(alone).toMatchObject({ status: 'Unhealthy', reason: expect.stringMatching(/agreement needs the serving version's address/) });
});

test('an address that does not answer is wrong on every sample, not an error of the agent', async () => {
  const r = await check(settings({ timeoutMs: 500 }))({ url: 'http://127.0.0.1:9' });
  expect(r).toMatchObject({ status: 'Unhealthy', evidence: { qualitySamples: 400, qualityMatches: 0 } });
});

test('verdicts: bounds that straddle the floor are not promoted; too few samples are not promoted; maxAbsoluteError', () => {
  const s = { metric: 'accuracy' as const, threshold: 0.7, minSamples: 10 };
  expect(qualityVerdict(s, { n: 40, matches: 29 }, 0.95, 'g').status).toBe('Unhealthy');
  expect(qualityVerdict(s, { n: 40, matches: 29 }, 0.95, 'g').reason).toMatch(/cannot be told apart from the floor 0\.7/);
  expect(qualityVerdict(s, { n: 1000, matches: 800 }, 0.95, 'g').status).toBe('Healthy');
  expect(qualityVerdict(s, { n: 5, matches: 5 }, 0.95, 'g').reason).toMatch(/fewer than minSamples 10/);
  const mae = { metric: 'maxAbsoluteError' as const, threshold: 0.05, minSamples: 1 };
  expect(qualityVerdict(mae, { n: 3, matches: 3, worst: 0.01 }, 0.95, 'g').status).toBe('Healthy');
  expect(qualityVerdict(mae, { n: 3, matches: 2, worst: 0.2 }, 0.95, 'g')).toMatchObject({ status: 'Unhealthy', reason: expect.stringMatching(/1 of 3 answers off by more than 0\.05/) });
});

test('bad golden sets and settings are refused naming the line or the field, the value and the fix', () => {
  expect(() => GoldenSet.parse('{"input": {}}\nnot json\n', 'g.jsonl')).toThrow(/golden set g\.jsonl line 2 is not JSON .*write one \{"input"/);
  expect(() => GoldenSet.parse('{"expected": 1}\n', 'g.jsonl')).toThrow(/line 1 has no 'input'/);
  expect(() => GoldenSet.parse('{"input": 1, "label": 2}\n', 'g.jsonl')).toThrow(/line 1 has the key 'label'; a sample has only 'input' and 'expected'/);
  expect(() => GoldenSet.parse('\n\n', 'g.jsonl')).toThrow(/has no samples/);
  const base = { targets: { docker: {} }, images: [{ repository: '127.0.0.1:5000/models/churn', quality: { goldenSet: '/g.jsonl', threshold: 0.7 } }] };
  expect(parseConfig(base).images[0].quality).toEqual({ goldenSet: '/g.jsonl', metric: 'accuracy', threshold: 0.7, prediction: 'prediction',
    path: '/predict', minSamples: 30, concurrency: 4, timeoutMs: 5000 });
  const bad = (q: object) => () => parseConfig({ ...base, images: [{ ...base.images[0], quality: { goldenSet: '/g.jsonl', threshold: 0.7, ...q } }] });
  expect(bad({ threshold: 1.5 })).toThrow(/'images\[0\]\.quality\.threshold'.*1\.5.*must be a ratio in \(0, 1\] for accuracy/s);
  expect(bad({ metric: 'f1' })).toThrow(/'accuracy', 'agreement', 'maxAbsoluteError'/);
  expect(bad({ goldenSet: 'g.jsonl' })).toThrow(/must be an absolute path/);
  expect(bad({ path: 'predict' })).toThrow(/must start with '\/'/);
});

describe('the loop with a quality gate (fake target and registry; the answers per version come from a fake HTTP requester)', () => {
  // 1.1.0 answers right on every sample, 1.2.0 answers 'stays' to everything (a constant: 0.5 on the balanced set)
  const set = GoldenSet.parse(fs.readFileSync(GOLDEN_FILE, 'utf8'), 'churn.jsonl');
  const request: HttpRequester = async (req) => {
    const version = /fake\/([^/]+)\//.exec(req.url)?.[1];
    const sample = set.samples.find((x) => JSON.stringify(x.input) === req.body)!;
    const label = version === '1.2.0' ? 'stays' : sample.expected;
    const body = Buffer.from(JSON.stringify({ prediction: { label } }));
    return { status: 200, ok: true, headers: {} as never, body, url: req.url, text: () => body.toString() } as never;
  };
  const withQuality = (tags = ['1.0.0', '1.2.0']) => {
    const quality = new QualityCheck({ qualityFor: (r) => (r === REPO ? { settings: settings(), set } : undefined), confidence: 0.95, request });
    const h = harness({ tags, gate: { quality } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    return h;
  };

  test('a version whose answers are wrong is rolled back before traffic, quarantined, and the audit records the golden set', async () => {
    const h = withQuality();
    const report = await h.reconciler.runCycle([{ source: 'poll' }]);
    expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.2.0: rolled_back']);
    expect(h.target.calls.filter((c) => /^(waitReady|quality)/.test(c))).toEqual(['waitReady recsys 1.0.0 -> 1.2.0', 'quality recsys 1.0.0 -> 1.2.0']);
    const verify = readAuditFile(h.audit.file).entries.find((e) => e.event === 'verify')!;
    expect(verify).toMatchObject({ result: 'rollback', goldenSet: { source: 'churn.jsonl', digest: set.digest, samples: 400 },
      evidence: expect.objectContaining({ qualityMatches: 200, qualitySamples: 400 }) });
    expect(verify.reason).toMatch(/^readiness: Healthy \(ready; then held out of traffic by the quality gate\); quality: Unhealthy \(golden set churn\.jsonl/);
    expect(h.quarantine.isQuarantined('recsys', '1.2.0')).toBe(true);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
  });

  test('a right version goes on to the SLO check and is promoted; a model without a golden set is not replayed', async () => {
    const h = withQuality(['1.0.0', '1.1.0']);
    const report = await h.reconciler.runCycle([{ source: 'poll' }]);
    expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    const other = harness({ tags: ['1.0.0', '1.1.0'], gate: { quality: new QualityCheck({ qualityFor: () => undefined, confidence: 0.95, request }) } });
    other.target.add('recsys', `${REPO}:1.0.0`);
    await other.reconciler.runCycle([{ source: 'poll' }]);
    expect(other.target.calls.some((c) => c.startsWith('quality'))).toBe(false);
  });

  test('a target that cannot run the quality gate never promotes the version', async () => {
    const quality = new QualityCheck({ qualityFor: () => ({ settings: settings(), set }), confidence: 0.95, request });
    const h = harness({ tags: ['1.0.0', '1.1.0'], gate: { quality } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    const ready = h.target.waitReady.bind(h.target);
    h.target.waitReady = (plan) => ready(plan); // drops beforeTraffic, as a target without the hook would
    const report = await h.reconciler.runCycle([{ source: 'poll' }]);
    expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(readAuditFile(h.audit.file).entries.find((e) => e.event === 'verify')?.reason).toMatch(/the fake target did not run the quality gate/);
  });
});
