/**
 * Watchtower's options in the loop (fast tier; the real podman runs are in watchtower-options.integration.test.ts):
 * `schedule` (6-field cron, seconds first) and `monitorOnly` (report and alert, change nothing).
 */
import { AlertmanagerNotifier } from '../../agent/notify/alertmanager';
import { ScheduleTrigger } from '../../agent/triggers/schedule';
import { TriggerEvent } from '../../agent/types';
import { nextScheduled } from '../../lib/core/schedule';
import { FakeClock, harness, ref, REPO } from './fakes';

test('schedule: fires at the cron times (04:00 daily; every 15 minutes), seconds first as Watchtower', async () => {
  expect(nextScheduled('0 0 4 * * *', new Date('2026-01-01T05:00:00Z')).toISOString()).toBe('2026-01-02T04:00:00.000Z');
  expect(nextScheduled('0 */15 * * * *', new Date('2026-01-01T00:07:30Z')).toISOString()).toBe('2026-01-01T00:15:00.000Z');
  const clock = new FakeClock(Date.parse('2026-01-01T00:07:30Z'));
  const events: TriggerEvent[] = [];
  const ctl = new AbortController();
  const running = new ScheduleTrigger('0 */15 * * * *', clock).start((e) => {
    events.push(e);
    if (events.length === 3) ctl.abort();
  }, ctl.signal);
  await running;
  expect(events).toEqual([{ source: 'schedule' }, { source: 'schedule' }, { source: 'schedule' }]);
  expect(clock.sleeps).toEqual([450_000, 900_000, 900_000]);
  expect(() => new ScheduleTrigger('*/5 * * * *', clock)).toThrow("'schedule' value '*/5 * * * *' has 5 field(s)");
});

test('a scheduled check looks at every image, whatever its poll interval', async () => {
  const h = harness({ pollIntervalMs: 24 * 3600_000 });
  h.target.add('recsys', `${REPO}:1.0.0`);
  await h.reconciler.runCycle([{ source: 'poll' }]); // the first poll
  h.registry.push(REPO, '1.2.0');
  h.clock.advance(60_000);
  expect((await h.reconciler.runCycle([{ source: 'poll' }])).updates).toEqual([]); // not due for a day
  expect((await h.reconciler.runCycle([{ source: 'schedule' }])).updates.map((u) => u.plan)).toEqual(['recsys 1.1.0 -> 1.2.0']);
});

test('monitorOnly: the newer version is audited (once) and alerted; the workload, alerts and crashes are left alone', async () => {
  const h = harness({ monitorOnly: true });
  h.target.add('recsys', `${REPO}:1.0.0`);
  for (let i = 0; i < 2; i++) {
    const report = await h.reconciler.runCycle([{ source: 'webhook:registry' }]);
    expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 1.1.0: available']);
  }
  expect(h.target.get('recsys').image).toBe(`${REPO}:1.0.0`);
  const available = h.audit.read().filter((e) => e.event === 'available');
  expect(available).toEqual([expect.objectContaining({ result: 'monitor-only', to: ref('1.1.0'), reason: '1.1.0 is available; monitorOnly: nothing was changed' })]);
  expect(AlertmanagerNotifier.notable(available[0])).toBe(true);
  const rb = await h.reconciler.rollbackNow({ source: 'webhook:alertmanager', rollback: { model: 'recsys', version: '1.0.0', reason: 'HighErrorRate firing' } });
  expect(rb.updates).toEqual([]);
  expect(h.audit.read().filter((e) => e.event === 'ignored').map((e) => e.result)).toEqual(['monitor-only']);
});
