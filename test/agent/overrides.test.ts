/**
 * Operator overrides that stick: holds (until a time or released), pins (exactly this version, through the gate),
 * manual rollbacks detected and turned into holds; all durable in the state directory, all in the audit log.
 */
import { TriggerEvent } from '../../agent/types';
import { harness, ref, REPO } from './fakes';

const poll: TriggerEvent = { source: 'poll' };
const plans = (r: { updates: Array<{ plan: string; result: string }> }) => r.updates.map((u) => `${u.plan}: ${u.result}`);

describe('hold', () => {
  test('a hold stops automatic updates (audited once, counted) until it is released', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.overrides.hold({ model: 'recsys', reason: 'incident 4711', since: '2026-01-01T00:00:00Z', source: 'operator' });

    expect(plans(await h.reconciler.runCycle([poll]))).toEqual([]);
    h.clock.advance(60_000);
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual([]);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
    expect(h.audit.read().filter((e) => e.event === 'hold')).toEqual([expect.objectContaining({
      target: 'fake/recsys', result: 'operator', reason: 'automatic updates of recsys are held until released (operator): incident 4711',
    })]);
    expect(await h.metric('modelpilot_updater_waiting_versions', { reason: 'hold' })).toBe(1);

    h.overrides.releaseHold('recsys');
    h.clock.advance(60_000);
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    expect(await h.metric('modelpilot_updater_waiting_versions', { reason: 'hold' })).toBe(0);
  });

  test('a hold with an end time ends by itself', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.overrides.hold({ model: 'recsys', until: '2026-01-01T01:00:00.000Z', reason: 'freeze', since: '2026-01-01T00:00:00Z', source: 'operator' });
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual([]);
    h.clock.advance(3_600_000);
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
  });

  test('a hold survives an agent restart (the store is in the state directory)', async () => {
    const first = harness({ tags: ['1.0.0', '1.1.0'] });
    first.overrides.hold({ model: 'recsys', reason: 'keep', since: '2026-01-01T00:00:00Z', source: 'operator' });
    const restarted = harness({ tags: ['1.0.0', '1.1.0'], dir: first.dir });
    restarted.target.add('recsys', `${REPO}:1.0.0`);
    expect(plans(await restarted.reconciler.runCycle([poll]))).toEqual([]);
  });
});

describe('pin', () => {
  test('a pin to an older version moves the workload there through the gate, then keeps it there; unpinned, updates resume', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0', '1.2.0'] });
    h.target.add('recsys', ref('1.1.0'));
    h.overrides.pin({ model: 'recsys', version: '1.0.0', reason: 'regression in 1.1', since: '2026-01-01T00:00:00Z', source: 'operator' });

    expect(plans(await h.reconciler.runCycle([poll]))).toEqual(['recsys 1.1.0 -> 1.0.0: promoted']);
    expect(h.target.get('recsys').image).toBe(ref('1.0.0'));
    expect(h.slo.checked).toEqual(['1.0.0']); // the pinned version went through the health gate
    h.clock.advance(60_000);
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual([]); // 1.2.0 is not taken
    expect(h.audit.read().filter((e) => e.event === 'pinned').map((e) => e.reason)).toEqual(['recsys is pinned to 1.0.0: regression in 1.1']);

    h.overrides.unpin('recsys');
    h.clock.advance(60_000);
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual(['recsys 1.0.0 -> 1.2.0: promoted']);
  });

  test('a pin to a quarantined version is refused (audited once); the workload stays', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', ref('1.0.0'));
    h.quarantine.add({ model: 'recsys', version: '1.1.0', reason: 'error ratio 0.5', since: '', source: 'health-gate' });
    h.overrides.pin({ model: 'recsys', version: '1.1.0', reason: 'try again', since: '2026-01-01T00:00:00Z', source: 'operator' });
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual([]);
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual([]);
    expect(h.audit.read().filter((e) => e.event === 'pinned')).toEqual([expect.objectContaining({
      result: 'refused', reason: 'recsys is pinned to 1.1.0, which is quarantined; it stays on 1.0.0 until the pin or the quarantine is released',
    })]);
  });
});

describe('a manual rollback', () => {
  test('is detected, becomes a durable hold, and is not undone; released, the agent resumes from there', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    // a person puts 1.0.0 back (kubectl set image, docker run …)
    h.target.get('recsys').image = ref('1.0.0');
    h.clock.advance(60_000);
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual([]);
    expect(h.target.get('recsys').image).toBe(ref('1.0.0'));
    const hold = h.overrides.holdOf('recsys', h.clock.now());
    expect(hold).toMatchObject({ source: 'manual-rollback', reason: 'manual rollback detected: recsys runs 1.0.0, the agent had settled it on 1.1.0; 1.1.0 and newer are not applied until the hold is released' });
    expect(h.audit.read().filter((e) => e.event === 'hold').map((e) => e.result)).toEqual(['manual-rollback']);

    // a restarted agent (same state directory) keeps the hold
    const restarted = harness({ tags: ['1.0.0', '1.1.0'], dir: h.dir });
    restarted.target.add('recsys', ref('1.0.0'));
    expect(plans(await restarted.reconciler.runCycle([poll]))).toEqual([]);

    // released: the agent goes on from the version the person chose (no second detection), to the newest allowed
    restarted.overrides.releaseHold('recsys');
    restarted.clock.advance(60_000);
    expect(plans(await restarted.reconciler.runCycle([poll]))).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
  });

  test('a newer image set by hand is not a rollback (the policy just goes on)', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0', '1.2.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`, { policy: 'semver:patch' });
    h.target.get('recsys').image = ref('1.2.0');
    expect(plans(await h.reconciler.runCycle([poll]))).toEqual([]);
    expect(h.overrides.holdOf('recsys', h.clock.now())).toBeUndefined();
  });
});
