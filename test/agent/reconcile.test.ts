import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_ROLLBACK } from '../../agent/loop';
import { backoffDelay } from '../../agent/retry';
import { TriggerEvent } from '../../agent/types';
import { sameImage } from '../../lib/core/image-ref';
import { UpdatePolicy } from '../../lib/core/update-policy';
import { FakeRegistry, FakeTarget, REPO, digestOf, harness, ref } from './fakes';

const poll: TriggerEvent = { source: 'poll' };
const webhook: TriggerEvent = { source: 'webhook:registry' };

describe('planning (policy × registry tags × quarantine)', () => {
  test.each([
    // running, policy, tags in the registry, quarantined, expected target version (undefined = stay)
    ['1.0.0', 'semver:minor', ['1.0.0', '1.0.1', '1.1.0', '2.0.0'], [], '1.1.0'],
    ['1.0.0', 'semver:patch', ['1.0.0', '1.0.1', '1.1.0', '2.0.0'], [], '1.0.1'],
    ['1.0.0', 'semver:major', ['1.0.0', '1.0.1', '1.1.0', '2.0.0'], [], '2.0.0'],
    ['1.0.0', 'pinned', ['1.0.0', '1.1.0', '2.0.0'], [], undefined],
    ['1.0.0', 'semver:minor', ['1.0.0', '1.1.0', '1.2.0'], ['1.2.0'], '1.1.0'],
    ['1.1.0', 'semver:minor', ['1.0.0', '1.1.0', '1.2.0'], ['1.2.0'], undefined],
    ['1.1.0', 'semver:minor', ['1.1.0', '1.2.0', '1.3.0'], ['1.2.0'], '1.3.0'],
    ['1.0.0', 'semver:minor', ['1.0.0', '1.1.0-rc.1'], [], undefined],
    ['1.0.0', 'semver:minor+prerelease', ['1.0.0', '1.1.0-rc.1'], [], '1.1.0-rc.1'],
    ['1.0.0', 'semver:minor', ['1.0.0', 'latest', 'nightly', 'v1.1.0'], [], 'v1.1.0'],
    ['1.0.0', 'semver:minor', ['0.9.0', '1.0.0'], [], undefined],
  ])('running %s with %s and tags %j (quarantined %j) → %s', async (running, policy, tags, quarantined, expected) => {
    // GIVEN
    const h = harness({ tags });
    h.target.add('recsys', `${REPO}:${running}`, { policy });
    for (const v of quarantined) h.quarantine.add({ model: 'recsys', version: v, reason: 'test', since: '', source: 'test' });
    // WHEN
    const report = await h.reconciler.runCycle([poll]);
    // THEN
    expect(report.failures).toEqual([]);
    const plans = report.updates.map((u) => `${u.plan}: ${u.result}`);
    expect(plans).toEqual(expected === undefined ? [] : [`recsys ${running} -> ${expected}: promoted`]);
    expect(h.target.get('recsys').image).toBe(expected === undefined ? `${REPO}:${running}` : ref(expected));
  });

  test('digest policy follows the same tag to a new digest, and only asks for that one digest on a quiet poll', async () => {
    const h = harness({ tags: ['1.0.0'] });
    const old = digestOf('1.0.0', 'old');
    h.target.add('recsys', `${REPO}:1.0.0@${old}`, { policy: 'digest' });
    // a quiet poll: the tag still points at the running digest
    h.registry.digests.set(`${REPO}:1.0.0`, old);
    expect((await h.reconciler.runCycle([poll])).updates).toEqual([]);
    expect(h.registry.requests).toEqual([`digest ${REPO}:1.0.0`]);
    // the tag is re-pushed
    h.registry.digests.set(`${REPO}:1.0.0`, digestOf('1.0.0', 'new'));
    h.clock.advance(60_000);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['promoted']);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0@${digestOf('1.0.0', 'new')}`);
  });

  test('a tag listed a moment before it resolves (a push in progress) is retried briefly, then rolled out', async () => {
    // GIVEN the registry lists 1.1.0 but its manifest answers 404 twice (the tag is not linked yet)
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.registry.unlinked.set(`${REPO}:1.1.0`, 2);
    // WHEN a registry push notification triggers a cycle
    const report = await h.reconciler.runCycle([{ source: 'webhook:registry', repositories: ['models/recsys'] }]);
    // THEN it waited 250 ms, then 500 ms, and rolled 1.1.0 out in the same cycle
    expect(report.failures).toEqual([]);
    expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    expect(h.registry.requests.filter((r) => r === `digest ${REPO}:1.1.0`)).toHaveLength(3);
    expect(h.clock.sleeps.slice(0, 2)).toEqual([250, 500]);
  });

  test('a listed tag that keeps answering 404 is a failure of this cycle, after three short retries', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.registry.unlinked.set(`${REPO}:1.1.0`, 10);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates).toEqual([]);
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toContain(`manifest unknown: ${REPO}:1.1.0`);
    expect(h.registry.requests.filter((r) => r === `digest ${REPO}:1.1.0`)).toHaveLength(4);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
  });

  test('a quiet poll costs one registry request per repository, however many workloads run it', async () => {
    const h = harness({ tags: ['1.0.0'] });
    h.target.add('a', `${REPO}:1.0.0`);
    h.target.add('b', `${REPO}:1.0.0`);
    h.target.add('c', '127.0.0.1:5000/models/other:2.0.0', { model: 'other' });
    h.registry.push('127.0.0.1:5000/models/other', '2.0.0');
    await h.reconciler.runCycle([poll]);
    expect(h.registry.requests.sort()).toEqual(['tags 127.0.0.1:5000/models/other', `tags ${REPO}`]);
  });

  test('an image entry in the config overrides the policy on the workload', async () => {
    const h = harness({ tags: ['1.0.0', '1.0.1', '1.1.0'], images: [{ repository: REPO, policy: UpdatePolicy.semver('patch') }] });
    h.target.add('recsys', `${REPO}:1.0.0`, { policy: 'semver:major' });
    await h.reconciler.runCycle([poll]);
    expect(h.target.get('recsys').image).toBe(ref('1.0.1'));
  });

  test('each repository is polled at its own interval; webhooks bypass the interval', async () => {
    const other = '127.0.0.1:5000/models/other';
    const h = harness({ tags: ['1.0.0'], pollIntervalMs: 1000, images: [{ repository: other, pollIntervalMs: 5000 }] });
    h.registry.push(other, '1.0.0');
    h.target.add('a', `${REPO}:1.0.0`);
    h.target.add('b', `${other}:1.0.0`, { model: 'other' });
    expect(h.reconciler.tickMs).toBe(1000);
    expect((await h.reconciler.runCycle([{ source: 'startup' }])).checked).toBe(2);
    h.clock.advance(1000);
    expect((await h.reconciler.runCycle([poll])).checked).toBe(1);
    h.clock.advance(1000);
    const report = await h.reconciler.runCycle([poll, { source: 'webhook:registry', repositories: ['models/other'] }]);
    expect(report.checked).toBe(2);
    expect(report.sources).toEqual(['poll', 'webhook:registry']);
  });

  test('a webhook for one model leaves the others alone', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.registry.push('127.0.0.1:5000/models/other', '1.0.0', '1.1.0');
    h.target.add('a', `${REPO}:1.0.0`);
    h.target.add('b', '127.0.0.1:5000/models/other:1.0.0', { model: 'other' });
    const report = await h.reconciler.runCycle([{ source: 'webhook:model', models: ['other'] }]);
    expect(report.updates.map((u) => u.plan)).toEqual(['b 1.0.0 -> 1.1.0']);
    expect(h.target.get('a').image).toBe(`${REPO}:1.0.0`);
  });
});

describe('apply → verify → promote | rollback', () => {
  test('a healthy update is applied, verified, promoted, audited and counted', async () => {
    const h = harness();
    h.target.add('recsys', `${REPO}:1.0.0`);
    await h.reconciler.runCycle([poll]);
    expect(h.target.calls).toEqual(['discover', 'apply recsys 1.0.0 -> 1.1.0 #1', 'waitReady recsys 1.0.0 -> 1.1.0', 'promote recsys 1.0.0 -> 1.1.0']);
    expect(h.target.get('recsys').inFlight).toBeUndefined();
    expect(h.audit.read().map((e) => `${e.event}:${e.result}`)).toEqual(['planned:ok', 'apply:started', 'verify:promote', 'promoted:ok']);
    const applied = h.audit.read()[1];
    expect(applied).toMatchObject({ target: 'fake/recsys', from: `${REPO}:1.0.0`, to: ref('1.1.0'), trigger: 'poll', attempt: 1 });
    expect(await h.metric('modelpilot_updater_updates_total', { result: 'promoted' })).toBe(1);
    expect(await h.metric('modelpilot_updater_cycles_total')).toBe(1);
    expect(await h.metric('modelpilot_updater_last_success_timestamp_seconds')).toBe(h.clock.now().getTime() / 1000);
  });

  test('a version that breaks its SLO is rolled back, quarantined and never applied again', async () => {
    const h = harness({ tags: ['1.1.0', '1.2.0'] });
    h.target.add('recsys', `${REPO}:1.1.0`);
    h.slo.verdicts.set('1.2.0', 'Unhealthy');
    const first = await h.reconciler.runCycle([poll]);
    expect(first.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.1.0`);
    expect(h.target.get('recsys').inFlight).toBeUndefined();
    expect(h.quarantine.list()).toEqual([expect.objectContaining({ model: 'recsys', version: '1.2.0', source: 'health-gate', repository: REPO })]);
    expect(h.quarantine.list()[0].reason).toBe('SLO broken: error ratio 0.5 > 0.05 over 1m');
    expect(await h.metric('modelpilot_updater_rollbacks_total')).toBe(1);
    expect(await h.metric('modelpilot_updater_updates_total', { result: 'rolled_back' })).toBe(1);
    expect(await h.metric('modelpilot_updater_quarantined_versions')).toBe(1);
    // next poll: nothing to do
    h.clock.advance(60_000);
    expect((await h.reconciler.runCycle([poll])).updates).toEqual([]);
    expect(h.target.calls.filter((c) => c.startsWith('apply'))).toHaveLength(1);
  });

  test('a version that never becomes ready is rolled back without an SLO check', async () => {
    const h = harness({ tags: ['1.1.0', '1.2.0'] });
    h.target.add('recsys', `${REPO}:1.1.0`);
    h.target.behaviour.set('1.2.0', { ready: 'Unhealthy' });
    await h.reconciler.runCycle([poll]);
    expect(h.slo.checked).toEqual([]);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.1.0`);
    expect(h.quarantine.list()[0].reason).toBe('not ready: readiness probe failed: HTTP 503');
  });

  test('a newer version supersedes a quarantined one; promoting past it drops the entry', async () => {
    const h = harness({ tags: ['1.1.0', '1.2.0'] });
    h.target.add('recsys', `${REPO}:1.1.0`);
    h.slo.verdicts.set('1.2.0', 'Unhealthy');
    await h.reconciler.runCycle([poll]);
    expect(h.quarantine.isQuarantined('recsys', '1.2.0')).toBe(true);
    h.registry.push(REPO, '1.3.0');
    h.clock.advance(60_000);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates).toEqual([{ workload: 'fake/recsys', plan: 'recsys 1.1.0 -> 1.3.0', result: 'promoted' }]);
    expect(h.quarantine.list()).toEqual([]);
    expect(h.audit.read().at(-1)).toMatchObject({ event: 'released', result: 'superseded', reason: '1.2.0 superseded by 1.3.0' });
  });

  test('a released version is applied again at the next cycle', async () => {
    const h = harness({ tags: ['1.1.0', '1.2.0'] });
    h.target.add('recsys', `${REPO}:1.1.0`);
    h.slo.verdicts.set('1.2.0', 'Unhealthy');
    await h.reconciler.runCycle([poll]);
    h.slo.verdicts.set('1.2.0', 'Healthy');
    expect(h.quarantine.release('recsys', '1.2.0')).toBeDefined();
    h.clock.advance(60_000);
    expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
    expect(h.target.get('recsys').image).toBe(ref('1.2.0'));
  });
});

describe('rollback policy: bounded attempts, timeout, exponential backoff', () => {
  test('backoff doubles from the initial delay up to the ceiling', () => {
    const b = { initialMs: 1000, maxMs: 5000, factor: 2 };
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, b))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(DEFAULT_ROLLBACK).toEqual({
      maxAttempts: 3, attemptTimeoutMs: 30_000, backoff: { initialMs: 1000, maxMs: 60_000, factor: 2 }, failureBudget: 3, maxRestarts: 3,
      watchAfterPromotionMs: 900_000,
    });
  });

  test('an apply that fails twice succeeds on the third attempt after backing off 1 s then 2 s', async () => {
    const h = harness();
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.behaviour.set('1.1.0', { applyFails: 2 });
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['promoted']);
    expect(h.target.calls.filter((c) => c.startsWith('apply'))).toEqual([
      'apply recsys 1.0.0 -> 1.1.0 #1', 'apply recsys 1.0.0 -> 1.1.0 #2', 'apply recsys 1.0.0 -> 1.1.0 #3',
    ]);
    // every failed attempt is reversed before the next one
    expect(h.target.calls.filter((c) => c.startsWith('rollback'))).toHaveLength(2);
    expect(h.clock.sleeps).toEqual([1000, 2000]);
    expect(report.failures).toHaveLength(2);
    expect(await h.metric('modelpilot_updater_failures_total')).toBe(2);
  });

  test('gives up after max attempts, restores the previous version and does not quarantine (the version never ran)', async () => {
    const h = harness({ rollback: { maxAttempts: 2 } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.behaviour.set('1.1.0', { applyFails: 'always' });
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['failed']);
    expect(h.target.calls.filter((c) => c.startsWith('apply'))).toHaveLength(2);
    expect(h.target.get('recsys')).toMatchObject({ image: `${REPO}:1.0.0`, inFlight: undefined });
    expect(h.quarantine.list()).toEqual([]);
    expect(await h.metric('modelpilot_updater_updates_total', { result: 'failed' })).toBe(1);
    expect(h.audit.read().at(-2)).toMatchObject({ event: 'failed', reason: 'gave up after 2 attempt(s): pull 127.0.0.1:5000/models/recsys:1.1.0@' + digestOf('1.1.0') + ' failed: manifest unknown' });
    expect(h.audit.read().at(-1)).toMatchObject({ event: 'failed', result: 'backoff', reason: 'failed cycle 1 of 3; next try after 2026-01-01T00:00:02.000Z' });
    // a failed apply is never audited as a successful rollback
    expect(h.audit.read().filter((e) => e.event === 'rolled-back')).toEqual([]);
    expect(h.audit.read().filter((e) => e.event === 'reverted').map((e) => e.result)).toEqual(['ok', 'ok']);
  });

  test('an apply that can never succeed backs off across cycles, then is quarantined after the failure budget', async () => {
    const h = harness({ rollback: { maxAttempts: 2, failureBudget: 3 } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.behaviour.set('1.1.0', { applyFails: 'always' });
    const applies = () => h.target.calls.filter((c) => c.startsWith('apply')).length;
    await h.reconciler.runCycle([webhook]);
    expect(applies()).toBe(2);
    // within the backoff (1 s after the first failed cycle) the version is not tried again
    await h.reconciler.runCycle([webhook]);
    expect(applies()).toBe(2);
    h.clock.advance(1000);
    await h.reconciler.runCycle([webhook]);
    expect(applies()).toBe(4);
    h.clock.advance(1000);
    await h.reconciler.runCycle([webhook]); // 2 s backoff after the second failed cycle: still waiting
    expect(applies()).toBe(4);
    h.clock.advance(1000);
    await h.reconciler.runCycle([webhook]);
    expect(applies()).toBe(6);
    expect(h.quarantine.list()).toEqual([expect.objectContaining({ version: '1.1.0', source: 'apply-failures' })]);
    expect(h.quarantine.list()[0].reason).toMatch(/^every apply failed in 3 cycle\(s\): pull .* failed: manifest unknown$/);
    h.clock.advance(3_600_000);
    await h.reconciler.runCycle([webhook]);
    expect(applies()).toBe(6);
  });

  test('an apply that hangs is cut off by the per-attempt timeout', async () => {
    const h = harness({ rollback: { maxAttempts: 1, attemptTimeoutMs: 50 } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.behaviour.set('1.1.0', { applyHangs: true });
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['failed']);
    expect(report.failures[0]).toBe('apply recsys 1.0.0 -> 1.1.0 (attempt 1): timed out after 50 ms (rollback.attemptTimeout)');
  });

  test('a rollback that fails is retried with backoff; when every attempt fails the in-flight record stays for the next cycle', async () => {
    const h = harness({ tags: ['1.1.0', '1.2.0'] });
    h.target.add('recsys', `${REPO}:1.1.0`);
    h.slo.verdicts.set('1.2.0', 'Unhealthy');
    h.target.rollbackFails = 3;
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['rollback_failed']);
    expect(h.clock.sleeps).toEqual([1000, 2000]);
    expect(h.target.get('recsys').inFlight).toMatchObject({ to: ref('1.2.0'), from: `${REPO}:1.1.0` });
    // the version is quarantined all the same, and the next cycle finishes the rollback from the record
    expect(h.quarantine.isQuarantined('recsys', '1.2.0')).toBe(true);
    const next = await h.reconciler.runCycle([poll]);
    expect(next.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.target.get('recsys')).toMatchObject({ image: `${REPO}:1.1.0`, inFlight: undefined });
  });
});

describe('inconclusive verdicts', () => {
  test('hold: keeps the new version unpromoted and in flight, verifies again next cycle, promotes once healthy', async () => {
    const h = harness({ inconclusive: 'hold' });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.slo.verdicts.set('1.1.0', 'Inconclusive');
    expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['held']);
    expect(h.target.get('recsys').inFlight).toMatchObject({ to: ref('1.1.0') });
    expect(h.target.calls).not.toContain('promote recsys 1.0.0 -> 1.1.0');
    expect(h.audit.read().at(-1)).toMatchObject({ event: 'held', result: 'inconclusive', reason: 'inconclusive, holding unpromoted: no traffic to judge' });
    h.slo.verdicts.set('1.1.0', 'Healthy');
    expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
    expect(h.target.get('recsys').inFlight).toBeUndefined();
  });

  test('hold: repeated identical holds are one audit entry, and their count when the hold ends', async () => {
    const h = harness({ inconclusive: 'hold' });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.slo.verdicts.set('1.1.0', 'Inconclusive');
    for (let i = 0; i < 10; i++) await h.reconciler.runCycle([poll]);
    expect(h.audit.read().map((e) => `${e.event}:${e.result}`)).toEqual(['planned:ok', 'apply:started', 'verify:hold', 'held:inconclusive']);
    h.slo.verdicts.set('1.1.0', 'Healthy');
    await h.reconciler.runCycle([poll]);
    const events = h.audit.read();
    expect(events.map((e) => `${e.event}:${e.result}`)).toEqual(['planned:ok', 'apply:started', 'verify:hold', 'held:inconclusive', 'held:inconclusive', 'verify:promote', 'promoted:ok']);
    expect(events[4].reason).toMatch(/^the same inconclusive verdict repeated 18 more time\(s\) until /);
  });

  test('probe: a passing synthetic probe promotes, and the reason says so', async () => {
    const h = harness({ inconclusive: 'probe' });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.slo.verdicts.set('1.1.0', 'Inconclusive');
    expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['promoted']);
    expect(h.probe.calls).toBe(1);
    expect(h.audit.read().find((e) => e.event === 'promoted')!.reason).toBe('SLO inconclusive (no traffic to judge); synthetic probe passed: probe Healthy');
  });

  test('probe: a failing synthetic probe rolls back and quarantines', async () => {
    const h = harness({ inconclusive: 'probe' });
    h.probe.status = 'Unhealthy';
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.slo.verdicts.set('1.1.0', 'Inconclusive');
    expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
  });

  test('rollback: an inconclusive verdict rolls back and quarantines', async () => {
    const h = harness({ inconclusive: 'rollback' });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.slo.verdicts.set('1.1.0', 'Inconclusive');
    expect((await h.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
    expect(h.probe.calls).toBe(0);
  });
});

describe('crash recovery from the in-flight record on the target', () => {
  const rec = (to: string) => ({ from: `${REPO}:1.0.0`, to, attempt: 1, startedAt: '2026-01-01T00:00:00.000Z', trigger: 'poll' });

  test('the new version runs: it is verified and promoted', async () => {
    const h = harness();
    h.target.add('recsys', ref('1.1.0'), { inFlight: rec(ref('1.1.0')) });
    const report = await h.reconciler.runCycle([{ source: 'startup' }]);
    expect(report.updates.map((u) => u.result)).toEqual(['promoted']);
    expect(h.target.calls).toEqual(['discover', 'waitReady recsys 1.0.0 -> 1.1.0', 'promote recsys 1.0.0 -> 1.1.0']);
    expect(h.audit.read()[0]).toMatchObject({ event: 'recovered', result: 'finishing' });
  });

  test('the new version runs but is unhealthy: rolled back from the record and quarantined', async () => {
    const h = harness({ tags: ['1.0.0', '1.2.0'] });
    h.target.add('recsys', ref('1.2.0'), { inFlight: rec(ref('1.2.0')) });
    h.slo.verdicts.set('1.2.0', 'Unhealthy');
    await h.reconciler.runCycle([{ source: 'startup' }]);
    expect(h.target.get('recsys')).toMatchObject({ image: `${REPO}:1.0.0`, inFlight: undefined });
    expect(h.quarantine.isQuarantined('recsys', '1.2.0')).toBe(true);
  });

  test('the switch never happened (killed before it): the update is reversed, nothing is quarantined', async () => {
    const h = harness({ tags: ['1.0.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`, { inFlight: rec(ref('1.1.0')) });
    const report = await h.reconciler.runCycle([{ source: 'startup' }]);
    expect(report.updates.map((u) => u.result)).toEqual(['aborted']);
    expect(h.target.calls).toEqual(['discover', 'rollback recsys 1.0.0 -> 1.1.0']);
    expect(h.target.get('recsys').inFlight).toBeUndefined();
    expect(h.quarantine.list()).toEqual([]);
    expect(h.audit.read()[0]).toMatchObject({ event: 'recovered', result: 'reversing' });
  });
});

