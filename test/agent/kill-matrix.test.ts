/**
 * The agent killed at every step of a promote and of a rollback (fast tier; the real one on podman is
 * test/agent/kill-matrix.integration.test.ts). Every call the loop makes into the target that changes something
 * (apply, promote, rollback, recordQuarantine) and every write to the state directory (audit entry, quarantine
 * store) is a step. The kill is simulated at each step, just before it and just after it: from then on nothing the
 * first agent does reaches the world (its target calls never return, its writes are dropped), as after a SIGKILL.
 * A second agent then starts on the same state directory and the same target and runs until it settles.
 *
 * Asserted for every kill point: a version judged bad is applied at most once, the version that should serve at
 * the end does (the old one after a rollback verdict, the new one after a promote), nothing is left in flight,
 * and a version judged bad is quarantined.
 */
import { AuditLog } from '../../agent/state/audit';
import { QuarantineStore } from '../../agent/state/quarantine';
import { K8S_ANNOTATIONS, KubernetesTarget } from '../../agent/targets/kubernetes';
import { Target, TriggerEvent } from '../../agent/types';
import { FakeKube } from '../support/fake-kube';
import { digestOf, FakeClock, FakeRegistry, FakeTarget, REPO, harness, ref, tmpDir } from './fakes';

const poll: TriggerEvent = { source: 'poll' };
const MUTATING = new Set(['apply', 'promote', 'rollback', 'recordQuarantine', 'revive']);

interface KillPoint {
  readonly step: number;
  readonly when: 'before' | 'after';
}

/** A switch that, once thrown, cuts the first agent off from the world. */
class Killer {
  public steps: string[] = [];
  /** A call that had started when the agent died: it runs to its end (the engine or API server finishes it). */
  public pending?: Promise<unknown>;
  public dead = false;
  public resolveDead: () => void = () => undefined;
  public readonly died = new Promise<void>((r) => { this.resolveDead = r; });
  constructor(private readonly at?: KillPoint) {}

  /** Counts one step; returns whether it may reach the world (false: the agent is dead, before or at it). */
  public step(what: string, act: () => void): void {
    if (this.dead) return;
    this.steps.push(what);
    const n = this.steps.length;
    if (this.at && n === this.at.step && this.at.when === 'before') return this.die();
    act();
    if (this.at && n === this.at.step && this.at.when === 'after') this.die();
  }

  /** The dead agent's clock stops: its next backoff sleep never ends, so it arms no more real-time timeouts. */
  public stopClock(clock: FakeClock): void {
    const sleep = clock.sleep.bind(clock);
    clock.sleep = (ms, signal) => (this.dead ? never<void>() : sleep(ms, signal));
  }

  private die(): void {
    this.dead = true;
    this.resolveDead();
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** The target as the first agent sees it: mutating calls are steps; after the kill every call hangs. */
function killable<T extends Target>(target: T, k: Killer): Target {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (k.dead) return never();
        if (!MUTATING.has(String(prop))) return (v as (...a: unknown[]) => unknown).apply(t, args);
        let result: unknown;
        k.step(`target.${String(prop)}`, () => { result = (v as (...a: unknown[]) => unknown).apply(t, args); });
        if (k.dead) {
          k.pending = Promise.resolve(result).catch(() => undefined);
          return never();
        }
        return result;
      };
    },
  });
}

/** The stores as the first agent sees them: each write is a step; after the kill writes are dropped. */
function killableStores(audit: AuditLog, quarantine: QuarantineStore, k: Killer): void {
  const append = audit.append.bind(audit);
  audit.append = (e) => {
    let out: ReturnType<typeof append> | undefined;
    k.step(`audit.${e.event}`, () => { out = append(e); });
    return out as ReturnType<typeof append>;
  };
  const add = quarantine.add.bind(quarantine);
  quarantine.add = (e) => {
    let out = false;
    k.step('quarantine.add', () => { out = add(e); });
    return out;
  };
}

type Scenario = 'rollback' | 'promote';

