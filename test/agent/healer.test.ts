/**
 * The healer on fakes (fast tier): the gate watches the target beside the metrics, the running version is watched
 * after promotion, workloads of different registries do not wait for each other, and an alert rollback does not
 * wait for a poll. The same on the real registry + podman is in healer.integration.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TriggerEvent } from '../../agent/types';
import { FakeRegistry, FakeTarget, REPO, digestOf, harness, ref } from './fakes';

const poll: TriggerEvent = { source: 'poll' };

describe('the gate sees what users see: the target state beside the metrics', () => {
  test('a version that is ready, then exits during the bake is rolled back at once and quarantined', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.behaviour.set('1.1.0', { runtime: [
      { running: true, restarts: 0, oomKilled: false, detail: 'container recsys running, 0 restart(s)' },
      { running: false, restarts: 0, oomKilled: false, detail: 'container recsys is exited (exit code 1, 0 restart(s))' },
    ] });
    // the metrics would keep the gate waiting for the whole bake: only the target's state can end it
    h.slo.verdicts.set('1.1.0', 'wait-for-abort');
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: rolled_back']);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
    const verify = h.audit.read().find((e) => e.event === 'verify')!;
    expect(verify.result).toBe('rollback');
    expect(verify.reason).toContain('runtime: Unhealthy (container recsys is exited (exit code 1');
    expect(await h.metric('modelpilot_updater_rollbacks_total')).toBe(1);
  });

  test.each([
    ['a restart', { running: true, restarts: 2, oomKilled: false, detail: 'container recsys running, 2 restart(s)' }, /2 restart\(s\) since it was ready/],
    ['an OOM kill', { running: true, restarts: 0, oomKilled: true, detail: 'pod recsys-abc OOMKilled' }, /OOM-killed: pod recsys-abc OOMKilled/],
  ])('%s during the bake is a rollback, whatever the metrics say', async (_name, later, reason) => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.behaviour.set('1.1.0', { runtime: [{ running: true, restarts: 0, oomKilled: false, detail: 'ok' }, later] });
    h.slo.verdicts.set('1.1.0', 'wait-for-abort');
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.audit.read().find((e) => e.event === 'quarantined')?.reason).toMatch(reason);
  });

  test('a promote waits out the running grace and asks the target once more before it', async () => {
    // the SLO says healthy at once; the container dies during the grace → no promote
    const h = harness({ tags: ['1.0.0', '1.1.0'], gate: { runningGraceMs: 10_000 } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.behaviour.set('1.1.0', { runtime: [
      { running: true, restarts: 0, oomKilled: false, detail: 'running' },
      { running: false, restarts: 0, oomKilled: false, detail: 'container recsys is exited (exit code 137)' },
    ] });
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
  });

  test('a version that keeps running is promoted as before', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'], gate: { runningGraceMs: 10_000 } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['promoted']);
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));
  });
});

describe('the running version is watched, not only updates', () => {
  test('a crashed current version is started again, counted and audited, within one cycle', async () => {
    const h = harness({ tags: ['1.0.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`).down = 'container recsys is exited (exit code 137)';
    const report = await h.reconciler.runCycle([poll]);
    expect(h.target.calls).toContain('revive recsys');
    expect(h.target.get('recsys').down).toBeUndefined();
    expect(report.updates).toEqual([{ workload: 'fake/recsys', plan: 'recsys restart 1/3', result: 'restarted' }]);
    expect(await h.metric('modelpilot_updater_restarts_total')).toBe(1);
    expect(h.audit.read().find((e) => e.event === 'restarted')?.reason).toContain('exit code 137');
  });

  test('restarts are bounded with backoff; a version that keeps crashing goes back to the one it replaced, quarantined', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'], rollback: { maxRestarts: 2 } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    // 1.1.0 is promoted, then crashes on every start
    await h.reconciler.runCycle([poll]);
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));
    h.target.behaviour.set('1.1.0', { crashesOnStart: true });
    const results: string[] = [];
    for (let i = 0; i < 6; i++) {
      if (h.target.get('recsys').image === ref('1.1.0')) h.target.get('recsys').down = 'container recsys is exited (exit code 1)';
      const r = await h.reconciler.runCycle([poll]);
      results.push(...r.updates.map((u) => `${u.plan}: ${u.result}`));
      h.clock.advance(1000);
    }
    // two restarts (the second after its backoff), then back to 1.0.0
    expect(results).toEqual(['recsys restart 1/2', 'recsys restart 2/2', 'recsys 1.1.0 -> 1.0.0: rolled_back'].map((x) => x.includes('->') ? x : `${x}: restarted`));
    expect(h.target.revives).toBe(3); // 2 restarts + the start that lets the update move off it
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
    expect(h.audit.read().find((e) => e.event === 'quarantined')?.reason).toMatch(/crashed again after 2 restart\(s\)/);
  });
});

describe('the post-promotion watch (rollback.watchAfterPromotion)', () => {
  const restarting = (restarts: number) => ({ running: true, restarts, oomKilled: false, detail: `container recsys running, ${restarts} restart(s)` });

  test('a promoted version restarted by the engine maxRestarts times is rolled back to the version it replaced, quarantined first', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'], rollback: { maxRestarts: 3 } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    await h.reconciler.runCycle([poll]);
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));
    // the engine's restart policy brings it back each time: never "down" for long, but its restart count rises
    h.target.behaviour.set('1.1.0', { runtime: [restarting(1), restarting(2), restarting(3)] });
    const results: string[] = [];
    for (let i = 0; i < 3; i++) {
      h.clock.advance(60_000);
      results.push(...(await h.reconciler.runCycle([poll])).updates.map((u) => `${u.plan}: ${u.result}`));
    }
    expect(results).toEqual(['recsys 1.1.0 -> 1.0.0: rolled_back']);
    expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
    const events = h.audit.read().map((e) => e.event);
    expect(events.indexOf('quarantined')).toBeLessThan(events.lastIndexOf('rolled-back'));
    expect(h.audit.read().find((e) => e.event === 'quarantined')?.reason).toMatch(/crashing after its promotion \d+s ago \(watched for 900s\): container recsys running, 3 restart\(s\)/);
  });

  test('an OOM kill within the window rolls back at once; restarts after the window are left to the restart budget', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'], rollback: { maxRestarts: 3, watchAfterPromotionMs: 600_000 } });
    h.target.add('recsys', `${REPO}:1.0.0`);
    await h.reconciler.runCycle([poll]);
    h.clock.advance(601_000);
    h.target.behaviour.set('1.1.0', { runtime: [restarting(5)] });
    expect((await h.reconciler.runCycle([poll])).updates).toEqual([]);
    expect(h.target.get('recsys').image).toBe(ref('1.1.0'));

    const o = harness({ tags: ['1.0.0', '1.1.0'] });
    o.target.add('recsys', `${REPO}:1.0.0`);
    await o.reconciler.runCycle([poll]);
    o.target.behaviour.set('1.1.0', { runtime: [{ running: true, restarts: 1, oomKilled: true, detail: 'container recsys running, last exit OOM-killed (137)' }] });
    o.clock.advance(30_000);
    expect((await o.reconciler.runCycle([poll])).updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(o.quarantine.list()[0].reason).toMatch(/OOM-killed/);
  });
});

describe('the recorded previous image is one the registry can serve', () => {
  const localDigest = digestOf('1.0.0', 'built-on-this-host');

  test('a running digest the registry does not serve blocks the update (one audit entry), until it is pushed', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0@${localDigest}`);
    h.registry.unservable.add(`${REPO}@${localDigest}`);
    for (let i = 0; i < 3; i++) {
      h.clock.advance(60_000);
      const report = await h.reconciler.runCycle([poll]);
      expect(report.updates).toEqual([]);
      expect(report.failures.join('\n')).toContain(`update to ${ref('1.1.0')} blocked: the running image ${REPO}@${localDigest} is not in registry`);
    }
    expect(h.target.calls.filter((c) => c.startsWith('apply'))).toEqual([]);
    const blocked = h.audit.read().filter((e) => e.event === 'blocked');
    expect(blocked).toHaveLength(1);
    expect(blocked[0]).toMatchObject({ target: 'fake/recsys', from: `${REPO}:1.0.0@${localDigest}`, to: ref('1.1.0'), result: 'failed' });
    expect(blocked[0].reason).toContain(`push that image to ${REPO} as '1.0.0', or run a version the registry serves`);
    // the user pushes the running image: the next cycle rolls out, recording that digest as the previous image
    h.registry.unservable.clear();
    h.clock.advance(60_000);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: promoted']);
    expect(h.audit.read().find((e) => e.event === 'apply')?.from).toBe(`${REPO}:1.0.0@${localDigest}`);
  });

  test('an engine\'s own digest of the image the registry has under the same tag: the registry\'s digest is recorded', async () => {
    // podman records its own digest for an image it committed and pushed; the registry's manifest of that tag
    // names the same image config (the engine's image ID)
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0@${localDigest}`, { imageId: digestOf('1.0.0', 'config') });
    h.registry.unservable.add(`${REPO}@${localDigest}`);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates.map((u) => u.result)).toEqual(['promoted']);
    expect(h.audit.read().find((e) => e.event === 'apply')?.from).toBe(ref('1.0.0'));
    expect(h.audit.read().filter((e) => e.event === 'blocked')).toEqual([]);
  });

  test('another image under the same tag (its config differs) is no substitute: blocked', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0@${localDigest}`, { imageId: digestOf('something-else', 'config') });
    h.registry.unservable.add(`${REPO}@${localDigest}`);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.updates).toEqual([]);
    expect(h.audit.read().map((e) => e.event)).toEqual(['blocked']);
  });

  test('a served digest is asked about once, not every cycle', async () => {
    const h = harness({ tags: ['1.0.0', '1.1.0'] });
    h.target.add('recsys', `${REPO}:1.0.0@${digestOf('1.0.0')}`);
    h.target.behaviour.set('1.1.0', { applyFails: 'always' });
    for (let i = 0; i < 3; i++) {
      h.clock.advance(3_600_000);
      await h.reconciler.runCycle([poll]);
    }
    expect(h.target.calls.filter((c) => c.startsWith('apply')).length).toBeGreaterThanOrEqual(2);
    expect(h.registry.requests.filter((r) => r.startsWith('manifest '))).toEqual([`manifest ${REPO}@${digestOf('1.0.0')}`]);
  });
});

describe('isolation', () => {
  /** A registry whose listTags of one repository hangs until released. */
  class SlowRegistry extends FakeRegistry {
    public release: () => void = () => undefined;
    private readonly gate = new Promise<void>((r) => { this.release = r; });
    public override async listTags(repo: { registry: string; repository: string }): Promise<string[]> {
      if (repo.registry === 'slow.example:5000') await this.gate;
      return super.listTags(repo);
    }
  }

  /** A harness whose registry answers `slow.example:5000` only when released, with a workload `other` there. */
  function slowWorld(): { registry: SlowRegistry; target: FakeTarget; h: ReturnType<typeof harness> } {
    const registry = new SlowRegistry(REPO, ['1.0.0', '1.1.0']);
    registry.tags.set('slow.example:5000/models/other', ['1.0.0', '1.1.0']);
    const target = new FakeTarget();
    target.add('other', 'slow.example:5000/models/other:1.0.0', { model: 'other' });
    return { registry, target, h: harness({ registry, targets: [target] }) };
  }

  test('one slow registry does not delay another registry\'s workload', async () => {
    const { registry, target, h } = slowWorld();
    target.add('recsys', `${REPO}:1.0.0`);
    const { reconciler } = h;
    const cycle = reconciler.runCycle([poll]);
    // the fast registry's workload is promoted while the slow registry still has not answered
    for (let i = 0; i < 200 && target.get('recsys').image !== ref('1.1.0'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(target.get('recsys').image).toBe(ref('1.1.0'));
    expect(target.get('other').image).toBe('slow.example:5000/models/other:1.0.0');
    registry.release();
    const report = await cycle;
    expect(report.updates.map((u) => `${u.workload}: ${u.result}`).sort()).toEqual(['fake/other: promoted', 'fake/recsys: promoted']);
  });

  test('an Alertmanager rollback is carried out while a cycle is still busy with another registry', async () => {
    const { registry, target, h } = slowWorld();
    target.add('recsys', ref('1.1.0'));
    h.audit.append({ event: 'promoted', target: 'fake/recsys', model: 'recsys', from: ref('1.0.0'), to: ref('1.1.0'), result: 'ok' });
    const { reconciler } = h;
    const ctl = new AbortController();
    let emit: (e: TriggerEvent) => void = () => undefined;
    const running = reconciler.run([{ start: async (e) => { emit = e; } }], ctl.signal);
    await new Promise((r) => setTimeout(r, 20)); // the startup cycle is now stuck on the slow registry
    emit({ source: 'webhook:alertmanager', rollback: { model: 'recsys', version: '1.1.0', reason: 'ModelHighErrorRate firing' } });
    for (let i = 0; i < 200 && target.get('recsys').image !== ref('1.0.0'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(target.get('recsys').image).toBe(ref('1.0.0'));
    expect(h.quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
    expect(target.get('other').image).toBe('slow.example:5000/models/other:1.0.0'); // still waiting for its registry
    registry.release();
    ctl.abort();
    await running;
  });
});

describe('which decisions are posted to Alertmanager', () => {
  test.each([
    ['rolled-back', 'ok', true],
    ['rolled-back', 'failed', false],
    ['quarantined', 'ok', true],
    ['failed', 'failed', true],
    ['failed', 'backoff', false],
    ['restarted', 'ok', true],
    ['rollback-failed', 'failed', true],
    ['apply', 'started', false],
    ['verify', 'promote', false],
    ['promoted', 'ok', false],
  ])('%s (%s) → %s', async (event, result, notable) => {
    const { AlertmanagerNotifier } = await import('../../agent/notify/alertmanager');
    expect(AlertmanagerNotifier.notable({ time: '', event: event as never, target: 'docker/x', result })).toBe(notable);
  });
});

describe('health tells the truth', () => {
  test('a target unreachable for 3 cycles in a row makes the agent degraded, with the fix; the first cycle that reaches it clears it', async () => {
    const h = harness({ tags: ['1.0.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    h.target.discoverFails = true;
    h.target.discover = async () => {
      throw new Error('connect EACCES /var/run/docker.sock');
    };
    for (let i = 0; i < 2; i++) await h.reconciler.runCycle([poll]);
    expect([...h.reconciler.degraded.keys()]).toEqual([]);
    await h.reconciler.runCycle([poll]);
    expect(h.reconciler.degraded.get('target:fake')).toMatch(/^fake unreachable for 3 cycles: connect EACCES \/var\/run\/docker.sock — the agent's user \(uid \d+\) may not open \/var\/run\/docker.sock: give it the socket's group/);
    expect(await h.metric('modelpilot_updater_degraded')).toBe(1);
    h.target.discover = FakeTarget.prototype.discover.bind(h.target);
    h.target.discoverFails = false;
    await h.reconciler.runCycle([poll]);
    expect([...h.reconciler.degraded.keys()]).toEqual([]);
    expect(await h.metric('modelpilot_updater_degraded')).toBe(0);
  });

  test('a state directory that takes no write is reported every cycle until it does (even before any decision is due)', async () => {
    const h = harness({ tags: ['1.0.0'] });
    h.target.add('recsys', `${REPO}:1.0.0`);
    // the probe's own path is taken by a directory: the write fails as on a full or read-only volume
    const blocker = path.join(h.dir, `.modelpilot-write-probe.${process.pid}`);
    fs.mkdirSync(blocker);
    const report = await h.reconciler.runCycle([poll]);
    expect(report.failures.join('\n')).toMatch(/state directory .* does not take a write \(EISDIR\); decisions \(quarantine, audit\) cannot be persisted/);
    expect(h.reconciler.degraded.has('state')).toBe(true);
    expect(await h.metric('modelpilot_updater_degraded')).toBe(1);
    fs.rmdirSync(blocker);
    await h.reconciler.runCycle([poll]);
    expect(h.reconciler.degraded.has('state')).toBe(false);
  });
});
