/**
 * Images that follow MLflow (`images[].mlflow`): the version the alias points at (or the latest version) runs, not
 * the newest tag; it is mapped to an image tag, checked against the digest MLflow recorded, guarded like any update,
 * and the outcome is written back as model-version tags. MLflow is the stand-in (test/support/mlflow-standin.ts,
 * MLflow's server cannot run here) spoken to over HTTP by the agent's own client; the registry is the fake.
 */
import { MlflowClient } from '../../agent/mlflow/client';
import { UpdatePolicy } from '../../lib/core/update-policy';
import { MlflowStandIn } from '../support/mlflow-standin';
import { digestOf, FakeRegistry, harness, HarnessOptions, ref, REPO } from './fakes';

let mlflow: MlflowStandIn;
const api = (url = mlflow.url) => ({ client: new MlflowClient({ url, timeoutMs: 2000 }), tagPrefix: 'modelpilot' });
const post = async (path: string, body: unknown) => {
  const r = await fetch(`${mlflow.url}/api/2.0/mlflow/${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
};
const version = (tags: Record<string, string> = {}) => post('model-versions/create', {
  name: 'recsys', source: 'runs:/abc/model', tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
});

beforeEach(async () => {
  mlflow = new MlflowStandIn();
  await mlflow.start();
  await post('registered-models/create', { name: 'recsys' });
});
afterEach(() => mlflow.stop());

/** An agent whose recsys image follows MLflow model 'recsys' (tags `<version>.0.0`); the registry has 1.0.0–3.0.0. */
function agent(mlflowSettings: Record<string, unknown> = {}, options: HarnessOptions = {}) {
  const registry = options.registry ?? new FakeRegistry(REPO, ['1.0.0', '2.0.0', '3.0.0']);
  const h = harness({
    registry, mlflow: api(), ...options,
    images: [{ repository: REPO, policy: UpdatePolicy.parse('semver:major'), mlflow: { registeredModel: 'recsys', imageTag: '{version}.0.0', ...mlflowSettings } }],
  });
  h.target.add('recsys', ref('1.0.0'));
  return h;
}
const mlflowEvent = (extra: Record<string, string> = {}) => ({ source: 'webhook:mlflow', models: ['recsys'], mlflow: { registeredModel: 'recsys', ...extra } });

test('the version the alias points at runs — not the newest tag — and MLflow hears it was deployed', async () => {
  await version();
  await version();
  await version();
  await post('registered-models/alias', { name: 'recsys', alias: 'champion', version: '2' });
  const h = agent({ alias: 'champion' });
  const report = await h.reconciler.runCycle([mlflowEvent({ alias: 'champion', version: '2' })]);
  expect(report.updates.map((u) => `${u.plan}: ${u.result}`)).toEqual(['recsys 1.0.0 -> 2.0.0: promoted']);
  expect(h.target.get('recsys').image).toBe(ref('2.0.0'));
  expect(mlflow.tagsOf('recsys', '2')).toMatchObject({
    'modelpilot.status': 'deployed', 'modelpilot.workload': 'fake/recsys', 'modelpilot.image': ref('2.0.0'), 'modelpilot.reason': 'passed the health gate on fake/recsys',
  });
  expect(h.audit.read().find((e) => e.event === 'planned')?.reason).toBe('MLflow recsys version 2 (alias champion) → 2.0.0');
  // the poll: the alias still says 2, nothing moves (the semver policy alone would take 3.0.0)
  h.clock.advance(60_000);
  expect((await h.reconciler.runCycle([{ source: 'poll' }])).updates).toEqual([]);
  // the alias moves back to 1: the agent follows it down
  await post('registered-models/alias', { name: 'recsys', alias: 'champion', version: '1' });
  expect((await h.reconciler.runCycle([mlflowEvent({ alias: 'champion', version: '1' })])).updates.map((u) => u.plan)).toEqual(['recsys 2.0.0 -> 1.0.0']);
});

test('without an alias the latest version runs; one that fails the gate is rolled back and MLflow hears why', async () => {
  await version();
  await version();
  const h = agent();
  h.slo.verdicts.set('2.0.0', 'Unhealthy');
  expect((await h.reconciler.runCycle([mlflowEvent({ version: '2' })])).updates.map((u) => u.result)).toEqual(['rolled_back']);
  expect(h.target.get('recsys').image).toBe(ref('1.0.0'));
  expect(mlflow.tagsOf('recsys', '2')).toMatchObject({ 'modelpilot.status': 'rolled-back', 'modelpilot.reason': expect.stringContaining('error ratio 0.5 > 0.05') });
  // quarantined now: the next event is refused once, written back once, never applied
  const calls = mlflow.calls.length;
  expect((await h.reconciler.runCycle([mlflowEvent({ version: '2' })])).updates).toEqual([]);
  expect((await h.reconciler.runCycle([mlflowEvent({ version: '2' })])).updates).toEqual([]);
  expect(h.audit.read().filter((e) => e.event === 'refused')).toEqual([expect.objectContaining({ result: 'mlflow', reason: expect.stringContaining('quarantined') })]);
  expect(mlflow.tagsOf('recsys', '2')['modelpilot.status']).toBe('refused');
  // status, reason, workload, time: once
  expect(mlflow.calls.slice(calls).filter((c) => c.includes('set-tag'))).toHaveLength(4);
});

test.each<[string, Record<string, string>, RegExp]>([
  ['no digest tag on the version', {}, /has no 'image_digest' tag holding a sha256 digest \(got null\)/],
  ['a digest tag that is not the registry\'s digest for the tag', { image_digest: digestOf('other') },
    /the registry's 2\.0\.0 is sha256:[0-9a-f]{64}, but MLflow's 'image_digest' says sha256:/],
])('digestTag: refused when %s', async (_n, tags, reason) => {
  await version();
  await version(tags);
  const h = agent({ digestTag: 'image_digest' });
  expect((await h.reconciler.runCycle([mlflowEvent()])).updates).toEqual([]);
  expect(h.target.get('recsys').image).toBe(ref('1.0.0'));
  expect(h.audit.read().filter((e) => e.event === 'refused').map((e) => e.reason)).toEqual([expect.stringMatching(reason)]);
  expect(mlflow.tagsOf('recsys', '2')['modelpilot.status']).toBe('refused');
  expect(await h.metric('modelpilot_updater_refused_versions_total', { reason: 'mlflow' })).toBe(1);
});

test('digestTag: the digest MLflow recorded is the digest rolled out', async () => {
  await version();
  await version({ image_digest: digestOf('2.0.0') });
  const h = agent({ digestTag: 'image_digest' });
  expect((await h.reconciler.runCycle([mlflowEvent()])).updates.map((u) => u.result)).toEqual(['promoted']);
  expect(h.target.get('recsys').image).toBe(`${REPO}:2.0.0@${digestOf('2.0.0')}`);
});

test('MLflow unreachable: a failure of the cycle, nothing moves; a write-back that fails is audited, the rollout stands', async () => {
  await version();
  await version();
  const down = harness({
    mlflow: api('http://127.0.0.1:1'), registry: new FakeRegistry(REPO, ['1.0.0', '2.0.0', '3.0.0']),
    images: [{ repository: REPO, policy: UpdatePolicy.parse('semver:major'), mlflow: { registeredModel: 'recsys', imageTag: '{version}.0.0' } }],
  });
  down.target.add('recsys', ref('1.0.0'));
  const report = await down.reconciler.runCycle([{ source: 'poll' }]);
  expect(report.failures).toEqual([expect.stringMatching(/MLflow recsys: MLflow at http:\/\/127\.0\.0\.1:1 is unreachable/)]);
  expect(down.target.get('recsys').image).toBe(ref('1.0.0'));

  // MLflow refuses the write (a read-only token)
  const client = new MlflowClient({ url: mlflow.url });
  client.setVersionTag = async () => { throw new Error('MLflow answered 403 PERMISSION_DENIED'); };
  const ro = harness({ registry: new FakeRegistry(REPO, ['1.0.0', '2.0.0', '3.0.0']), mlflow: { client, tagPrefix: 'modelpilot' },
    images: [{ repository: REPO, policy: UpdatePolicy.parse('semver:major'), mlflow: { registeredModel: 'recsys', imageTag: '{version}.0.0' } }] });
  ro.target.add('recsys', ref('1.0.0'));
  expect((await ro.reconciler.runCycle([{ source: 'poll' }])).updates.map((u) => u.result)).toEqual(['promoted']);
  expect(ro.audit.read().filter((e) => e.event === 'reported')).toEqual([expect.objectContaining({ result: 'failed', reason: expect.stringContaining('403') })]);
});

test('an image without an mlflow section is left to its policy (the newest tag), and MLflow is not asked', async () => {
  const h = harness({ registry: new FakeRegistry(REPO, ['1.0.0', '2.0.0', '3.0.0']), mlflow: api(), images: [{ repository: REPO, policy: UpdatePolicy.parse('semver:major') }] });
  h.target.add('recsys', ref('1.0.0'));
  expect((await h.reconciler.runCycle([mlflowEvent()])).updates.map((u) => u.plan)).toEqual(['recsys 1.0.0 -> 3.0.0']);
  expect(mlflow.calls.filter((c) => c.startsWith('GET'))).toEqual([]);
});
