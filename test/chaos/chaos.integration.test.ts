/**
 * The fast subset of the chaos suite (`npm run chaos` runs all of it and writes bench/results/chaos.json): the same
 * scenario code on the same real world (registry behind a fault proxy, podman, HAProxy, Prometheus, the agent), one
 * scenario per kind of failure, each asserting its invariant.
 */
import { ChaosEnv, startChaosEnv } from '../../bench/chaos/harness';
import { agentKilled, containerKilled, healthyUpdate, registryFault, ScenarioResult } from '../../bench/chaos/scenarios';

jest.setTimeout(300_000);

let env: ChaosEnv;

beforeAll(async () => {
  env = await startChaosEnv();
}, 900_000);

afterAll(async () => {
  await env?.stop();
}, 180_000);

const held = (r: ScenarioResult) => ({ held: r.held, violations: r.violations });

test('a healthy version under load goes live behind HAProxy with no failed request', async () => {
  const r = await healthyUpdate(env, { proxy: true, version: '1.1.0' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers.failedRequests).toBe(0);
  expect(r.numbers.requests).toBeGreaterThan(1000);
});

test('a model container SIGKILLed from the host (restart policy no) serves again, restarted by the agent', async () => {
  const r = await containerKilled(env, { version: '1.0.0' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers.killedToServingMs).toBeGreaterThan(0);
});

test('the agent SIGKILLed right after creating the new container: never neither version, settled after restart', async () => {
  const r = await agentKilled(env, { step: 'after-create' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers.failedRequests).toBe(0);
});

test('a 429 storm from the registry during the poll: nothing changes until it passes, then the version goes', async () => {
  const r = await registryFault(env, { fault: '429', phase: 'poll' });
  expect(held(r)).toEqual({ held: true, violations: [] });
  expect(r.numbers.faultedRequests).toBeGreaterThan(0);
});
