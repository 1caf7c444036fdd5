/**
 * `minImageAge` against the real distribution registry: the agent's own registry client reads each version's image
 * config `created`, and the reconcile loop (fake target, fake clock) rolls out only what is old enough. Removing the
 * guard (minImageAge 0) rolls the fresh version out at once: the same run shows both.
 */
import { DistributionClient } from '../../agent/registry';
import { Duration } from '../../lib/core/duration';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { harness, realRegistry } from './fakes';

let reg: TestRegistry;
beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => reg?.stop());

const HOUR = 3_600_000;

test('the registry client reads created from the image config (undefined when the config has none)', async () => {
  const client = new DistributionClient();
  const repo = { registry: reg.host, repository: 'models/aged' };
  await pushEmptyImage(reg, 'models/aged', '1.0.0', new Date('2026-01-01T10:00:00Z'));
  await pushEmptyImage(reg, 'models/aged', '1.1.0');
  expect(await client.imageCreated(repo, '1.0.0')).toEqual(new Date('2026-01-01T10:00:00Z'));
  expect(await client.imageCreated(repo, '1.1.0')).toBeUndefined();
});

test.each([
  ['with minImageAge 1h, the version pushed 5 minutes ago waits and the 2-hour-old one goes', HOUR, '1.1.0'],
  ['without the guard (minImageAge 0), the 5-minute-old version goes at once', 0, '1.2.0'],
])('%s', async (_name, minImageAgeMs, expected) => {
  const repoName = `models/guard-${minImageAgeMs}`;
  const repository = `${reg.host}/${repoName}`;
  // the fake clock's now is 2026-01-01T00:00:00Z
  const now = Date.parse('2026-01-01T00:00:00Z');
  await pushEmptyImage(reg, repoName, '1.0.0', new Date(now - 30 * 24 * HOUR));
  await pushEmptyImage(reg, repoName, '1.1.0', new Date(now - 2 * HOUR));
  await pushEmptyImage(reg, repoName, '1.2.0', new Date(now - 5 * 60_000));
  const registry = realRegistry(); // the harness's fake registry, with the real client behind every call
  const h = harness({ registry, minImageAge: Duration.millis(minImageAgeMs) });
  h.target.add('model', `${repository}:1.0.0`);
  const report = await h.reconciler.runCycle([{ source: 'poll' }]);
  expect(report.failures).toEqual([]);
  expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual([`model 1.0.0 -> ${expected}: promoted`]);
  const waiting = h.audit.read().filter((e) => e.event === 'waiting').map((e) => e.reason);
  expect(waiting).toEqual(minImageAgeMs ? ['1.2.0 is younger than minImageAge 3600s (created 2025-12-31T23:55:00.000Z); it waits until 2026-01-01T00:55:00.000Z'] : []);
});