describe('every rollback verdict quarantines, whatever the path', () => {
  const rec = (to: string) => ({ from: `${REPO}:1.0.0`, to, attempt: 1, startedAt: '2026-01-01T00:00:00.000Z', trigger: 'poll' });

  test('killed after the rollback verdict was audited: the next agent rolls back and quarantines without judging again', async () => {
    const h = harness({ tags: ['1.0.0', '1.2.0'] });
    h.target.add('recsys', ref('1.2.0'), { inFlight: rec(ref('1.2.0')) });
    h.audit.append({ event: 'apply', target: 'fake/recsys', model: 'recsys', from: `${REPO}:1.0.0`, to: ref('1.2.0'), attempt: 1, result: 'started' });
    h.audit.append({ event: 'verify', target: 'fake/recsys', model: 'recsys', from: `${REPO}:1.0.0`, to: ref('1.2.0'), attempt: 1, result: 'rollback', reason: 'not ready: readiness probe failed' });
    // even though the version would now look healthy, the recorded verdict stands
    const report = await h.reconciler.runCycle([{ source: 'startup' }]);
    expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.target.calls).toEqual(['discover', 'rollback recsys 1.0.0 -> 1.2.0']);
    expect(h.quarantine.list()).toEqual([expect.objectContaining({ version: '1.2.0', reason: 'not ready: readiness probe failed' })]);
    expect(await h.metric('modelpilot_updater_rollbacks_total')).toBe(1);
    h.clock.advance(60_000);
    await h.reconciler.runCycle([poll]);
    expect(h.target.calls.filter((c) => c.startsWith('apply'))).toEqual([]);
  });

  test('a version that stops running after the gate (promote fails): a failed update, rolled back and quarantined', async () => {
    const h = harness();
    h.target.add('recsys', `${REPO}:1.0.0`);
    const promote = h.target.promote.bind(h.target);
    h.target.promote = async (plan) => {
      await promote(plan);
      h.target.behaviour.set('1.1.0', { ready: 'Unhealthy', runtime: [{ running: false, restarts: 0, oomKilled: false, detail: 'container recsys exited (code 1)' }] });
      return { ok: false, reason: 'container recsys-modelpilot-next is not running (exited 1)' };
    };
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
    expect(h.quarantine.list()[0]).toMatchObject({ version: '1.1.0' });
    expect(h.quarantine.list()[0].reason).toMatch(/^promote failed \(container recsys-modelpilot-next is not running \(exited 1\)\) and the new version is not running/);
    expect(await h.metric('modelpilot_updater_updates_total', { result: 'failed' })).toBe(1);
  });
});

