/**
 * `minImageAge`: a version younger than the minimum waits (from its image config's `created`, else from when the
 * agent first saw it); an older version the policy also accepts goes meanwhile; the wait is audited once, with
 * until when, and shown by `modelpilot_updater_waiting_versions{reason="min_image_age"}`.
 */
import { TriggerEvent } from '../../agent/types';
import { Duration } from '../../lib/core/duration';
import { FakeRegistry, harness, ref, REPO } from './fakes';

const poll: TriggerEvent = { source: 'poll' };
const HOUR = 3_600_000;
const at = (h: ReturnType<typeof harness>, agoMs: number): Date => new Date(h.clock.now().getTime() - agoMs);

describe('minImageAge', () => {
  test('a version pushed a minute ago waits until it is an hour old, then rolls out; the wait is audited once', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'], minImageAge: Duration.millis(HOUR) });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.registry.created.set(`${REPO}:1.1.0`, at(h, 60_000));

    let report = await h.reconciler.runCycle([poll]);
    expect(report.updates).toEqual([]);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
    expect(await h.metric('modelpilot_updater_waiting_versions', { reason: 'min_image_age' })).toBe(1);
    const waits = h.audit.read().filter((e) => e.event === 'waiting');
    expect(waits).toEqual([expect.objectContaining({
      target: 'fake/recsys', result: 'min-image-age',
      reason: `1.1.0 is younger than minImageAge 3600s (created ${at(h, 60_000).toISOString()}); it waits until ${new Date(at(h, 60_000).getTime() + HOUR).toISOString()}`,
    })]);

    // a second poll half an hour later: still waiting, not audited again
    h.clock.advance(HOUR / 2);
    report = await h.reconciler.runCycle([poll]);
    expect(report.updates).toEqual([]);
    expect(h.audit.read().filter((e) => e.event === 'waiting')).toHaveLength(1);

    // an hour after the push: rolled out
    h.clock.advance(HOUR / 2);
    report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    expect(await h.metric('modelpilot_updater_waiting_versions', { reason: 'min_image_age' })).toBe(0);
  });

  test('the newest version is too young, an older newer-than-current one is old enough: that one goes meanwhile', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0', '1.2.0'], minImageAge: Duration.millis(HOUR) });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.registry.created.set(`${REPO}:1.1.0`, at(h, 2 * HOUR));
    h.registry.created.set(`${REPO}:1.2.0`, at(h, 5 * 60_000));
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));
    expect(h.audit.read().find((e) => e.event === 'waiting')?.reason).toMatch(/^1\.2\.0 is younger than minImageAge/);
  });

  test('no created in the image config: the age counts from when the agent first saw the tag', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'], minImageAge: Duration.minutes(10) });
    h.target.add('recsys', `${REPO}:1.0.0`);
    expect((await h.reconciler.runCycle([poll])).updates).toEqual([]);
    expect(h.audit.read().find((e) => e.event === 'waiting')?.reason).toContain("(first seen 2026-01-01T00:00:00.000Z (no 'created' in its image config))");
    h.clock.advance(10 * 60_000);
    expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
  });

  test('a per-image minImageAge overrides the default; 0 takes a version at once', async () => {
    const registry = new FakeRegistry(REPO, ['1.0.0', '1.1.0']);
    const h = harness({ registry, minImageAge: Duration.millis(HOUR), images: [{ repository: REPO, minImageAge: Duration.millis(0) }] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    registry.created.set(`${REPO}:1.1.0`, at(h, 1000));
    expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
    // and without a minimum, the registry is not even asked for the age
    expect(registry.requests.some((r) => r.startsWith('created '))).toBe(false);
  });
});
