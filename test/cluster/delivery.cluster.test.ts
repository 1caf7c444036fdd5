/**
 * A real canary (see delivery-scenario.ts): the Argo Rollouts controller built from the Go module proxy on the test
 * control plane, its analysis against a live Prometheus, and the updater's reconcile loop handing each version to
 * the Rollout as the synthesized ServiceAccount. Pods are kwok's; the model's metrics are synthetic.
 */
import { digestOf } from '../agent/fakes';
import { DeliveryRun, runDeliveryScenario } from './delivery-scenario';

jest.setTimeout(600_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes JSON
type Obj = Record<string, any>;

const ref = (tag: string): string => `127.0.0.1:5000/models/recsys:${tag}@${digestOf(tag)}`;

let run: DeliveryRun | undefined;

beforeAll(async () => {
  run = await runDeliveryScenario();
}, 600_000);

afterAll(async () => run?.stop());

const events = (r: DeliveryRun, to: string): string[] => r.audit.read().filter((e) => e.to === to || e.from === to).map((e) => e.event);
const verifyReason = (r: DeliveryRun, to: string): string => r.audit.read().find((e) => e.event === 'verify' && e.to === to)?.reason ?? '';
const analysisOf = (r: DeliveryRun, version: string): Obj => {
  const a = r.analysisRuns.find((x) => x.metadata.labels?.['rollouts-pod-template-hash'] === r.hashOf[version]);
  if (!a) throw new Error(`no AnalysisRun for ${version} (hash ${r.hashOf[version]}) among ${r.analysisRuns.map((x) => x.metadata.name).join(', ')}`);
  return a;
};

describe('a canary on a real control plane with the Argo Rollouts controller and a live Prometheus', () => {
  test('a healthy canary passes its analysis and is promoted; the updater records the analysis run', () => {
    const r = run!;
    expect(r.reports.healthy.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.0.0 -> 1.1.0', result: 'promoted' }]);
    expect(r.rollouts.healthy.status).toMatchObject({ phase: 'Healthy' });
    expect(r.rollouts.healthy.status.stableRS).toBe(r.rollouts.healthy.status.currentPodHash);
    expect(r.rollouts.healthy.status.stableRS).not.toBe(r.rollouts.initial.status.stableRS);
    expect(r.hashOf['1.1.0']).toBe(r.rollouts.healthy.status.stableRS);
    const passed = analysisOf(r, '1.1.0');
    expect(passed.status.phase).toBe('Successful');
    expect(passed.status.metricResults.map((m: Obj) => [m.name, m.phase]).sort()).toEqual([
      ['error-ratio', 'Successful'], ['p99-latency', 'Successful'], ['served-requests', 'Successful'],
    ]);
    // the audit log holds the run's outcome, metric by metric
    const reason = verifyReason(r, ref('1.1.0'));
    expect(reason).toMatch(/Rollout recsys promoted pod template \w+.*; analysis recsys-\w+-\d+-\d+ Successful — /);
    // the first measurements may come before the canary served 10 requests: tolerated up to maxIdle (2 of them)
    expect(reason).toMatch(/served-requests Successful \(4 measured, [0-2] failed, last \[\d+\]\)/);
    expect(reason).toMatch(/error-ratio Successful \(4 measured, 0 failed, last \[0\]\)/);
    expect(r.promql.healthy).toBe(0);
  });

  test('a canary with 40 % errors fails the error-ratio metric; the Rollout aborts, the updater restores 1.1.0 and quarantines 1.2.0', () => {
    const r = run!;
    expect(r.reports.errors.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.1.0 -> 1.2.0', result: 'rolled_back' }]);
    const failed = analysisOf(r, '1.2.0');
    expect(failed.status.phase).toBe('Failed');
    expect(failed.status.metricResults.find((m: Obj) => m.name === 'error-ratio').phase).toBe('Failed');
    expect(r.promql.errors).toBeCloseTo(0.4, 5);
    const q = r.quarantine.list().find((e) => e.version === '1.2.0')!;
    expect(q.reason).toMatch(/Rollout recsys aborted: .*error-ratio/);
    expect(verifyReason(r, ref('1.2.0'))).toMatch(/analysis recsys-\w+-\d+-\d+ Failed.*error-ratio Failed \(\d+ measured, 1 failed, last \[0\.4\]\)/);
    expect(events(r, ref('1.2.0'))).toEqual(expect.arrayContaining(['apply', 'verify', 'rolled-back', 'quarantined']));
    // back on the stable pods of 1.1.0
    expect(r.rollouts['errors-restored'].status.stableRS).toBe(r.rollouts.healthy.status.stableRS);
    expect(r.rollouts['errors-restored'].status.currentPodHash).toBe(r.rollouts.healthy.status.stableRS);
  });

  test('an idle canary neither passes nor stalls: served-requests fails after maxIdle, the Rollout aborts, 1.3.0 is quarantined', () => {
    const r = run!;
    expect(r.reports.idle.updates).toEqual([{ workload: 'k8s/ml/recsys', plan: 'ml/recsys 1.1.0 -> 1.3.0', result: 'rolled_back' }]);
    const idle = analysisOf(r, '1.3.0');
    expect(idle.status.phase).toBe('Failed');
    const served = idle.status.metricResults.find((m: Obj) => m.name === 'served-requests');
    expect(served.phase).toBe('Failed');
    // failureLimit = floor(maxIdle / interval) = 2: the third idle measurement fails it
    expect(served.failed).toBe(3);
    expect(r.quarantine.list().find((e) => e.version === '1.3.0')!.reason).toMatch(/served-requests/);
    expect(r.rollouts['idle-restored'].status.stableRS).toBe(r.rollouts.healthy.status.stableRS);
  });
});
