/**
 * The quality gate on the real single-host world (#31): a real registry, podman's Docker API, HAProxy, Prometheus and
 * the agent image built from agent/Dockerfile run as shipped (test/support/single-host.ts), the reference model server
 * serving real models trained by examples/model-server/train/train.ts, and the golden set the repository ships. Every
 * version answers every request with 200 and well-formed predictions; only the quality gate can tell them apart.
 *
 * - shuffled labels + quality gate: replayed at its own port before it joins HAProxy's rotation, rejected, quarantined,
 *   0 failed requests, and no request through the proxy is answered by it;
 * - the same push with readiness + error rate only (the control): promoted;
 * - small drift + quality gate: promoted;
 * - the relative gate: 6 % errors replacing 3 %, both under a 10 % ceiling, judged on the same traffic during the bake
 *   window (both versions in rotation): rejected and quarantined; the same push with the absolute ceiling alone: promoted.
 *
 * Gaps to close (as the chaos suite): the agent's and the model's base images are built from this host's binaries
 * (test/support/agent-image.ts, scripts/build-test-image.ts), not upstream base images.
 */
import { modelQuality, relativeGate } from '../../bench/chaos/scenarios';
import { held, useChaosEnv } from '../support/chaos-env';

jest.setTimeout(600_000);

const world = useChaosEnv();

test('shuffled labels, quality gate: rejected before it takes traffic, quarantined, 0 failed requests', async () => {
  const r = await modelQuality(world.env, { version: '1.7.0', gate: 'quality' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers).toMatchObject({ outcome: 'rolled back', failedRequests: 0, answeredUsersOrWatcher: 0, goldenSet: expect.stringMatching(/^sha256:/) });
  expect(r.numbers.verdict).toMatch(/quality: Unhealthy \(golden set churn\.jsonl .*accuracy 0\.5 \(200\/400.*below the floor 0\.65/);
  expect(r.numbers.requests).toBeGreaterThan(100);
});

test('shuffled labels, readiness + error rate only (the control): promoted', async () => {
  const r = await modelQuality(world.env, { version: '1.7.0', gate: 'http-only' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers).toMatchObject({ outcome: 'promoted', failedRequests: 0, goldenSet: null });
});

test('small drift, quality gate: promoted', async () => {
  const r = await modelQuality(world.env, { version: '1.8.0', gate: 'quality' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers).toMatchObject({ outcome: 'promoted', failedRequests: 0 });
  expect(r.numbers.qualityLower as number).toBeGreaterThanOrEqual(0.65);
});

test('relative gate: twice the old version\'s errors, under the absolute ceiling, is rejected and quarantined', async () => {
  const r = await relativeGate(world.env, { gate: 'relative' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers.outcome).toBe('rolled back');
  expect(r.numbers.verdict).toMatch(/worse than 1\.9\.0: error ratio 0\.0[5-7]\d* \(\d+\/\d+\) vs 0\.0[2-4]\d* \(\d+\/\d+\): above 1\.5× the previous one's/);
});

test('relative gate control: the same push with the absolute ceiling alone is promoted', async () => {
  const r = await relativeGate(world.env, { gate: 'absolute-only' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers.outcome).toBe('promoted');
});