/** One run: the first agent (killed at `at`, or never), then a second one on the same state until it settles. */
async function run(scenario: Scenario, at?: KillPoint): Promise<{ steps: string[]; target: FakeTarget; quarantined: boolean; judgedAgain: number }> {
  const dir = tmpDir();
  const target = new FakeTarget();
  target.add('recsys', `${REPO}:1.0.0`);
  const k = new Killer(at);
  // A dead agent's calls never return; its per-attempt timeout (real time) then fires and it would retry forever, each
  // retry arming another timer that keeps the test process alive: a short timeout (ample for these in-process calls),
  // and its clock stops once it is dead.
  const first = harness({ dir, tags: ['1.0.0', '1.1.0'], targets: [killable(target, k)], rollback: { attemptTimeoutMs: 1_000 } });
  first.slo.verdicts.set('1.1.0', scenario === 'rollback' ? 'Unhealthy' : 'Healthy');
  killableStores(first.audit, first.quarantine, k);
  k.stopClock(first.clock);
  await Promise.race([first.reconciler.runCycle([poll]), k.died]);
  await k.pending;

  const second = harness({ dir, tags: ['1.0.0', '1.1.0'], targets: [target] });
  // a bad version stays bad: the second agent judges it as the first did (when it judges it at all)
  second.slo.verdicts.set('1.1.0', scenario === 'rollback' ? 'Unhealthy' : 'Healthy');
  for (let i = 0; i < 4; i++) {
    second.clock.advance(120_000);
    await second.reconciler.runCycle([i === 0 ? { source: 'startup' } : poll]);
  }
  return { steps: k.steps, target, quarantined: second.quarantine.isQuarantined('recsys', '1.1.0'), judgedAgain: second.slo.checked.length };
}

const applies = (t: FakeTarget): number => t.calls.filter((c) => c.startsWith('apply recsys 1.0.0 -> 1.1.0')).length;

test('write-ahead: a rollback verdict is quarantined (state store and workload) before the rollback starts', async () => {
  const { steps } = await run('rollback');
  expect(steps.indexOf('quarantine.add')).toBeGreaterThan(steps.indexOf('audit.verify'));
  expect(steps.indexOf('quarantine.add')).toBeLessThan(steps.indexOf('target.rollback'));
  expect(steps.indexOf('target.recordQuarantine')).toBeLessThan(steps.indexOf('target.rollback'));
});

describe.each<Scenario>(['rollback', 'promote'])('the agent killed at every step of a %s', (scenario) => {
  test('every kill point: at most one apply of a version judged bad, the right version serving, nothing in flight', async () => {
    const clean = await run(scenario);
    expect(clean.steps.length).toBeGreaterThan(3);
    const seen: object[] = [];
    const wanted: object[] = [];
    for (let step = 1; step <= clean.steps.length; step++) {
      for (const when of ['before', 'after'] as const) {
        const row = `${when} ${clean.steps[step - 1]}`;
        const r = await run(scenario, { step, when });
        const w = r.target.get('recsys');
        // a rollback verdict durable before the kill (its audit entry written) is carried out, never judged again
        const verdictAt = clean.steps.indexOf('audit.verify') + 1;
        const durable = step > verdictAt || (step === verdictAt && when === 'after');
        seen.push({ row, serving: w.image, applies: applies(r.target), inFlight: w.inFlight, quarantined: r.quarantined,
          judgedAgain: scenario === 'rollback' && durable ? r.judgedAgain : 'n/a' });
        wanted.push({ row, serving: scenario === 'rollback' ? `${REPO}:1.0.0` : ref('1.1.0'), applies: 1, inFlight: undefined,
          quarantined: scenario === 'rollback', judgedAgain: scenario === 'rollback' && durable ? 0 : 'n/a' });
      }
    }
    expect(seen).toEqual(wanted);
    expect(seen.length).toBe(clean.steps.length * 2);
  });
});

/**
 * The same on Kubernetes: the real KubernetesTarget against the fake API server (test/support/fake-kube.ts), each
 * of its calls from the loop (apply, promote, rollback, recordQuarantine) and each state write a step.
 */
const K8S_REPO = 'registry.ml.svc:5000/models/recsys';
const V100 = `${K8S_REPO}:1.0.0@sha256:${'1'.repeat(64)}`;