describe('fail safe when state cannot be persisted', () => {
  test('a quarantine that cannot be written holds the workload, reports degraded, and is written when the disk accepts it', async () => {
    const h = harness({ tags: ['1.1.0', '1.2.0'] });
    h.target.add('recsys', `${REPO}:1.1.0`);
    h.slo.verdicts.set('1.2.0', 'Unhealthy');
    // the store's temp file cannot be created (as on a full disk)
    const blocker = `${h.quarantine.file}.${process.pid}.tmp`;
    fs.mkdirSync(blocker, { recursive: true });
    fs.writeFileSync(path.join(blocker, 'x'), '');
    const first = await h.reconciler.runCycle([poll]);
    expect(first.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.reconciler.degraded.get('quarantine')).toMatch(/^cannot write the quarantine store .*quarantine\.json \(EISDIR\)/);
    expect(await h.metric('modelpilot_updater_degraded')).toBe(1);
    expect(await h.metric('modelpilot_updater_state_write_failures_total', { store: 'quarantine' })).toBe(1);
    // later cycles: the bad version is never applied again, the workload is left alone
    for (let i = 0; i < 3; i++) {
      h.clock.advance(60_000);
      const r = await h.reconciler.runCycle([webhook]);
      expect(r.failures.some((f) => f.startsWith('fake/recsys: held, the quarantine of 1.2.0 could not be written'))).toBe(true);
    }
    expect(h.target.calls.filter((c) => c.startsWith('apply'))).toHaveLength(1);
    expect(fs.existsSync(h.quarantine.file)).toBe(false);
    // the disk accepts writes again: the entry is written, the agent is healthy again
    fs.rmSync(blocker, { recursive: true });
    await h.reconciler.runCycle([webhook]);
    expect(JSON.parse(fs.readFileSync(h.quarantine.file, 'utf8')).entries).toEqual([expect.objectContaining({ version: '1.2.0' })]);
    expect(h.reconciler.degraded.size).toBe(0);
    expect(await h.metric('modelpilot_updater_degraded')).toBe(0);
    expect(h.target.calls.filter((c) => c.startsWith('apply'))).toHaveLength(1);
  });
});

