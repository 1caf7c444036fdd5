/**
 * The full loop on the fake cluster: the agent core's Reconciler (plan → apply → verify → promote | rollback,
 * quarantine, crash recovery) driving the Kubernetes target against the fake API server, which enforces the Role
 * that `ModelUpdater` synthesizes. The last test checks that Role against every call recorded here: it grants
 * exactly the verbs the target uses, so a new call cannot silently need more privilege.
 */
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { HealthGate } from '../../agent/health/gate';
import { DEFAULT_ROLLBACK, Reconciler } from '../../agent/loop';
import { AgentMetrics } from '../../agent/metrics';
import { TargetEventRecorder } from '../../agent/notify/target-events';
import { AuditLog, readAudit } from '../../agent/state/audit';
import { QuarantineStore } from '../../agent/state/quarantine';
import { K8S_ANNOTATIONS, KubernetesTarget, KubernetesTargetOptions } from '../../agent/targets/kubernetes';
import { Target } from '../../agent/types';
import { ModelDeployment, ModelUpdater, UpdatePolicy, UpdaterDiscovery } from '../../lib';
import { FakeKube, FakeKubeOptions, fixture, ImageBehaviour, Json, RecordedCall, RoleRule } from '../support/fake-kube';
import { digestOf, FakeClock, FakeRegistry, FakeSlo, tmpDir } from './fakes';

const REPO = 'registry.ml.svc:5000/models/recsys';
const V100 = `${REPO}:1.0.0@sha256:${'1'.repeat(64)}`;
const ref = (tag: string): string => `${REPO}:${tag}@${digestOf(tag)}`;

/** The Role the construct synthesizes for the `recsys` model in namespace `ml`. */
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

function synthesizedRole(discovery = UpdaterDiscovery.byName()): Rule[] {
  const chart = new Chart(Testing.app(), 'rbac', { namespace: 'ml', disableResourceNameHashes: true });
  const model = new ModelDeployment(chart, 'Model', { name: 'recsys', image: `${REPO}:1.0.0`, updatePolicy: UpdatePolicy.semver('minor') });
  new ModelUpdater(chart, 'Updater', { models: [model], discovery });
  const role = (Testing.synth(chart) as Json[]).find((o) => o.kind === 'Role');
  return role.rules;
}

/** Every call made in this file, across fakes. */
const allCalls: RecordedCall[] = [];
const fakes: FakeKube[] = [];

interface Agent {
  readonly reconciler: Reconciler;
  readonly target: KubernetesTarget;
  readonly quarantine: QuarantineStore;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  /** Records an Event on the Deployment per audit entry (the agent's default on Kubernetes). */
  readonly events: TargetEventRecorder;
  readonly clock: FakeClock;
}

interface World {
  readonly fake: FakeKube;
  readonly registry: FakeRegistry;
  readonly slo: FakeSlo;
  readonly dir: string;
  /** A fresh agent process on the same cluster and state dir (a restart). */
  agent(options?: { wrap?: (t: Target) => Target; target?: Partial<KubernetesTargetOptions>; dir?: string }): Agent;
}

async function world(behaviour: (image: string) => ImageBehaviour, rules: RoleRule[] = synthesizedRole(),
  extra: Partial<FakeKubeOptions> = {}): Promise<World> {
  const fake = await FakeKube.start({ behaviour, rules, ...extra });
  fakes.push(fake);
  const registry = new FakeRegistry(REPO, ['1.0.0', '1.1.0']);
  registry.digests.set(`${REPO}:1.0.0`, `sha256:${'1'.repeat(64)}`);
  const slo = new FakeSlo();
  const dir = tmpDir();
  return {
    fake, registry, slo, dir,
    agent(options = {}) {
      const target = new KubernetesTarget({
        kubeConfig: fake.kubeConfig(), namespace: 'ml', deployments: ['recsys'], pollIntervalMs: 50, ...options.target,
      });
      const state = options.dir ?? dir;
      const quarantine = new QuarantineStore(state);
      const clock = new FakeClock();
      const audit = new AuditLog(path.join(state, 'audit.jsonl'), () => clock.now());
      const metrics = new AgentMetrics();
      const gate = new HealthGate({ readinessTimeoutMs: 20_000, slo, inconclusive: 'hold' });
      const events = new TargetEventRecorder({ targets: [target], onResult: (result) => metrics.events.inc({ result }) });
      const reconciler = new Reconciler({
        targets: [options.wrap ? options.wrap(target) : target], registry, gate, quarantine, audit, metrics, clock, pollIntervalMs: 60_000,
        onAudit: (e) => events.record(e),
        rollback: { ...DEFAULT_ROLLBACK, attemptTimeoutMs: 20_000, backoff: { initialMs: 10, maxMs: 100, factor: 2 } },
      });
      return { reconciler, target, quarantine, audit, metrics, events, clock };
    },
  };
}