async function runK8s(scenario: Scenario, at?: KillPoint): Promise<{ steps: string[]; image: string; inFlight: string | undefined;
  quarantined: boolean; appliesAfterVerdict: number; judgedAgain: number }> {
  const fake = await FakeKube.start({ behaviour: () => 'ready' });
  try {
    const dir = tmpDir();
    const registry = (): FakeRegistry => {
      const r = new FakeRegistry(K8S_REPO, ['1.0.0', '1.1.0']);
      r.digests.set(`${K8S_REPO}:1.0.0`, `sha256:${'1'.repeat(64)}`);
      return r;
    };
    const target = (): KubernetesTarget => new KubernetesTarget({ kubeConfig: fake.kubeConfig(), namespace: 'ml', deployments: ['recsys'], pollIntervalMs: 20 });
    const k = new Killer(at);
    const gate = { readinessTimeoutMs: 20_000 };
    // as above: the dead agent's retries must not arm real-time timers forever
    const first = harness({ dir, registry: registry(), targets: [killable(target(), k)], gate, rollback: { attemptTimeoutMs: 1_000 } });
    first.slo.verdicts.set('1.1.0', scenario === 'rollback' ? 'Unhealthy' : 'Healthy');
    killableStores(first.audit, first.quarantine, k);
    k.stopClock(first.clock);
    await Promise.race([first.reconciler.runCycle([poll]), k.died]);
    await k.pending;
    const second = harness({ dir, registry: registry(), targets: [target()], gate });
    second.slo.verdicts.set('1.1.0', scenario === 'rollback' ? 'Unhealthy' : 'Healthy');
    for (let i = 0; i < 4; i++) {
      second.clock.advance(120_000);
      await second.reconciler.runCycle([i === 0 ? { source: 'startup' } : poll]);
    }
    const audit = second.audit.read();
    const verdict = audit.findIndex((e) => e.event === 'verify' && e.result === 'rollback');
    const d = fake.deployment('recsys');
    return {
      steps: k.steps, image: d.spec.template.spec.containers[0].image, inFlight: d.metadata.annotations?.[K8S_ANNOTATIONS.inFlight],
      quarantined: second.quarantine.isQuarantined('recsys', '1.1.0'),
      appliesAfterVerdict: verdict < 0 ? 0 : audit.slice(verdict + 1).filter((e) => e.event === 'apply' && (e.to ?? '').includes(':1.1.0')).length,
      judgedAgain: second.slo.checked.length,
    };
  } finally {
    await fake.stop();
  }
}

describe.each<Scenario>(['rollback', 'promote'])('Kubernetes: the agent killed at every step of a %s', (scenario) => {
  test('every kill point: never applied again once judged bad, the right version serving, nothing in flight', async () => {
    const clean = await runK8s(scenario);
    expect(clean.steps).toEqual(expect.arrayContaining(['target.apply', scenario === 'rollback' ? 'target.rollback' : 'target.promote']));
    // write-ahead on Kubernetes too: the quarantine annotation before the rollback (the promote path has neither)
    expect(clean.steps.indexOf('target.recordQuarantine')).toBeLessThanOrEqual(clean.steps.indexOf('target.rollback'));
    const seen: object[] = [];
    const wanted: object[] = [];
    const verdictAt = clean.steps.indexOf('audit.verify') + 1;
    for (let step = 1; step <= clean.steps.length; step++) {
      for (const when of ['before', 'after'] as const) {
        const row = `${when} ${clean.steps[step - 1]}`;
        const r = await runK8s(scenario, { step, when });
        const durable = step > verdictAt || (step === verdictAt && when === 'after');
        seen.push({ row, image: r.image, inFlight: r.inFlight, quarantined: r.quarantined, appliesAfterVerdict: r.appliesAfterVerdict,
          judgedAgain: scenario === 'rollback' && durable ? r.judgedAgain : 'n/a' });
        wanted.push({ row, image: scenario === 'rollback' ? V100 : `${K8S_REPO}:1.1.0@${digestOf('1.1.0')}`, inFlight: undefined,
          quarantined: scenario === 'rollback', appliesAfterVerdict: 0, judgedAgain: scenario === 'rollback' && durable ? 0 : 'n/a' });
      }
    }
    expect(seen).toEqual(wanted);
  }, 120_000);
});
