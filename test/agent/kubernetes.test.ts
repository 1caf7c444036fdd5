import { V1Deployment } from '@kubernetes/client-node';
import { KubernetesTarget, K8S_ANNOTATIONS, rolloutStatus } from '../../agent/targets/kubernetes';
import { Logger, UpdatePlan, Workload } from '../../agent/types';
import { UpdatePolicy } from '../../lib/core/update-policy';
import { FakeKube, fixture, ImageBehaviour, Json, watchFixture } from '../support/fake-kube';

/** A Logger that records each call as `{ level, event: msg, ...fields }`. */
function recordingLogger(into: () => Array<Record<string, unknown>>): Logger {
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void into().push({ level, event: msg, ...fields });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const V100 = 'registry.ml.svc:5000/models/recsys:1.0.0@sha256:1111111111111111111111111111111111111111111111111111111111111111';
const V110 = 'registry.ml.svc:5000/models/recsys:1.1.0@sha256:2222222222222222222222222222222222222222222222222222222222222222';

let fake: FakeKube;
let logs: Array<Record<string, unknown>>;

async function startFake(behaviour: (image: string) => ImageBehaviour = () => 'ready', extra: Partial<Parameters<typeof FakeKube.start>[0]> = {}): Promise<void> {
  fake = await FakeKube.start({ behaviour, ...extra });
}

function target(opts: Partial<ConstructorParameters<typeof KubernetesTarget>[0]> = {}): KubernetesTarget {
  return new KubernetesTarget({ kubeConfig: fake.kubeConfig(), namespace: 'ml', pollIntervalMs: 50, logger: recordingLogger(() => logs), ...opts });
}

async function recsys(t: KubernetesTarget): Promise<Workload> {
  const [w] = await t.discover();
  expect(w).toBeDefined();
  return w;
}

/** Waits (bounded) for a condition; fails the test if it never holds. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const start = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
  }
}

function plan(w: Workload, to = V110, attempt = 1): UpdatePlan {
  return new UpdatePlan(w, w.image, to, '1.0.0', to.includes(':1.1.0') ? '1.1.0' : '1.2.0', 'poll', attempt);
}

beforeEach(() => {
  logs = [];
});

afterEach(async () => {
  await fake?.stop();
});

describe('rolloutStatus (recorded watch streams)', () => {
  test('a healthy rollout is done only at its last recorded event', () => {
    const events = watchFixture('watch-rollout-healthy.jsonl');
    const verdicts = events.map((e) => rolloutStatus(e.object as V1Deployment));
    expect(verdicts.map((v) => v.done)).toEqual([false, false, false, true]);
    expect(verdicts[0].message).toMatch(/generation 2, observed 1/);
    expect(verdicts[1].message).toBe('1 of 2 new replicas updated');
    expect(verdicts[2].message).toBe('1 old replicas pending termination');
    expect(verdicts[3].message).toBe('rollout complete: 2 of 2 replicas updated and available');
  });

  test('ProgressDeadlineExceeded fails the rollout', () => {
    const events = watchFixture('watch-rollout-deadline.jsonl');
    const last = rolloutStatus(events[events.length - 1].object as V1Deployment);
    expect(last.done).toBe(false);
    expect(last.failed).toBe('progress deadline exceeded: ReplicaSet "recsys-7b9f8c5d4f" has timed out progressing.');
  });

  test('available replicas below updated replicas are not done', () => {
    const d = fixture<Json>('deployment-recsys.json');
    d.status.availableReplicas = 1;
    expect(rolloutStatus(d)).toEqual({ done: false, message: '1 of 2 updated replicas available' });
  });
});

describe('discover', () => {
  test('finds Deployments by the managed label and reads model, image, digest and policy', async () => {
    await startFake();
    const [w, ...rest] = await target().discover();
    expect(rest).toHaveLength(0);
    expect(w).toEqual({
      id: 'k8s/ml/recsys', name: 'ml/recsys', model: 'recsys', image: V100,
      digest: 'sha256:1111111111111111111111111111111111111111111111111111111111111111', policy: UpdatePolicy.semver('minor'),
      // the gate's scope: the series prometheus-operator labels with this namespace and this Deployment's pods
      metricScope: ['namespace="ml"', 'pod=~"recsys-.+"'],
      quarantined: [],
    });
    expect(fake.calls).toEqual([{ verb: 'list', group: 'apps', resource: 'deployments', namespace: 'ml' }]);
  });

  test('an explicit list reads each Deployment by name and skips (and logs) a missing one', async () => {
    await startFake();
    const ws = await target({ deployments: ['ghost', { name: 'recsys', container: 'log-shipper', model: 'recsys-logs', policy: UpdatePolicy.pinned() }] }).discover();
    expect(ws.map((w) => [w.id, w.model, w.image, w.policy.toString()])).toEqual([['k8s/ml/recsys', 'recsys-logs', 'docker.io/fluent/fluent-bit:3.1.9', 'pinned']]);
    expect(fake.calls.map((c) => `${c.verb} ${c.resource} ${c.name}`)).toEqual(['get deployments ghost', 'get deployments recsys']);
    expect(logs).toContainEqual(expect.objectContaining({ event: 'discover.failed', deployment: 'ml/ghost', reason: "deployments.apps 'ghost' in namespace 'ml' not found; check the name and namespace" }));
  });

  test('throws if listing is forbidden, naming the verb to grant', async () => {
    await startFake();
    fake.failNext('list', 'deployments', 403);
    await expect(target().discover()).rejects.toThrow("forbidden: the agent may not 'list' deployments.apps in namespace 'ml'; grant the 'list' verb on deployments in its Role (ModelUpdater does)");
  });

  test('throws if the namespace is not a Kubernetes name', async () => {
    await startFake();
    expect(() => target({ namespace: 'ML_prod' })).toThrow("'namespace' value 'ML_prod' is not a Kubernetes namespace name; use lowercase letters, digits and '-'");
  });
});

describe('apply', () => {
  test('patches the model container image and its reported version (strategic merge) and records the update in annotations', async () => {
    await startFake(() => 'hang');
    const t = target();
    const w = await recsys(t);
    const before = fake.deployment('recsys');

    const outcome = await t.apply(plan(w));

    expect(outcome).toEqual({ ok: true, value: undefined });
    const after = fake.deployment('recsys');
    expect(after.spec.template.spec.containers.map((c: Json) => c.image)).toEqual([V110, 'docker.io/fluent/fluent-bit:3.1.9']);
    // The server reports the version it serves (the SLO check queries by it); the pod label follows.
    expect(after.spec.template.spec.containers[0].env).toEqual([{ name: 'MODEL_NAME', value: 'recsys' }, { name: 'MODEL_VERSION', value: '1.1.0' }]);
    expect(after.spec.template.metadata.labels['app.kubernetes.io/version']).toBe('1.1.0');
    expect(after.spec.template.spec.containers[1]).toEqual(before.spec.template.spec.containers[1]);
    const a = after.metadata.annotations;
    expect(a[K8S_ANNOTATIONS.previousImage]).toBe(V100);
    expect(a[K8S_ANNOTATIONS.attempt]).toBe('1');
    expect(a[K8S_ANNOTATIONS.changeCause]).toBe('modelpilot: 1.0.0 -> 1.1.0 (attempt 1, poll)');
    expect(JSON.parse(a[K8S_ANNOTATIONS.inFlight])).toEqual({ from: V100, to: V110, attempt: 1, startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), trigger: 'poll' });
    expect(JSON.parse(a[K8S_ANNOTATIONS.previousTemplate])).toEqual(before.spec.template);
    const [p] = fake.patches;
    expect(p.contentType).toBe('application/strategic-merge-patch+json');
    expect(p.body.spec).toEqual({ template: {
      metadata: { labels: { 'app.kubernetes.io/version': '1.1.0' } },
      spec: { containers: [{ name: 'model', image: V110, env: [{ name: 'MODEL_VERSION', value: '1.1.0' }] }] },
    } });
    expect(p.body.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  test('leaves the version env and label alone where the template has none, or the selector uses the label', async () => {
    const d = fixture<Json>('deployment-recsys.json');
    d.spec.template.spec.containers[0].env = [{ name: 'MODEL_NAME', value: 'recsys' }];
    d.spec.selector.matchLabels['app.kubernetes.io/version'] = '1.0.0';
    await startFake(() => 'hang', { deployments: [d] });
    const t = target();
    await t.apply(plan(await recsys(t)));
    const after = fake.deployment('recsys');
    expect(after.spec.template.spec.containers[0].env).toEqual([{ name: 'MODEL_NAME', value: 'recsys' }]);
    expect(after.spec.template.metadata.labels['app.kubernetes.io/version']).toBe('1.0.0');
    expect(after.spec.template.spec.containers[0].image).toBe(V110);
  });

  test('discovery after apply reports the in-flight update (restart safety)', async () => {
    await startFake(() => 'hang');
    const t = target();
    await t.apply(plan(await recsys(t)));
    const restarted = await recsys(target());
    expect(restarted.image).toBe(V110);
    expect(restarted.inFlight).toEqual(expect.objectContaining({ from: V100, to: V110, attempt: 1, trigger: 'poll' }));
  });

  test('re-applying the in-flight plan keeps the recorded previous template and image', async () => {
    await startFake(() => 'hang');
    const t = target();
    const original = fake.deployment('recsys').spec.template;
    await t.apply(plan(await recsys(t)));
    const w = await recsys(target());
    const again = new UpdatePlan(w, w.inFlight!.from, w.inFlight!.to, '1.0.0', '1.1.0', 'poll', 1);
    expect(await target().apply(again)).toEqual({ ok: true, value: undefined });
    const a = fake.deployment('recsys').metadata.annotations;
    expect(a[K8S_ANNOTATIONS.previousImage]).toBe(V100);
    expect(JSON.parse(a[K8S_ANNOTATIONS.previousTemplate])).toEqual(original);
  });

  test('refuses a plan whose from-image is no longer what runs', async () => {
    await startFake();
    const t = target();
    const w = await recsys(t);
    fake.externalChange('recsys', { spec: { template: { spec: { containers: [{ name: 'model', image: V110 }] } } } });
    const outcome = await t.apply(plan(w, V110.replace('1.1.0', '1.2.0')));
    expect(outcome).toEqual({ ok: false, reason: `ml/recsys: container 'model' runs '${V110}', not '${V100}' as planned; re-plan from what runs now` });
  });

  test('retries a 409 Conflict with a fresh GET', async () => {
    await startFake(() => 'hang');
    const t = target();
    const w = await recsys(t);
    fake.failNext('patch', 'deployments', 409, 2);
    expect(await t.apply(plan(w))).toEqual({ ok: true, value: undefined });
    expect(fake.calls.filter((c) => c.verb !== 'list').map((c) => c.verb)).toEqual(['get', 'patch', 'get', 'patch', 'get', 'patch']);
    expect(logs.filter((l) => l.event === 'conflict.retry')).toHaveLength(2);
  });

  test('a stale resourceVersion (changed between GET and PATCH) is a conflict, then succeeds on the fresh object', async () => {
    await startFake(() => 'hang');
    const t = target();
    const w = await recsys(t);
    // The Deployment changes right after the target's GET: its patch carries a stale resourceVersion.
    fake.afterNext('get', 'deployments', () => fake.externalChange('recsys', { metadata: { labels: { team: 'recsys' } } }));
    expect(await t.apply(plan(w))).toEqual({ ok: true, value: undefined });
    const d = fake.deployment('recsys');
    expect(d.metadata.labels.team).toBe('recsys');
    expect(d.spec.template.spec.containers[0].image).toBe(V110);
    expect(logs.filter((l) => l.event === 'conflict.retry')).toHaveLength(1);
  });

  test('fails after too many conflicts, saying so', async () => {
    await startFake();
    const t = target({ maxConflictRetries: 2 });
    const w = await recsys(t);
    fake.failNext('patch', 'deployments', 409, 10);
    const outcome = await t.apply(plan(w));
    expect(outcome).toEqual({ ok: false, reason: expect.stringContaining("conflict on deployments.apps 'recsys' in namespace 'ml': Operation cannot be fulfilled on deployments.apps \"recsys\"") });
    expect(fake.calls.filter((c) => c.verb === 'patch')).toHaveLength(3);
  });

  test('fails on 403 Forbidden naming the missing RBAC verb, without changing anything', async () => {
    await startFake();
    const t = target();
    const w = await recsys(t);
    fake.failNext('patch', 'deployments', 403);
    const outcome = await t.apply(plan(w));
    expect(outcome).toEqual({ ok: false, reason: "forbidden: the agent may not 'patch' deployments.apps 'recsys' in namespace 'ml'; grant the 'patch' verb on deployments in its Role (ModelUpdater does)" });
    expect(fake.deployment('recsys').spec.template.spec.containers[0].image).toBe(V100);
  });
});

describe('waitReady', () => {
  test.each<[ImageBehaviour, string, RegExp]>([
    ['ready', 'Healthy', /^ml\/recsys: rollout complete: 2 of 2 replicas updated and available$/],
    ['crashloop', 'Unhealthy', /^ml\/recsys: pod recsys-[0-9a-f]{10}-ax0q container 'model' is CrashLoopBackOff: back-off 40s/],
    ['imagepull', 'Unhealthy', /container 'model' is ImagePullBackOff: Back-off pulling image "registry.ml.svc:5000\/models\/recsys:1.1.0@sha256:2222/],
    ['deadline', 'Unhealthy', /^ml\/recsys: progress deadline exceeded: ReplicaSet "recsys-[0-9a-f]{10}" has timed out progressing\.$/],
    ['hang', 'Unhealthy', /^ml\/recsys: rollout not complete after 1s: 1 of 2 new replicas updated$/],
  ])('new pods that are %s give %s', async (behaviour, status, reason) => {
    await startFake((image) => (image === V110 ? behaviour : 'ready'));
    const t = target();
    const p = plan(await recsys(t));
    await t.apply(p);
    const result = await t.waitReady(p, 1000);
    expect(result.status).toBe(status);
    expect(result.reason).toMatch(reason);
    await until(() => fake.openWatches === 0);
  });

  test('is woken by watch events (recorded stream) without waiting for the next poll', async () => {
    await startFake(() => 'hang', { controllerDelayMs: 60_000 });
    const t = target({ pollIntervalMs: 60_000 });
    const p = plan(await recsys(t));
    await t.apply(p);
    const result = t.waitReady(p, 120_000);
    await until(() => fake.openWatches === 1);
    fake.replay(watchFixture('watch-rollout-healthy.jsonl'));
    await expect(result).resolves.toEqual({ status: 'Healthy', reason: 'ml/recsys: rollout complete: 2 of 2 replicas updated and available' });
    expect(fake.calls).toContainEqual({ verb: 'watch', group: 'apps', resource: 'deployments', namespace: 'ml', name: 'recsys' });
  });

  test('falls back to polling (and says so) when the watch is refused', async () => {
    await startFake(() => 'ready', { rules: [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch'], resourceNames: ['recsys'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ] });
    const t = target({ deployments: ['recsys'] });
    const p = plan(await recsys(t));
    await t.apply(p);
    expect(await t.waitReady(p, 10_000)).toEqual({ status: 'Healthy', reason: 'ml/recsys: rollout complete: 2 of 2 replicas updated and available' });
    expect(logs).toContainEqual(expect.objectContaining({ event: 'watch.refused', code: 403, fallback: 'polling' }));
  });

  test('is Unhealthy when something else changes the image during the rollout', async () => {
    await startFake(() => 'hang');
    const t = target();
    const p = plan(await recsys(t));
    await t.apply(p);
    fake.externalChange('recsys', { spec: { template: { spec: { containers: [{ name: 'model', image: V100 }] } } } });
    const result = await t.waitReady(p, 5000);
    expect(result).toEqual({ status: 'Unhealthy', reason: `ml/recsys runs '${V100}', not '${V110}': something else changed the Deployment` });
  });
});

describe('promote and rollback', () => {
  test('promote clears the in-flight record and keeps the previous image as history', async () => {
    await startFake();
    const t = target();
    const p = plan(await recsys(t));
    await t.apply(p);
    expect(await t.promote(p)).toEqual({ ok: true, value: undefined });
    const a = fake.deployment('recsys').metadata.annotations;
    expect(a[K8S_ANNOTATIONS.inFlight]).toBeUndefined();
    expect(a[K8S_ANNOTATIONS.attempt]).toBeUndefined();
    expect(a[K8S_ANNOTATIONS.previousTemplate]).toBeUndefined();
    expect(a[K8S_ANNOTATIONS.previousImage]).toBe(V100);
    expect((await recsys(t)).inFlight).toBeUndefined();
  });

  test('rollback restores the whole previous pod template, not only the image, and reuses the old ReplicaSet', async () => {
    await startFake((image) => (image === V110 ? 'crashloop' : 'ready'));
    const t = target();
    const original = fake.deployment('recsys').spec.template;
    const p = plan(await recsys(t));
    await t.apply(p);
    // The new version's pipeline also changed env and labels of the template.
    fake.externalChange('recsys', { spec: { template: { metadata: { labels: { 'app.kubernetes.io/version': '1.1.0' } }, spec: { containers: [{ name: 'model', env: [{ name: 'MODEL_VERSION', value: '1.1.0' }, { name: 'NEW_FLAG', value: 'on' }] }] } } } });
    expect((await t.waitReady(p, 5000)).status).toBe('Unhealthy');

    expect(await t.rollback(p)).toEqual({ ok: true, value: undefined });

    const d = fake.deployment('recsys');
    expect(d.spec.template).toEqual(original);
    expect(d.metadata.annotations[K8S_ANNOTATIONS.inFlight]).toBeUndefined();
    expect(d.metadata.annotations[K8S_ANNOTATIONS.previousTemplate]).toBeUndefined();
    expect(d.metadata.annotations[K8S_ANNOTATIONS.changeCause]).toBe('modelpilot: rollback 1.1.0 -> 1.0.0 (attempt 1)');
    expect(fake.patches[fake.patches.length - 1].contentType).toBe('application/json-patch+json');
    const back = new UpdatePlan(p.workload, V110, V100, '1.1.0', '1.0.0', 'rollback');
    expect(await t.waitReady(back, 5000)).toEqual({ status: 'Healthy', reason: 'ml/recsys: rollout complete: 2 of 2 replicas updated and available' });
    const sets = fake.replicaSetList();
    const old = sets.find((rs) => rs.metadata.name === 'recsys-6d4cf56db6');
    expect(old.spec.replicas).toBe(2);
    expect(old.metadata.annotations['deployment.kubernetes.io/revision']).toBe(fake.deployment('recsys').metadata.annotations['deployment.kubernetes.io/revision']);
    expect(sets.length).toBeGreaterThan(1);
  });

  test('rollback falls back to the newest ReplicaSet that ran the previous image when the template record is gone', async () => {
    await startFake((image) => (image === V110 ? 'crashloop' : 'ready'));
    const t = target();
    const original = fake.deployment('recsys').spec.template;
    const p = plan(await recsys(t));
    await t.apply(p);
    fake.externalChange('recsys', { metadata: { annotations: { [K8S_ANNOTATIONS.previousTemplate]: null } } });
    expect(await t.rollback(p)).toEqual({ ok: true, value: undefined });
    expect(fake.deployment('recsys').spec.template).toEqual(original);
    expect(fake.calls).toContainEqual({ verb: 'list', group: 'apps', resource: 'replicasets', namespace: 'ml' });
    expect(logs).toContainEqual(expect.objectContaining({ event: 'rollback', source: 'previous ReplicaSet', to: V100 }));
  });

  test('rollback fails with the manual fix when neither record nor ReplicaSet exists', async () => {
    await startFake(() => 'hang', { replicaSets: [] });
    const t = target();
    const p = plan(await recsys(t));
    await t.apply(p);
    fake.externalChange('recsys', { metadata: { annotations: { [K8S_ANNOTATIONS.previousTemplate]: null } } });
    const outcome = await t.rollback(p);
    expect(outcome).toEqual({ ok: false, reason: `ml/recsys: no record of the previous pod template (annotation 'modelpilot.dev/previous-template' and no ReplicaSet running '${V100}'); restore it by hand with 'kubectl rollout undo deployment/recsys -n ml'` });
  });

  test('rollback after an apply that changed nothing is a no-op success', async () => {
    await startFake();
    const t = target();
    const p = plan(await recsys(t));
    fake.failNext('patch', 'deployments', 403);
    expect((await t.apply(p)).ok).toBe(false);
    const patches = fake.patches.length;
    expect(await t.rollback(p)).toEqual({ ok: true, value: undefined });
    expect(fake.patches).toHaveLength(patches);
    expect(fake.deployment('recsys').spec.template.spec.containers[0].image).toBe(V100);
  });

  test('a restarted agent reverses the update another agent left in flight', async () => {
    await startFake((image) => (image === V110 ? 'crashloop' : 'ready'));
    const original = fake.deployment('recsys').spec.template;
    const first = target();
    await first.apply(plan(await recsys(first)));
    // The first agent dies here. A new one starts from what the Deployment records.
    const second = target();
    const w = await recsys(second);
    expect(w.inFlight).toBeDefined();
    const resumed = new UpdatePlan(w, w.inFlight!.from, w.inFlight!.to, '1.0.0', '1.1.0', w.inFlight!.trigger, w.inFlight!.attempt);
    expect((await second.waitReady(resumed, 5000)).status).toBe('Unhealthy');
    expect(await second.rollback(resumed)).toEqual({ ok: true, value: undefined });
    expect(fake.deployment('recsys').spec.template).toEqual(original);
    expect((await recsys(second)).inFlight).toBeUndefined();
  });
});
