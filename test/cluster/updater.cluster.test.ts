/**
 * The updater on a real control plane, as its least-privilege ServiceAccount (see updater-scenario.ts). Pods are
 * kwok's: "Ready" and "not Ready" are kwok's stages, no container runs and no image is pulled.
 */
import { KUBERNETES_TARGET_RBAC } from '../../lib/core/contract/kubernetes-rbac';
import { runUpdaterScenario, UpdaterScenarioResult } from './updater-scenario';

jest.setTimeout(600_000);

let run: UpdaterScenarioResult;
beforeAll(async () => {
  run = await runUpdaterScenario();
}, 600_000);

describe('the updater on a real API server, as its synthesized ServiceAccount', () => {
  test('a push of 1.1.0 is promoted through a real Deployment rollout', () => {
    expect(run.images.afterPromote).toBe(`${run.repository}:1.1.0@${run.digests['1.1.0']}`);
    expect(run.audit).toContainEqual(expect.objectContaining({ event: 'promoted', to: `${run.repository}:1.1.0@${run.digests['1.1.0']}` }));
  });

  test('1.2.0, whose pods never become Ready, is rolled back through the real revision history and quarantined', () => {
    expect(run.images.afterRollback).toBe(run.images.afterPromote);
    expect(run.quarantine.entries ?? run.quarantine).toEqual(expect.arrayContaining([expect.objectContaining({ model: 'recsys', version: '1.2.0' })]));
    expect(run.audit).toContainEqual(expect.objectContaining({ event: 'rolled-back', from: `${run.repository}:1.2.0@${run.digests['1.2.0']}` }));
    // the Deployment controller's own history: 1.0.0, 1.2.0 (rolled back from), then 1.1.0 and 1.3.0 again or anew
    expect(run.revisions).toContain('modelpilot: rollback 1.2.0 -> 1.1.0');
  });

  test('an agent SIGKILLed mid-rollout leaves the record on the Deployment; the next agent finishes the update', () => {
    expect(run.inFlightAtKill).toBeDefined();
    expect(JSON.parse(run.inFlightAtKill!)).toMatchObject({ to: `${run.repository}:1.3.0@${run.digests['1.3.0']}` });
    expect(run.images.afterResume).toBe(`${run.repository}:1.3.0@${run.digests['1.3.0']}`);
    expect(run.audit).toContainEqual(expect.objectContaining({ event: 'recovered', to: `${run.repository}:1.3.0@${run.digests['1.3.0']}` }));
    expect(run.metrics).toMatch(/^modelpilot_updater_updates_total\{result="promoted"\} 1$/m);
  });

  test('every decision is an Event on the Deployment, and kubectl describe shows it', () => {
    // one Event per audit entry, both agents' (the SIGKILLed one and the one that finished 1.3.0)
    expect(run.events.length).toBeGreaterThanOrEqual(run.audit.length);
    for (const e of run.events) {
      expect(e.involvedObject).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'recsys', namespace: 'ml', uid: run.deploymentUid });
    }
    const reasons = run.events.map((e) => e.reason);
    for (const r of ['Planned', 'Apply', 'Verify', 'Promoted', 'RolledBack', 'Quarantined', 'Recovered']) expect(reasons).toContain(r);
    const rolledBack = run.events.find((e) => e.reason === 'RolledBack')!;
    expect(rolledBack.type).toBe('Warning');
    expect(rolledBack.message).toContain(`${run.repository}:1.2.0@${run.digests['1.2.0']} -> `);
    expect(run.events.find((e) => e.reason === 'Promoted')!.type).toBe('Normal');
    // what a person sees: the updater's decisions among the Deployment's events
    expect(run.describe).toMatch(/Warning\s+Quarantined\s+.*modelpilot-updater\s+quarantined/);
    expect(run.metrics).toMatch(/^modelpilot_updater_events_total\{result="failed"\} 0$/m);
  });

  test('the real authorizer allows exactly the calls the target makes, by name, and denies the rest', () => {
    expect(run.canI).toEqual({
      'get deployments/recsys': true, 'patch deployments/recsys': true, 'watch deployments/recsys': true, 'list replicasets': true, 'list pods': true,
      'create events': true, 'get events': false, 'delete events': false, 'list deployments': false, 'patch deployments/other': false, 'delete deployments/recsys': false, 'get secrets': false, 'create pods': false,
      'update deployments/recsys': false,
    });
    // every call the agent made was allowed (never 403), and each is in the permission list the Role is rendered from
    expect(run.calls.all.filter((c) => c.code === 403)).toEqual([]);
    const allowed = new Set(KUBERNETES_TARGET_RBAC.flatMap((p) => p.verbs.map((v) => `${v} ${p.apiGroup}/${p.resource}`)));
    const made = new Set(run.calls.all.map((c) => `${c.verb} ${c.resource}`));
    expect([...made].filter((m) => !allowed.has(m))).toEqual([]);
    // all but the rollback fallback (list replicasets, used only when the recorded pod template is missing) and the
    // Rollout and AnalysisRun reads of a canary / blue-green model (exercised by delivery.cluster.test.ts) were exercised
    expect([...allowed].filter((a) => !made.has(a)).sort()).toEqual(['get argoproj.io/analysisruns', 'get argoproj.io/rollouts', 'list apps/replicasets']);
  });
});
