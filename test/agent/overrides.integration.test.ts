/**
 * Operator overrides against the real distribution registry (the agent's own registry client; fake target and clock):
 * each guard, and the same run without it, which the guard exists to prevent.
 */
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { harness, tmpDir, realRegistry } from './fakes';

let reg: TestRegistry;
const digests: Record<string, string> = {};
beforeAll(async () => {
  reg = await startRegistry();
  for (const v of ['1.0.0', '1.1.0', '1.2.0']) digests[v] = await pushEmptyImage(reg, 'models/ops', v);
});
afterAll(async () => reg?.stop());

/** A harness whose registry calls go to the real registry. */
function agent(dir = tmpDir()) {
  const registry = realRegistry();
  return harness({ registry, dir });
}
const image = (v: string) => `${reg.host}/models/ops:${v}@${digests[v]}`;
const plans = (r: { updates: Array<{ plan: string; result: string }> }) => r.updates.map((u) => `${u.plan}: ${u.result}`);

test('hold: nothing moves; without the hold the newest version goes', async () => {
  const held = agent();
  held.target.add('ops', image('1.0.0'), { model: 'ops' });
  held.overrides.hold({ model: 'ops', reason: 'freeze', since: '2026-01-01T00:00:00Z', source: 'operator' });
  expect(plans(await held.reconciler.runCycle([{ source: 'poll' }]))).toEqual([]);
  const free = agent();
  free.target.add('ops', image('1.0.0'), { model: 'ops' });
  expect(plans(await free.reconciler.runCycle([{ source: 'poll' }]))).toEqual(['ops 1.0.0 -> 1.2.0: promoted']);
});

test('pin: back to 1.1.0 with the registry\'s digest, and kept there; without the pin the workload stays on 1.2.0', async () => {
  const pinned = agent();
  pinned.target.add('ops', image('1.2.0'), { model: 'ops' });
  pinned.overrides.pin({ model: 'ops', version: '1.1.0', reason: 'regression', since: '2026-01-01T00:00:00Z', source: 'operator' });
  expect(plans(await pinned.reconciler.runCycle([{ source: 'poll' }]))).toEqual(['ops 1.2.0 -> 1.1.0: promoted']);
  expect(pinned.target.get('ops').image).toBe(image('1.1.0'));
  expect(plans(await pinned.reconciler.runCycle([{ source: 'poll' }]))).toEqual([]);
  const unpinned = agent();
  unpinned.target.add('ops', image('1.2.0'), { model: 'ops' });
  expect(plans(await unpinned.reconciler.runCycle([{ source: 'poll' }]))).toEqual([]);
  expect(unpinned.target.get('ops').image).toBe(image('1.2.0'));
});

test('a manual rollback is held, not undone; an agent without the audit history (no guard) undoes it', async () => {
  const a = agent();
  a.target.add('ops', image('1.0.0'), { model: 'ops' });
  expect(plans(await a.reconciler.runCycle([{ source: 'poll' }]))).toEqual(['ops 1.0.0 -> 1.2.0: promoted']);
  a.target.get('ops').image = image('1.0.0'); // a person rolls back
  a.clock.advance(60_000);
  expect(plans(await a.reconciler.runCycle([{ source: 'poll' }]))).toEqual([]);
  expect(a.target.get('ops').image).toBe(image('1.0.0'));
  // the same situation seen by an agent that knows nothing of what it settled on: it re-applies 1.2.0
  const blind = agent();
  blind.target.add('ops', image('1.0.0'), { model: 'ops' });
  expect(plans(await blind.reconciler.runCycle([{ source: 'poll' }]))).toEqual(['ops 1.0.0 -> 1.2.0: promoted']);
});