const image = (fake: FakeKube): string => fake.deployment('recsys').spec.template.spec.containers[0].image;
const annotations = (fake: FakeKube): Record<string, string> => fake.deployment('recsys').metadata.annotations;

afterEach(async () => {
  for (const f of fakes.splice(0)) {
    allCalls.push(...f.calls);
    await f.stop();
  }
});

describe('the reconcile loop on a (fake) cluster', () => {
  test('a new version is rolled out, verified and promoted, digest-pinned', async () => {
    const w = await world(() => 'ready');
    const { reconciler } = w.agent();

    const report = await reconciler.runCycle([{ source: 'poll' }]);

    expect(report.failures).toEqual([]);
    expect(report.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.0.0 -> 1.1.0', result: 'promoted' }]);
    expect(image(w.fake)).toBe(ref('1.1.0'));
    expect(w.fake.deployment('recsys').spec.template.spec.containers[0].env).toContainEqual({ name: 'MODEL_VERSION', value: '1.1.0' });
    expect(annotations(w.fake)[K8S_ANNOTATIONS.inFlight]).toBeUndefined();
    expect(annotations(w.fake)[K8S_ANNOTATIONS.previousImage]).toBe(V100);
    expect(annotations(w.fake)[K8S_ANNOTATIONS.changeCause]).toBe('modelpilot: 1.0.0 -> 1.1.0 (attempt 1, poll)');
    expect(w.fake.deployment('recsys').status).toMatchObject({ updatedReplicas: 2, availableReplicas: 2 });
    expect(w.slo.checked).toEqual(['1.1.0']);
    expect(readAudit(path.join(w.dir, 'audit.jsonl')).map((e) => e.event)).toEqual(['planned', 'apply', 'verify', 'promoted']);
  });

  test('every audit entry is an Event on the Deployment: kubectl describe shows the rollout, the rollback and the quarantine', async () => {
    const w = await world((img) => (img.includes(':1.2.0') ? 'crashloop' : 'ready'));
    const { reconciler, audit, events, metrics } = w.agent();
    await reconciler.runCycle([{ source: 'poll' }]);
    w.registry.push(REPO, '1.2.0');
    await reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);
    await events.flush();
    const entries = audit.read();
    expect(w.fake.events.map((e) => e.reason)).toEqual(entries.map((e) => e.event.split('-').map((p) => p[0].toUpperCase() + p.slice(1)).join('')));
    const uid = w.fake.deployment('recsys').metadata.uid;
    for (const e of w.fake.events) {
      expect(e.involvedObject).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'recsys', namespace: 'ml', uid });
      expect(e.source).toEqual({ component: 'modelpilot-updater' });
      expect(e.metadata.name).toMatch(/^recsys\.[0-9a-f]+$/);
    }
    expect(new Set(w.fake.events.map((e) => e.metadata.name)).size).toBe(w.fake.events.length);
    const byReason = (r: string) => w.fake.events.find((e) => e.reason === r)!;
    expect(byReason('Promoted')).toMatchObject({ type: 'Normal', message: expect.stringContaining(`-> ${ref('1.1.0')} (poll): ok`) });
    expect(byReason('RolledBack')).toMatchObject({ type: 'Warning', message: expect.stringContaining(`rolled-back ${ref('1.2.0')} -> `) });
    expect(byReason('Quarantined')).toMatchObject({ type: 'Warning', message: expect.stringMatching(/1\.2\.0: not ready: .*CrashLoopBackOff/) });
    expect((await metrics.registry.getSingleMetric('modelpilot_updater_events_total')!.get()).values.find((v) => v.labels.result === 'sent')?.value)
      .toBe(entries.length);
  });

  test('an Event that cannot be recorded (forbidden) is counted and logged; the update goes on', async () => {
    const w = await world(() => 'ready');
    const { reconciler, events, metrics } = w.agent();
    w.fake.failNext('create', 'events', 403, 100);
    const report = await reconciler.runCycle([{ source: 'poll' }]);
    await events.flush();
    expect(report.updates.map((u) => u.result)).toEqual(['promoted']);
    const values = (await metrics.registry.getSingleMetric('modelpilot_updater_events_total')!.get()).values;
    expect(values.find((v) => v.labels.result === 'failed')?.value).toBe(4);
    expect(w.fake.events).toEqual([]);
  });

  test('a version whose pods crash-loop is rolled back to the whole previous template and quarantined', async () => {
    const w = await world((img) => (img.includes(':1.2.0') ? 'crashloop' : 'ready'));
    const { reconciler, quarantine } = w.agent();
    await reconciler.runCycle([{ source: 'poll' }]);
    const good = w.fake.deployment('recsys').spec.template;
    w.registry.push(REPO, '1.2.0');

    const report = await reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);

    expect(report.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.1.0 -> 1.2.0', result: 'rolled_back' }]);
    expect(w.fake.deployment('recsys').spec.template).toEqual(good);
    expect(annotations(w.fake)[K8S_ANNOTATIONS.inFlight]).toBeUndefined();
    expect(quarantine.list().map((q) => [q.model, q.version])).toEqual([['recsys', '1.2.0']]);
    expect(quarantine.list()[0].reason).toMatch(/^not ready: ml\/recsys: pod recsys-\w+-ax0q container 'model' is CrashLoopBackOff/);

    // THEN the quarantined version is never applied again
    const patches = w.fake.patches.length;
    const again = await reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);
    expect(again.updates).toEqual([]);
    expect(w.fake.patches).toHaveLength(patches);
  });

  test('the quarantine lives on the Deployment: an agent with an empty state directory never re-applies it', async () => {
    const w = await world((img) => (img.includes(':1.2.0') ? 'crashloop' : 'ready'));
    const first = w.agent();
    await first.reconciler.runCycle([{ source: 'poll' }]);
    w.registry.push(REPO, '1.2.0');
    await first.reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);
    const recorded = JSON.parse(annotations(w.fake)[K8S_ANNOTATIONS.quarantine]) as Array<{ version: string; reason: string }>;
    expect(recorded.map((q) => q.version)).toEqual(['1.2.0']);
    expect(recorded[0].reason).toMatch(/CrashLoopBackOff/);

    // the updater pod is rescheduled: a new agent, a fresh (emptyDir) state directory
    const fresh = w.agent({ dir: tmpDir() });
    expect(fresh.quarantine.list()).toEqual([]);
    const patches = w.fake.patches.length;
    const report = await fresh.reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);
    expect(report.updates).toEqual([]);
    expect(w.fake.patches).toHaveLength(patches);
    expect(fresh.quarantine.isQuarantined('recsys', '1.2.0')).toBe(true);
    expect(fresh.audit.read().find((e) => e.event === 'quarantined')?.result).toBe('restored');
  });

  test('an operator\'s release is not undone by the quarantine the Deployment still carries', async () => {
    const w = await world((img) => (img.includes(':1.2.0') ? 'crashloop' : 'ready'));
    const { reconciler, audit } = w.agent();
    await reconciler.runCycle([{ source: 'poll' }]);
    w.registry.push(REPO, '1.2.0');
    await reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);
    expect(annotations(w.fake)[K8S_ANNOTATIONS.quarantine]).toContain('1.2.0');
    // what `modelpilot quarantine release recsys 1.2.0` does: the store in the same state directory
    expect(new QuarantineStore(w.dir).release('recsys', '1.2.0')).toBeDefined();
    const report = await reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);
    // released: it is tried again (and, still crash-looping, rolled back and quarantined anew)
    expect(report.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.1.0 -> 1.2.0', result: 'rolled_back' }]);
    expect(audit.read().filter((e) => e.event === 'quarantined' && e.result === 'restored')).toEqual([]);
  });

  test('a version that becomes ready but breaks the SLO is rolled back and quarantined', async () => {
    const w = await world(() => 'ready');
    w.slo.verdicts.set('1.1.0', 'Unhealthy');
    const { reconciler, quarantine } = w.agent();
    const original = w.fake.deployment('recsys').spec.template;

    const report = await reconciler.runCycle([{ source: 'poll' }]);

    expect(report.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.0.0 -> 1.1.0', result: 'rolled_back' }]);
    expect(w.fake.deployment('recsys').spec.template).toEqual(original);
    expect(quarantine.list().map((q) => q.version)).toEqual(['1.1.0']);
    expect(quarantine.list()[0].reason).toBe('SLO broken: error ratio 0.5 > 0.05 over 1m');
  });

  test('a progress deadline exceeded is a failed rollout: rolled back and quarantined', async () => {
    const w = await world((img) => (img.includes(':1.1.0') ? 'deadline' : 'ready'));
    const { reconciler, quarantine } = w.agent();
    const report = await reconciler.runCycle([{ source: 'poll' }]);
    expect(report.updates[0].result).toBe('rolled_back');
    expect(image(w.fake)).toBe(V100);
    expect(quarantine.list()[0].reason).toMatch(/progress deadline exceeded/);
  });

  describe('restart mid-rollout', () => {
    /** Agent 1 applies the update and is killed while it waits for the rollout (its cycle never finishes). */
    async function killedDuringRollout(w: World): Promise<void> {
      let applied!: () => void;
      const reachedWait = new Promise<void>((resolve) => { applied = resolve; });
      const first = w.agent({
        wrap: (t) => ({
          kind: t.kind, discover: (s) => t.discover(s), apply: (p, s) => t.apply(p, s),
          promote: (p, s) => t.promote(p, s), rollback: (p, s) => t.rollback(p, s),
          waitReady: () => {
            applied();
            return new Promise(() => undefined); // killed: never answers, never promotes
          },
        }),
      });
      void first.reconciler.runCycle([{ source: 'poll' }]);
      await reachedWait;
      expect(annotations(w.fake)[K8S_ANNOTATIONS.inFlight]).toBeDefined();
    }

    test('a restarted agent finishes a good update it finds in flight', async () => {
      const w = await world(() => 'ready');
      await killedDuringRollout(w);

      const report = await w.agent().reconciler.runCycle([{ source: 'startup' }]);

      expect(report.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: `ml/recsys ${V100} -> ${ref('1.1.0')}`, result: 'promoted' }]);
      expect(image(w.fake)).toBe(ref('1.1.0'));
      expect(annotations(w.fake)[K8S_ANNOTATIONS.inFlight]).toBeUndefined();
      expect(readAudit(path.join(w.dir, 'audit.jsonl')).map((e) => e.event)).toContain('recovered');
    });

    test('a restarted agent reverses a bad update it finds in flight and quarantines it', async () => {
      const w = await world((img) => (img.includes(':1.1.0') ? 'crashloop' : 'ready'));
      const original = w.fake.deployment('recsys').spec.template;
      await killedDuringRollout(w);

      const second = w.agent();
      const report = await second.reconciler.runCycle([{ source: 'startup' }]);

      expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
      expect(w.fake.deployment('recsys').spec.template).toEqual(original);
      expect(second.quarantine.list().map((q) => q.version)).toEqual(['1.1.0']);
      expect(second.quarantine.list()[0].reason).toMatch(/CrashLoopBackOff/);
    });

    test('a restarted agent that finds in flight an image the node cannot pull reverts it as a failed apply, not a verdict', async () => {
      const w = await world((img) => (img.includes(':1.1.0') ? 'imagepull' : 'ready'));
      const original = w.fake.deployment('recsys').spec.template;
      await killedDuringRollout(w);

      const second = w.agent();
      const report = await second.reconciler.runCycle([{ source: 'startup' }]);

      expect(report.updates.map((u) => u.result)).toEqual(['failed']);
      expect(w.fake.deployment('recsys').spec.template).toEqual(original);
      expect(annotations(w.fake)[K8S_ANNOTATIONS.inFlight]).toBeUndefined();
      expect(second.quarantine.list()).toEqual([]);
      const audit = readAudit(path.join(w.dir, 'audit.jsonl'));
      expect(audit.find((e) => e.event === 'apply-failed')?.reason).toContain('ml/recsys: pod recsys-');
      expect(audit.find((e) => e.event === 'apply-failed')?.reason).toContain(` cannot pull '${ref('1.1.0')}': ImagePullBackOff: Back-off pulling image`);
      expect(audit.filter((e) => e.event === 'reverted').map((e) => e.result)).toEqual(['ok']);
      expect(audit.at(-1)).toMatchObject({ event: 'failed', result: 'backoff', reason: expect.stringMatching(/^failed cycle 1 of 3;/) });
      expect(audit.filter((e) => e.event === 'verify' || e.event === 'rolled-back')).toEqual([]);
    });
  });

  describe('an image the node cannot pull', () => {
    test('is a failed apply: reverted and retried, then quarantined after the failure budget; never judged, old pods kept', async () => {
      const w = await world((img) => (img.includes(':1.1.0') ? 'imagepull' : 'ready'));
      const original = w.fake.deployment('recsys').spec.template;
      const a = w.agent();
      const audit = () => readAudit(path.join(w.dir, 'audit.jsonl'));
      const budget = DEFAULT_ROLLBACK.failureBudget!;

      const first = await a.reconciler.runCycle([{ source: 'poll' }]);

      expect(first.updates.map((u) => u.result)).toEqual(['failed']);
      expect(audit().filter((e) => e.event === 'apply').length).toBe(DEFAULT_ROLLBACK.maxAttempts);
      expect(audit().filter((e) => e.event === 'apply-failed').map((e) => e.reason)).toEqual(
        Array(DEFAULT_ROLLBACK.maxAttempts).fill(expect.stringContaining(`cannot pull '${ref('1.1.0')}': ImagePullBackOff`)));
      expect(audit().filter((e) => e.event === 'reverted').length).toBe(DEFAULT_ROLLBACK.maxAttempts);
      expect(w.fake.deployment('recsys').spec.template).toEqual(original);
      expect(a.quarantine.list()).toEqual([]);
      expect(w.slo.checked).toEqual([]);

      for (let cycle = 2; cycle <= budget && a.quarantine.list().length === 0; cycle++) {
        a.clock.advance(60_000);
        await a.reconciler.runCycle([{ source: 'poll' }]);
      }
      expect(a.quarantine.list()).toEqual([expect.objectContaining({ version: '1.1.0', source: 'apply-failures' })]);
      expect(a.quarantine.list()[0].reason).toMatch(new RegExp(`^every apply failed in ${budget} cycle\\(s\\): .*ImagePullBackOff`));
      expect(audit().filter((e) => e.event === 'apply').length).toBe(DEFAULT_ROLLBACK.maxAttempts * budget);
      expect(audit().filter((e) => e.event === 'verify' || e.event === 'rolled-back')).toEqual([]);
      expect(w.fake.deployment('recsys').spec.template).toEqual(original);
    });
  });

  test('rollback still restores the previous template from its ReplicaSet when a GitOps sync dropped the record', async () => {
    const w = await world((img) => (img.includes(':1.1.0') ? 'crashloop' : 'ready'));
    const original = w.fake.deployment('recsys').spec.template;
    // Right after the apply, something strips the template record (but not the in-flight record).
    w.fake.afterNext('patch', 'deployments', () => w.fake.externalChange('recsys', { metadata: { annotations: { [K8S_ANNOTATIONS.previousTemplate]: null } } }));
    const { reconciler } = w.agent();

    const report = await reconciler.runCycle([{ source: 'poll' }]);

    expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(w.fake.deployment('recsys').spec.template).toEqual(original);
    expect(w.fake.calls).toContainEqual({ verb: 'list', group: 'apps', resource: 'replicasets', namespace: 'ml' });
  });

  describe('a promoted version that fails later', () => {
    /** The kubelet's view after promotion: the version's pods now behave as `later` and the Deployment is not Available. */
    function failLater(fake: FakeKube): void {
      const d = fake.deployment('recsys');
      d.status = {
        ...d.status, availableReplicas: 0, unavailableReplicas: 2,
        conditions: [...(d.status.conditions ?? []).filter((c: Json) => c.type !== 'Available'),
          { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' }],
      };
      fake.replay([{ type: 'MODIFIED', object: d }]);
    }

    test.each([
      ['the audit log', false],
      ['the Deployment\'s own annotation (an agent with an empty state directory)', true],
    ])('whose pods keep restarting is quarantined and the previous version restored, known from %s', async (_from, freshState) => {
      let later: ImageBehaviour = 'ready';
      const w = await world((img) => (img.includes(':1.1.0') ? later : 'ready'));
      const first = w.agent();
      expect((await first.reconciler.runCycle([{ source: 'poll' }])).updates.map((u) => u.result)).toEqual(['promoted']);
      later = 'crashloop';
      failLater(w.fake);
      const { reconciler, quarantine, audit } = freshState ? w.agent({ dir: tmpDir() }) : first;
      const report = await reconciler.runCycle([{ source: 'poll' }]);
      expect(report.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.1.0 -> 1.0.0', result: 'rolled_back' }]);
      expect(image(w.fake)).toBe(V100);
      expect(quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
      const q = audit.read().find((e) => e.event === 'quarantined')!;
      // with the audit log: within the post-promotion watch (the pods' restarts read every cycle); without it: the
      // Deployment is not Available and the restart budget is spent
      expect(q.reason).toMatch(freshState ? /is not Available \(MinimumReplicasUnavailable.*CrashLoopBackOff.*6 restart\(s\), budget 3/
        : /crashing after its promotion \d+s ago \(watched for 900s\): .*CrashLoopBackOff.*6 restart\(s\), budget 3/);
      // the quarantine is on the Deployment too, and the next cycle leaves 1.0.0 alone
      expect(annotations(w.fake)[K8S_ANNOTATIONS.quarantine]).toContain('1.1.0');
      expect((await reconciler.runCycle([{ source: 'poll' }])).updates).toEqual([]);
    });

    test('not Available for another reason (pods Pending, no restarts) is left alone', async () => {
      let later: ImageBehaviour = 'ready';
      const w = await world((img) => (img.includes(':1.1.0') ? later : 'ready'));
      const { reconciler, quarantine } = w.agent();
      await reconciler.runCycle([{ source: 'poll' }]);
      later = 'hang';
      failLater(w.fake);
      const patches = w.fake.patches.length;
      const report = await reconciler.runCycle([{ source: 'poll' }]);
      expect(report.updates).toEqual([]);
      expect(w.fake.patches.length).toBe(patches);
      expect(quarantine.isQuarantined('recsys', '1.1.0')).toBe(false);
      expect(image(w.fake)).toBe(ref('1.1.0'));
    });
  });

  test('an Alertmanager rollback of the promoted version goes back to the previous one', async () => {
    const w = await world(() => 'ready');
    const { reconciler, quarantine } = w.agent();
    await reconciler.runCycle([{ source: 'poll' }]);
    expect(image(w.fake)).toBe(ref('1.1.0'));

    const report = await reconciler.runCycle([{ source: 'webhook:alertmanager', rollback: { model: 'recsys', version: '1.1.0', reason: 'ModelHighErrorRate' } }]);

    expect(report.updates.map((u) => u.result)).toEqual(['rolled_back']);
    expect(image(w.fake)).toBe(V100);
    expect(quarantine.isQuarantined('recsys', '1.1.0')).toBe(true);
  });

  test('without the Role a call is refused and the update fails cleanly, naming the missing verb', async () => {
    const rules = synthesizedRole().map((r) => (r.resources[0] === 'deployments' ? { ...r, verbs: r.verbs.filter((v) => v !== 'patch') } : r));
    const w = await world(() => 'ready', rules);
    const { reconciler } = w.agent();
    const report = await reconciler.runCycle([{ source: 'poll' }]);
    expect(report.updates.map((u) => u.result)).toEqual(['failed']);
    expect(report.failures[0]).toContain("forbidden: the agent may not 'patch' deployments.apps 'recsys' in namespace 'ml'");
    expect(image(w.fake)).toBe(V100);
  });

  test('label discovery works under the label-discovery Role', async () => {
    const w = await world(() => 'ready', synthesizedRole(UpdaterDiscovery.byLabel()));
    const { reconciler } = w.agent({ target: { deployments: undefined } });
    const report = await reconciler.runCycle([{ source: 'poll' }]);
    expect(report.updates.map((u) => u.result)).toEqual(['promoted']);
    expect(w.fake.calls).toContainEqual({ verb: 'list', group: 'apps', resource: 'deployments', namespace: 'ml' });
  });
});

describe('operator overrides as annotations on the Deployment (kubectl annotate)', () => {
  test('modelpilot.dev/hold stops updates; removed, the update goes; modelpilot.dev/pin moves the Deployment to exactly that version', async () => {
    const w = await world(() => 'ready');
    const { reconciler, audit } = w.agent();
    w.fake.externalChange('recsys', { metadata: { annotations: { 'modelpilot.dev/hold': 'incident 4711' } } });
    expect((await reconciler.runCycle([{ source: 'poll' }])).updates).toEqual([]);
    expect(image(w.fake)).toBe(V100);
    expect(audit.read().filter((e) => e.event === 'hold').map((e) => e.reason))
      .toEqual(['automatic updates of recsys are held until released (kubernetes-annotation): annotation modelpilot.dev/hold="incident 4711"']);
    // an expired end time is no hold
    w.fake.externalChange('recsys', { metadata: { annotations: { 'modelpilot.dev/hold': '2020-01-01T00:00:00Z' } } });
    expect((await reconciler.runCycle([{ source: 'webhook:registry' }])).updates.map((u) => u.result)).toEqual(['promoted']);
    expect(image(w.fake)).toBe(ref('1.1.0'));
    // pinned back to 1.0.0 (a rollback that sticks)
    w.registry.digests.set(`${REPO}:1.0.0`, `sha256:${'1'.repeat(64)}`);
    w.fake.externalChange('recsys', { metadata: { annotations: { 'modelpilot.dev/pin': '1.0.0' } } });
    const pinned = await reconciler.runCycle([{ source: 'poll' }]);
    expect(pinned.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.1.0 -> 1.0.0', result: 'promoted' }]);
    expect(image(w.fake)).toBe(V100);
  });
});

describe('a Deployment delivered by an Argo Rollout (canary / blue-green)', () => {
  /** The recorded Deployment with the annotation the stack's delivery section writes, and its Rollout. */
  const delivered = (): Partial<FakeKubeOptions> => {
    const d = fixture<Json>('deployment-recsys.json');
    d.metadata.annotations = { ...d.metadata.annotations, 'modelpilot.dev/rollout': 'recsys' };
    return {
      deployments: [d],
      rollouts: [{
        apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'recsys', namespace: 'ml', generation: 1 },
        status: { phase: 'Healthy', stableRS: '5f6d7c8b9a', currentPodHash: '5f6d7c8b9a', workloadObservedGeneration: '1' },
      }],
    };
  };

  test('the updater hands the version to the Rollout and promotes on its verdict; the analysis is in the audit log', async () => {
    const w = await world(() => 'ready', synthesizedRole(), delivered());
    const { reconciler, audit } = w.agent();

    const report = await reconciler.runCycle([{ source: 'poll' }]);

    expect(report.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.0.0 -> 1.1.0', result: 'promoted' }]);
    expect(image(w.fake)).toBe(ref('1.1.0'));
    expect(w.fake.calls.some((c) => c.group === 'argoproj.io' && c.resource === 'rollouts' && c.verb === 'get' && c.name === 'recsys')).toBe(true);
    const verify = audit.read().find((e) => e.event === 'verify')!;
    expect(verify.reason).toMatch(/Rollout recsys promoted pod template [0-9a-f]+ \(analysis recsys-[0-9a-f]+-2-1 Successful\); analysis recsys-[0-9a-f]+-2-1 Successful — served-requests Successful \(1 measured, 0 failed, last \[40\]\), error-ratio Successful/);
  });

  test('an aborted Rollout (failed analysis) is a failed update: template restored, version quarantined with the analysis reason', async () => {
    const w = await world((img) => (img.includes(':1.2.0') ? 'analysis-fails' : 'ready'), synthesizedRole(), delivered());
    const { reconciler, quarantine, audit } = w.agent();
    await reconciler.runCycle([{ source: 'poll' }]);
    const stable = w.fake.rollout('recsys').status.stableRS;
    w.registry.push(REPO, '1.2.0');

    const report = await reconciler.runCycle([{ source: 'webhook:registry', repositories: [REPO] }]);

    expect(report.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.1.0 -> 1.2.0', result: 'rolled_back' }]);
    expect(image(w.fake)).toBe(ref('1.1.0'));
    // the stable template back on the Deployment: the Rollout is Healthy on the stable pods again (once the fake
    // controller has seen the rollback patch: at most 50 × 20 ms)
    for (let i = 0; i < 50 && w.fake.rollout('recsys').status.phase !== 'Healthy'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(w.fake.rollout('recsys').status).toMatchObject({ phase: 'Healthy', stableRS: stable, currentPodHash: stable });
    const q = quarantine.list().find((e) => e.version === '1.2.0')!;
    expect(q.reason).toContain('Rollout recsys aborted: RolloutAborted');
    expect(q.reason).toContain('Metric "error-ratio" assessed Failed');
    expect(q.reason).toContain('error-ratio Failed (1 measured, 1 failed, last [0.4])');
    expect(audit.read().filter((e) => e.to === ref('1.2.0') || e.from === ref('1.2.0')).map((e) => e.event)).toEqual(
      expect.arrayContaining(['apply', 'verify', 'rolled-back', 'quarantined']));
  });
});

describe('RBAC', () => {
  beforeAll(() => {
    if (allCalls.length === 0) throw new Error('no calls recorded: run the whole file, the RBAC tests check the calls the loop tests above made');
  });
  const key = (group: string, resource: string, verb: string): string => `${group}/${resource}:${verb}`;
  const granted = (rules: ReturnType<typeof synthesizedRole>): Set<string> =>
    new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => key(g, res, v))))));

  test('the synthesized Role grants exactly the verbs the target called in the loop tests (by-name discovery)', () => {
    // GIVEN every call of the tests above made with the by-name target (no namespace-wide list of deployments)
    const byName = allCalls.filter((c) => !(c.verb === 'list' && c.resource === 'deployments'));
    const used = new Set(byName.map((c) => key(c.group, c.resource, c.verb)));
    // THEN the Role allows each of them, and nothing the target never calls
    expect([...used].sort()).toEqual([...granted(synthesizedRole())].sort());
    // AND every deployments call named a Deployment the Role lists in resourceNames
    const names = synthesizedRole()[0].resourceNames;
    expect(byName.filter((c) => c.resource === 'deployments').every((c) => c.name !== undefined && names?.includes(c.name))).toBe(true);
  });

  test('label discovery adds only namespace-wide list on deployments', () => {
    const extra = [...granted(synthesizedRole(UpdaterDiscovery.byLabel()))].filter((g) => !granted(synthesizedRole()).has(g));
    expect(extra).toEqual(['apps/deployments:list']);
    expect(allCalls.some((c) => c.verb === 'list' && c.resource === 'deployments')).toBe(true);
  });

  test('nothing is cluster-wide and nothing writes beyond patch on the named Deployments', () => {
    const rules = synthesizedRole();
    for (const r of rules) {
      expect(r.verbs).not.toContain('*');
      expect(r.resources).not.toContain('*');
    }
    const writes = rules.filter((r) => r.verbs.some((v) => ['create', 'update', 'patch', 'delete', 'deletecollection'].includes(v)));
    expect(writes).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch', 'watch'], resourceNames: ['recsys'] },
      // Events are only created (never read, changed or deleted)
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
  });
});