describe('Alertmanager-triggered rollback', () => {
  test('rolls a promoted version back to what ran before (from the audit log) and quarantines it', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    await h.reconciler.runCycle([poll]);
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));
    const report = await h.reconciler.runCycle([{ source: 'webhook:alertmanager', rollback: { model: 'recsys', version: '1.1.0', reason: 'ModelHighErrorRate firing' } }]);
    expect(report.updates).toEqual([{ workload: 'fake/recsys', plan: 'recsys 1.1.0 -> 1.0.0', result: 'rolled_back' }]);
    expect(h.target.get('recsys')).toMatchObject({ image: `${REPO}:1.0.0`, inFlight: undefined });
    expect(h.quarantine.list()).toEqual([expect.objectContaining({ model: 'recsys', version: '1.1.0', source: 'webhook:alertmanager', reason: 'alert: ModelHighErrorRate firing' })]);
    expect(await h.metric('modelpilot_updater_rollbacks_total')).toBe(1);
    // and the next poll does not go back to 1.1.0
    h.clock.advance(60_000);
    expect((await h.reconciler.runCycle([poll])).updates).toEqual([]);
  });

  test('without an audit record, goes back to the highest lower version in the registry', async () => {
    const h = harness({ tags: ['0.9.0', '1.0.0', '1.0.5', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.1.0`);
    await h.reconciler.runCycle([{ source: 'webhook:alertmanager', rollback: { model: 'recsys', version: 'v1.1.0', reason: 'p99 high' } }]);
    expect(h.target.get('recsys').image).toBe(ref('1.0.5'));
  });

  test('an alert for a version in flight rolls it back from the record', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', ref('1.1.0'), { inFlight: { from: `${REPO}:1.0.0`, to: ref('1.1.0'), attempt: 1, startedAt: '', trigger: 'poll' } });
    await h.reconciler.runCycle([{ source: 'webhook:alertmanager', rollback: { model: 'recsys', version: '1.1.0', reason: 'errors' } }]);
    expect(h.target.get('recsys')).toMatchObject({ image: `${REPO}:1.0.0`, inFlight: undefined });
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
  });

  test('an alert that began before an operator released its version is ignored (audited once); a new alert acts', async () => {
    // GIVEN 1.1.0 was rolled back and quarantined by an alert, and an operator then released it
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.1.0`);
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    const alert = { source: 'webhook:alertmanager', rollback: { model: 'recsys', version: '1.1.0', reason: 'errors', startsAt } };
    await h.reconciler.runCycle([alert]);
    expect(h.target.get('recsys').image).toBe(ref('1.0.0'));
    expect(h.quarantine.release('recsys', '1.1.0')).toBeDefined();
    h.clock.advance(60_000);
    await h.reconciler.runCycle([poll]);
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));
    const calls = h.target.calls.length;
    // WHEN the same alert arrives again (Alertmanager's repeat, or a replay), twice, by either path
    await h.reconciler.runCycle([alert]);
    await h.reconciler.rollbackNow(alert);
    // THEN nothing is touched, the release stands, and one 'ignored' entry says why
    expect(h.target.calls.slice(calls).filter((c) => !c.startsWith('discover'))).toEqual([]);
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(false);
    const ignored = h.audit.read().filter((e) => e.event === 'ignored');
    expect(ignored).toHaveLength(1);
    expect(ignored[0].reason).toBe(`1.1.0: alert: errors, firing since ${startsAt}, began before an operator released this version; a new alert would act`);
    // AND an alert that begins after the release acts as usual
    await new Promise((r) => setTimeout(r, 5));
    await h.reconciler.runCycle([{ ...alert, rollback: { ...alert.rollback, startsAt: new Date().toISOString() } }]);
    expect(h.target.get('recsys').image).toBe(ref('1.0.0'));
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
  });

  test('knows which models its workloads run once it has discovered them (the webhook server refuses others)', async () => {
    const h = harness({ tags: ['1.0.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    expect(h.reconciler.knowsModel('recsys')).toBeUndefined(); // nothing discovered yet: the server accepts
    await h.reconciler.runCycle([poll]);
    expect(h.reconciler.knowsModel('recsys')).toBe(true);
    expect(h.reconciler.knowsModel('recsy')).toBe(false);
  });

  test('an alert for a version nothing runs still quarantines it, and touches nothing', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`, { policy: 'pinned' });
    await h.reconciler.runCycle([{ source: 'webhook:alertmanager', rollback: { model: 'recsys', version: '1.1.0', reason: 'errors' } }]);
    expect(h.target.calls).toEqual(['discover']);
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
  });
});

describe('failures are data: one bad target never stops the loop', () => {
  test('a target that cannot be listed is counted; the other target is still updated', async () => {
    const broken = new FakeTarget('broken');
    broken.discoverFails = true;
    const good = new FakeTarget('good');
    good.add('recsys', `${REPO}:1.0.0`);
    const h = harness({ targets: [broken, good] });
    const report = await h.reconciler.runCycle([poll]);
    expect(report.failures).toEqual(['discover broken: broken API unreachable']);
    expect(report.updates.map((u) => u.result)).toEqual(['promoted']);
    expect(good.get('recsys').image).toBe(ref('1.1.0'));
    expect(await h.metric('modelpilot_updater_failures_total')).toBe(1);
    expect(await h.metric('modelpilot_updater_last_success_timestamp_seconds')).toBe(0);
  });

  test('a registry that is down for one repository does not stop updates of another', async () => {
    const h = harness();
    const registry = h.registry as FakeRegistry;
    h.target.add('other', '127.0.0.1:5001/models/other:1.0.0', { model: 'other' });
    h.target.add('recsys', `${REPO}:1.0.0`);
    const listTags = registry.listTags.bind(registry);
    registry.listTags = async (repo) => {
      if (repo.registry === '127.0.0.1:5001') throw new Error('registry 127.0.0.1:5001 answered 429 Too Many Requests');
      return listTags(repo);
    };
    const report = await h.reconciler.runCycle([poll]);
    expect(report.failures).toEqual(['fake/other: registry 127.0.0.1:5001 answered 429 Too Many Requests']);
    expect(h.target.get('other').image).toBe('127.0.0.1:5001/models/other:1.0.0');
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));
  });
});

describe('the loop: runs now, coalesces triggers, stops on abort', () => {
  test('runs one cycle at once, coalesces events that arrive meanwhile into one more cycle, and stops on abort', async () => {
    const h = harness({ tags: ['1.0.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    const ctl = new AbortController();
    let emit!: (e: TriggerEvent) => void;
    const cycles: string[][] = [];
    const run = h.reconciler.runCycle.bind(h.reconciler);
    h.reconciler.runCycle = async (events, signal) => {
      cycles.push(events.map((e) => e.source));
      if (cycles.length === 1) {
        emit({ source: 'poll' });
        emit({ source: 'webhook:registry' });
        emit({ source: 'poll' });
      }
      const r = await run(events, signal);
      if (cycles.length === 2) ctl.abort();
      return r;
    };
    await h.reconciler.run([{ start: async (e) => { emit = e; } }], ctl.signal);
    expect(cycles).toEqual([['startup'], ['poll', 'webhook:registry', 'poll']]);
  });

  test('an abort mid-verification restores the previous version and leaves no record in flight', async () => {
    const h = harness();
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.slo.verdicts.set('1.1.0', 'wait-for-abort');
    const ctl = new AbortController();
    const cycle = h.reconciler.runCycle([poll], ctl.signal);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.target.get('recsys').inFlight).toBeDefined();
    ctl.abort();
    const report = await cycle;
    expect(report.updates.map((u) => u.result)).toEqual(['aborted']);
    expect(h.target.get('recsys')).toMatchObject({ image: `${REPO}:1.0.0`, inFlight: undefined });
    expect(h.quarantine.list()).toEqual([]);
    expect(h.audit.read().at(-1)).toMatchObject({ event: 'aborted', result: 'ok' });
  });

  test('an abort during apply lets the apply finish, then reverses it', async () => {
    const h = harness();
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.add('second', `${REPO}:1.0.0`);
    const ctl = new AbortController();
    const apply = h.target.apply.bind(h.target);
    h.target.apply = async (plan, signal) => {
      ctl.abort();
      await new Promise((r) => setTimeout(r, 10));
      return apply(plan, signal);
    };
    const report = await h.reconciler.runCycle([poll], ctl.signal);
    expect(report.updates.map((u) => `${u.workload}:${u.result}`)).toEqual(['fake/recsys:aborted']);
    expect(h.target.get('recsys')).toMatchObject({ image: `${REPO}:1.0.0`, inFlight: undefined });
    // the loop started nothing new after the abort
    expect(h.target.get('second').image).toBe(`${REPO}:1.0.0`);
  });
});

describe('sameImage', () => {
  test.each([
    [`${REPO}:1.0.0`, `${REPO}:1.0.0@${digestOf('1.0.0')}`, true],
    [`${REPO}:1.0.0@${digestOf('a')}`, `${REPO}:1.0.0@${digestOf('b')}`, false],
    [`${REPO}:1.0.0`, `${REPO}:1.1.0`, false],
    [`${REPO}:1.0.0`, '127.0.0.1:5000/models/other:1.0.0', false],
  ])('%s vs %s → %s', (a, b, same) => {
    expect(sameImage(a, b)).toBe(same);
  });
});

describe('engines that forget the tag', () => {
  test('a workload reported as repo@digest gets its tag back from the promotion that put it there, and keeps updating', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    await h.reconciler.runCycle([poll]);
    // podman reports the container as repo@digest, without the tag
    h.target.get('recsys').image = `${REPO}@${digestOf('1.1.0')}`;
    h.registry.push(REPO, '1.2.0');
    h.clock.advance(60_000);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates).toEqual([{ workload: 'fake/recsys', plan: 'recsys 1.1.0 -> 1.2.0', result: 'promoted' }]);
    expect(h.audit.read().filter((e) => e.event === 'apply').at(-1)).toMatchObject({ from: ref('1.1.0'), to: ref('1.2.0') });
  });

  test('a bare digest the agent never rolled out is skipped, not guessed; the skip is explained once (#28)', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}@${digestOf('1.0.0')}`);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates).toEqual([]);
    expect(report.failures).toEqual([]);
    await h.reconciler.runCycle([poll]);
    const skipped = h.audit.read().filter((e) => e.event === 'skipped');
    expect(skipped).toEqual([expect.objectContaining({ target: 'fake/recsys', result: 'no-tag' })]);
    expect(skipped[0].reason).toContain('its image has no tag (a bare digest the agent did not roll out)');
  });

  test('a watched container on :latest (Watchtower\'s first container) is skipped with one log line and one audit entry naming the fix (#28)', async () => {
    const h = harness({ tags: ['latest', '1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:latest`);
    for (let i = 0; i < 3; i++) {
      const report = await h.reconciler.runCycle([poll]);
      expect(report.updates).toEqual([]);
    }
    const skipped = h.audit.read().filter((e) => e.event === 'skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ target: 'fake/recsys', result: 'not-semver', from: `${REPO}:latest` });
    expect(skipped[0].reason).toBe(`fake/recsys runs ${REPO}:latest and is not updated: its tag 'latest' is not a semantic version, which the policy `
      + "semver:minor needs to find a newer one; give the Deployment a versioned image tag (e.g. :1.4.0), or set images[].policy: digest in agent.yaml to follow the tag's digest");
  });
});
